"""Helpers for the Snakemake rule files (kept here so the .smk files hold rules only, and so they are tested)."""

from __future__ import annotations

import re
import shlex
import sys
from collections.abc import Iterable
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


def zoo_train_args(entry) -> str:
    """The `ddstudy zoo train` arguments of a grid's zoo entry (recipe explicit, so the log shows all of it)."""
    job, config = entry.job, entry.config
    args = [
        "--arch",
        job.arch,
        "--init",
        str(job.init),
        "--seed",
        str(job.seed),
        "--epochs",
        str(config.epochs),
        "--lr",
        str(config.lr),
        "--momentum",
        str(config.momentum),
        "--weight-decay",
        str(config.weight_decay),
        "--batch-size",
        str(config.batch_size),
        "--milestones",
        ",".join(map(str, config.milestones)),
        "--gamma",
        str(config.gamma),
        "--save-epochs",
        ",".join(map(str, config.save_epochs)) if config.save_epochs else "all",
    ]
    if not config.normalize:
        args.append("--no-normalize")
    return shlex.join(args)


def distill_args(config) -> str:
    """The `ddstudy distill` arguments of a cell's config (every hyper-parameter explicit)."""
    outer, inner = config.loops if config.method in ("dc", "dsa") else (config.outer_loop, config.inner_loop)
    args = [
        "--method",
        config.method,
        "--ipc",
        str(config.ipc),
        "--model",
        config.model,
        "--iterations",
        str(config.iterations),
        "--lr-img",
        str(config.lr_img),
        "--lr-net",
        str(config.lr_net),
        "--momentum-img",
        str(config.momentum_img),
        "--batch-real",
        str(config.batch_real),
        "--batch-train",
        str(config.batch_train),
        "--init",
        config.init,
        "--dis-metric",
        config.dis_metric,
        "--dsa-strategy",
        config.dsa_strategy,
        "--checkpoint-every",
        str(config.checkpoint_every),
        "--seed",
        str(config.seed),
    ]
    if outer is not None and inner is not None:
        args += ["--outer-loop", str(outer), "--inner-loop", str(inner)]
    return shlex.join(args)


def clom_args(clom) -> str:
    """The `ddstudy distill --clom-*` arguments of a CLoM config ('' without CLoM)."""
    if clom is None:
        return ""
    args = [
        "--clom-distance",
        clom.distance,
        "--clom-zoo-source",
        clom.zoo_source,
        "--clom-archs",
        ",".join(clom.archs),
        "--clom-inits",
        str(clom.inits),
        "--clom-epoch",
        str(clom.epoch),
        "--clom-alphas",
        ",".join(f"{a:g}" for a in clom.alphas),
        "--clom-batch-size",
        str(clom.batch_size),
        "--clom-samples-per-step",
        str(clom.samples_per_step),
        "--clom-ce-form",
        clom.ce_form,
    ]
    if clom.renormalize:
        args.append("--clom-renormalize")
    return shlex.join(args)


def evaluate_args(config) -> str:
    """The `ddstudy evaluate` arguments of an evaluation config (resolved per method by the caller or not)."""
    args = [
        "--num-eval",
        str(config.num_eval),
        "--lr",
        str(config.lr),
        "--momentum",
        str(config.momentum),
        "--weight-decay",
        str(config.weight_decay),
        "--batch-size",
        str(config.batch_size),
        "--augment",
        config.augment,
        "--seed",
        str(config.seed),
    ]
    if config.epochs is not None:
        args += ["--epochs", str(config.epochs)]
    return shlex.join(args)
