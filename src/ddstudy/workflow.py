"""Helpers for the Snakemake rule files (kept here so the .smk files hold rules only, and so they are tested)."""

from __future__ import annotations

import os
import re
import shlex
import sys
from collections.abc import Iterable
from pathlib import Path

from ddstudy.data.build import VariantSpec
from ddstudy.data.sources import SourceOptions
from ddstudy.errors import DDStudyError
from ddstudy.knobs import to_args

# `python -m ddstudy` from the interpreter running Snakemake: works without an activated venv and on cluster nodes.
DDSTUDY = f"{shlex.quote(sys.executable)} -m ddstudy"


def names_regex(names: Iterable[str]) -> str:
    """A wildcard constraint matching exactly these names (and nothing when there are none)."""
    return "|".join(re.escape(n) for n in names) or "(?!x)x"


def build_args(spec: VariantSpec, sources: SourceOptions) -> str:
    """The `ddstudy data build` arguments that rebuild ``spec`` (every setting explicit, nothing implied)."""
    args = to_args(spec) + ["--data-root", str(sources.root)]
    if sources.download:
        args.append("--download")
    if sources.fashion_mnist_dir:
        args += ["--fashion-mnist-dir", str(sources.fashion_mnist_dir)]
    if sources.mnist_dir:
        args += ["--mnist-dir", str(sources.mnist_dir)]
    return shlex.join(args)


def figure_label(path: str) -> str:
    """The report label of a figure: its file name without extension."""
    return Path(path).stem


def zoo_train_args(entry, inits: tuple[int, ...] | None = None) -> str:
    """The `ddstudy zoo train` arguments of a grid's zoo entry (recipe explicit, so the log shows all of it);
    ``inits``: the inits of a block trained in one job (``--out`` then names one folder per init)."""
    job = entry.job
    init_text = ",".join(map(str, inits)) if inits is not None else str(job.init)
    args = ["--arch", job.arch, "--init", init_text, "--seed", str(job.seed)]
    return shlex.join(args + to_args(entry.config))


def distill_args(config) -> str:
    """The `ddstudy distill` arguments of a cell's method config (every one of its settings explicit)."""
    return shlex.join(["--method", config.method, *to_args(config)])


def clom_args(clom) -> str:
    """The `ddstudy distill --clom-*` arguments of a CLoM config ('' without CLoM)."""
    return shlex.join(to_args(clom, prefix="clom-")) if clom is not None else ""


def accel_args(accel) -> str:
    """The execution flags of the grid's :class:`ddstudy.accel.Accel` (zoo, distill, evaluate)."""
    return shlex.join(to_args(accel))


def evaluate_args(config) -> str:
    """The `ddstudy evaluate` arguments of an evaluation config (unset epochs / lr: the method's rule)."""
    return shlex.join(to_args(config))


def job_settings(study, job: str, cell_name: str) -> str:
    """The settings the grid's ``distill`` (or ``select``) or ``evaluate`` job of one cell (``<dataset>/<set>``)
    runs with, as its rule passes them: the method's (and CLoM's) or the evaluation's settings, the grid's device
    and execution flags. ``ddstudy params args`` prints them for scripts that rerun a cell with one knob changed (a
    later flag wins), so that no script types a protocol the grid already defines."""
    dataset, _, set_name = cell_name.partition("/")
    cell = study.cell(dataset, set_name)
    if job == "distill":
        parts = [distill_args(cell.config), clom_args(cell.clom)]
    elif job == "evaluate":
        parts = [evaluate_args(study.cell_eval_config(cell))]
    else:
        raise DDStudyError(f"no '{job}' job: choose distill or evaluate")
    return " ".join(part for part in [*parts, f"--device {study.device}", accel_args(study.accel)] if part)


