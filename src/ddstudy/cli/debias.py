"""``ddstudy debias weights``: the KDE sample weights of a biased training set (``debias: kde``)."""

from __future__ import annotations

import argparse
from pathlib import Path

from ddstudy.cli.options import actions, add_runtime_flags, add_timing_flag, leaf, torch_device
from ddstudy.knobs import add_flags, from_args

COMMANDS = {"debias": "bias mitigation artifacts"}


def weights(args: argparse.Namespace) -> int:
    from ddstudy.debias import KdeConfig
    from ddstudy.timing import Segments, check_timing_path, write_timing
    from ddstudy.zoo.kde import compute_kde_weights

    config = KdeConfig(**from_args(KdeConfig, args, prefix="kde-"))
    out = Path(args.out).with_suffix(".npz")
    inputs = {"--dataset-dir": args.dataset_dir, "--zoo-root": args.zoo_root}
    timing = check_timing_path(args.timing, [out, out.with_suffix(".json")], inputs)
    segments = Segments("weights files")
    record = compute_kde_weights(args.dataset_dir, args.zoo_root, config, out, torch_device(args))
    write_timing(timing, segments, 1)
    print(
        f"{out}: KDE weights of {record['dataset']} ({config.slug()}); mean weight aligned "
        f"{record['mean_weight_aligned']}, conflicting {record['mean_weight_conflicting']}"
    )
    return 0


def register(name: str, parser: argparse.ArgumentParser) -> None:
    from ddstudy.debias import KdeConfig

    kde = leaf(actions(parser), "weights", help="KDE sample weights of a variant's training set (debias kde)")
    kde.add_argument("--dataset-dir", required=True, help="the biased dataset variant")
    kde.add_argument("--zoo-root", default="zoo", help="where its embedding PTM is (default zoo)")
    kde.add_argument("--out", required=True, help="weights file (.npz; a .json with its record beside it)")
    add_flags(kde, KdeConfig, prefix="kde-")
    add_runtime_flags(kde, accel=False)
    add_timing_flag(kde)
    kde.set_defaults(func=weights)
