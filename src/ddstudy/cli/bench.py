"""``ddstudy bench [data]``: every network hot path, fast path against the oracle in one process (or the dataset
builds). Speed goals live here, never in timed tests."""

from __future__ import annotations

import argparse

from ddstudy.cli.options import leaf
from ddstudy.knobs import add_flags, bounded, from_args

COMMANDS = {"bench": "time every network hot path, fast path against the oracle (or `bench data`: dataset builds)"}


def networks(args: argparse.Namespace) -> int:
    from ddstudy.bench_nets import BenchSettings, run_bench

    settings = BenchSettings(**from_args(BenchSettings, args))
    run_bench(settings, as_json=args.json, fashion_mnist_dir=args.fashion_mnist_dir)
    return 0


def datasets(args: argparse.Namespace) -> int:
    from ddstudy.bench_data import run_data_bench

    run_data_bench(n_images=args.n_images, workers=args.workers, fashion_mnist_dir=args.fashion_mnist_dir)
    return 0


def register(name: str, parser: argparse.ArgumentParser) -> None:
    from ddstudy.bench_nets import BenchSettings

    parser.description = "Network cases (see ddstudy.bench_nets): the oracle and each fast path in one process."
    add_flags(parser, BenchSettings)
    parser.add_argument("--json", action="store_true", help="one JSON object per line instead of the table")
    parser.add_argument("--fashion-mnist-dir", help="folder with the Fashion-MNIST idx .gz files")
    parser.set_defaults(func=networks)
    kinds = parser.add_subparsers(dest="what")
    data = leaf(kinds, "data", help="time building one 60k-sample variant of each bias kind")
    data.add_argument("--n-images", type=bounded(int, 1), default=60000)
    data.add_argument("--workers", type=bounded(int, 1), default=2)
    data.add_argument("--fashion-mnist-dir")
    data.set_defaults(func=datasets)