def zoo_blocks(study) -> dict[tuple[int, ...], list[str]]:
    """The grid's PTMs grouped for one job per block when ``vectorize`` trains a block's inits together:
    inits → the ``dataset/arch[/debias-<mode>]`` blocks with exactly those inits (one recipe each), in grid order."""
    blocks: dict[tuple, list[int]] = {}
    for entry in study.zoo:
        blocks.setdefault((entry.block, entry.config), []).append(entry.job.init)
    by_inits: dict[tuple[int, ...], list[str]] = {}
    for (block, _), inits in blocks.items():
        by_inits.setdefault(tuple(inits), []).append(block)
    return by_inits


def folder_of(paths: Iterable[str], depth: int) -> str:
    """The top ``depth`` folders the ``paths`` share (the metrics folder of a table rule's inputs), from the inputs
    themselves so that a rule's parameter follows where its inputs are."""
    common = os.path.commonpath([os.path.dirname(p) for p in paths]) if paths else ""
    return os.sep.join(common.split(os.sep)[:depth])


def inits_rule_name(inits: tuple[int, ...]) -> str:
    """``zoo_inits_0_to_9`` for a block's inits 0..9 (any other set: the inits joined by ``_``)."""
    if inits == tuple(range(inits[0], inits[0] + len(inits))) and len(inits) > 1:
        return f"zoo_inits_{inits[0]}_to_{inits[-1]}"
    return "zoo_inits_" + "_".join(map(str, inits))


def zoo_minutes(study, block: str, init) -> int:
    """Slurm time limit of one PTM training job (``block``/init), from its counted work (:mod:`ddstudy.cost`)."""
    from ddstudy.cost import zoo_flops

    entry = study.zoo_at(block, init)
    flops = zoo_flops(entry, study.variant(entry.job.dataset))
    return study.cost.minutes(flops, study.device_kind)


def distill_minutes(study, dataset: str, set_name: str) -> int:
    from ddstudy.cost import distill_flops

    flops = distill_flops(study.cell(dataset, set_name), study.variant(dataset))
    return study.cost.minutes(flops, study.device_kind)


def evaluate_minutes(study, dataset: str, set_name: str, arch: str) -> int:
    from ddstudy.cost import evaluate_flops

    cell = study.cell(dataset, set_name)
    flops = evaluate_flops(cell, arch, study.variant(dataset), study.cell_eval_config(cell))
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


def kde_args(study, dataset: str, name: str) -> str:
    """The `ddstudy debias weights` arguments of the KDE weights ``name`` of ``dataset``."""
    return shlex.join(to_args(study.kde_config(f"{dataset}/{name}"), prefix="kde-"))


def kde_ptm_dir(study, zoo_root: str, dataset: str, name: str) -> str:
    """The zoo folder of the PTM whose embedding the KDE weights use (the dataset's own zoo)."""
    from ddstudy.zoo.store import init_dir

    kde = study.kde_config(f"{dataset}/{name}")
    return str(init_dir(zoo_root, dataset, kde.arch, kde.init))


def weights_inputs(study, weights_dir: str, dataset: str, set_name: str) -> list[str]:
    """The KDE weights file a distillation reads ([] unless its config says ``debias: kde``)."""
    cell = study.cell(dataset, set_name)
    return [f"{weights_dir}/{cell.weights_name}.npz"] if cell.weights_name else []


def zoo_weights_inputs(study, weights_dir: str, block: str, inits) -> list[str]:
    """The KDE weights file a zoo job trains with ([] unless its recipe says ``debias: kde``)."""
    names = {study.zoo_at(block, init).weights_name for init in inits} - {None}
    return [f"{weights_dir}/{name}.npz" for name in sorted(names)]


def in_report(section: str) -> dict:
    """``report(...)`` options of an output shown in ``section`` of `snakemake --report`: the category and its
    caption (generated from :mod:`ddstudy.report.catalog` into workflow/report/ by `ddstudy report captions --write`;
    the path is relative to the rule files)."""
    from ddstudy.report.catalog import section_slug

    return {"category": section, "caption": f"../report/{section_slug(section)}.rst"}
