"""Helpers for the Snakemake rule files (kept here so the .smk files hold rules only, and so they are tested)."""

from __future__ import annotations

import re
import shlex
import sys
from collections.abc import Iterable
from dataclasses import fields
from pathlib import Path

from ddstudy.data.build import VariantSpec
from ddstudy.data.sources import SourceOptions

# `python -m ddstudy` from the interpreter running Snakemake: works without an activated venv and on cluster nodes.
DDSTUDY = f"{shlex.quote(sys.executable)} -m ddstudy"


def names_regex(names: Iterable[str]) -> str:
    """A wildcard constraint matching exactly these names (and nothing when there are none)."""
    return "|".join(re.escape(n) for n in names) or "(?!x)x"


def build_args(spec: VariantSpec, sources: SourceOptions) -> str:
    """The `ddstudy data build` arguments that rebuild ``spec`` (every setting explicit, nothing implied)."""
    args = ["--source", spec.source, "--bias", spec.bias, "--seed", str(spec.seed)]
    if spec.bias != "none":
        args += ["--ratio", str(spec.ratio), "--severity", str(spec.severity), "--test-attrs", spec.test_attrs]
    if spec.train_per_class:
        args += ["--train-per-class", str(spec.train_per_class)]
    if spec.test_per_class:
        args += ["--test-per-class", str(spec.test_per_class)]
    args += ["--data-root", str(sources.root)]
    if sources.download:
        args.append("--download")
    if sources.fashion_mnist_dir:
        args += ["--fashion-mnist-dir", str(sources.fashion_mnist_dir)]
    return shlex.join(args)


def figure_label(path: str) -> str:
    """The report label of a figure: its file name without extension."""
    return Path(path).stem


def flags(config, names: list[str]) -> list[str]:
    """``--field-name value`` for each named field of a config dataclass (tuples comma-joined, None skipped)."""
    args: list[str] = []
    for name in names:
        value = getattr(config, name)
        if value is None:
            continue
        if isinstance(value, tuple):
            value = ",".join(f"{v:g}" if isinstance(v, float) else str(v) for v in value)
        args += [f"--{name.replace('_', '-')}", str(value)]
    return args


def zoo_train_args(entry, inits: tuple[int, ...] | None = None) -> str:
    """The `ddstudy zoo train` arguments of a grid's zoo entry (recipe explicit, so the log shows all of it);
    ``inits``: the inits of a block trained in one job (``--out`` then names one folder per init)."""
    job, config = entry.job, entry.config
    init_text = ",".join(map(str, inits)) if inits is not None else str(job.init)
    args = ["--arch", job.arch, "--init", init_text, "--seed", str(job.seed)]
    args += flags(config, ["epochs", "lr", "momentum", "weight_decay", "batch_size", "milestones", "gamma"])
    args += ["--save-epochs", ",".join(map(str, config.save_epochs)) if config.save_epochs else "all"]
    if not config.normalize:
        args.append("--no-normalize")
    return shlex.join(args)


def distill_args(config) -> str:
    """The `ddstudy distill` arguments of a cell's config (every hyper-parameter explicit)."""
    names = [
        "method",
        "ipc",
        "model",
        "iterations",
        "lr_img",
        "lr_net",
        "momentum_img",
        "batch_real",
        "batch_train",
        "init",
        "dis_metric",
        "dsa_strategy",
        "checkpoint_every",
        "seed",
    ]
    args = flags(config, names)
    if config.method in ("dc", "dsa"):
        outer, inner = config.loops
        args += ["--outer-loop", str(outer), "--inner-loop", str(inner)]
    return shlex.join(args)


def clom_args(clom) -> str:
    """The `ddstudy distill --clom-*` arguments of a CLoM config ('' without CLoM)."""
    if clom is None:
        return ""
    names = ["distance", "zoo_source", "archs", "inits", "epoch", "alphas", "batch_size", "samples_per_step", "ce_form"]
    args = [f"--clom-{flag[2:]}" if flag.startswith("--") else flag for flag in flags(clom, names)]
    if clom.renormalize:
        args.append("--clom-renormalize")
    return shlex.join(args)


def accel_args(accel) -> str:
    """The execution flags of the grid's :class:`ddstudy.accel.Accel` (zoo, distill, evaluate): ``--x``/``--no-x``
    for a switch, ``--x value`` otherwise, one per field."""
    args: list[str] = []
    for item in fields(accel):
        value = getattr(accel, item.name)
        flag = item.name.replace("_", "-")
        args += [f"--{flag}" if value else f"--no-{flag}"] if isinstance(value, bool) else [f"--{flag}", str(value)]
    return shlex.join(args)


def evaluate_args(config) -> str:
    """The `ddstudy evaluate` arguments of an evaluation config (``epochs`` left out when it is automatic)."""
    names = ["num_eval", "lr", "momentum", "weight_decay", "batch_size", "augment", "seed", "epochs"]
    return shlex.join(flags(config, names))


def zoo_blocks(study) -> dict[tuple[int, ...], list[str]]:
    """The grid's PTMs grouped for one job per block when ``vectorize`` trains a block's inits together:
    inits → the ``dataset/arch`` blocks with exactly those inits (one recipe each), in grid order."""
    blocks: dict[tuple, list[int]] = {}
    for entry in study.zoo:
        blocks.setdefault((entry.job.dataset, entry.job.arch, entry.config), []).append(entry.job.init)
    by_inits: dict[tuple[int, ...], list[str]] = {}
    for (dataset, arch, _), inits in blocks.items():
        by_inits.setdefault(tuple(inits), []).append(f"{dataset}/{arch}")
    return by_inits


def inits_rule_name(inits: tuple[int, ...]) -> str:
    """``zoo_inits_0_to_9`` for a block's inits 0..9 (any other set: the inits joined by ``_``)."""
    if inits == tuple(range(inits[0], inits[0] + len(inits))) and len(inits) > 1:
        return f"zoo_inits_{inits[0]}_to_{inits[-1]}"
    return "zoo_inits_" + "_".join(map(str, inits))


def zoo_minutes(study, dataset: str, arch: str, init) -> int:
    """Slurm time limit of one PTM training job, from its counted work (:mod:`ddstudy.cost`)."""
    from ddstudy.cost import zoo_flops

    flops = zoo_flops(study.zoo_model(dataset, arch, init), study.variant(dataset))
    return study.cost.minutes(flops, study.device_kind)


def distill_minutes(study, dataset: str, set_name: str) -> int:
    from ddstudy.cost import distill_flops

    flops = distill_flops(study.cell(dataset, set_name), study.variant(dataset))
    return study.cost.minutes(flops, study.device_kind)


def evaluate_minutes(study, dataset: str, set_name: str, arch: str) -> int:
    from ddstudy.cost import evaluate_flops

    cell = study.cell(dataset, set_name)
    flops = evaluate_flops(cell, arch, study.variant(dataset), study.eval_config(cell.config.method))
    return study.cost.minutes(flops, study.device_kind)


def job_resources(study, group: str, gpu: bool = False) -> dict:
    """Slurm requests of a rule's jobs from params ``resources`` (``**`` into a rule's ``resources:``): memory, and
    one GPU for a GPU rule unless params say ``device: cpu``; jobs without a GPU go to ``cpu_partition`` when set."""
    settings = study.resources
    chosen = {"mem_mb": settings["mem_mb"][group]}
    if gpu and study.device != "cpu":
        chosen["gpu"] = 1
    elif settings.get("cpu_partition"):
        chosen["slurm_partition"] = settings["cpu_partition"]
    return chosen
