"""``ddstudy bench [data]``: every network hot path, fast path against the oracle in one process (or the dataset
builds). Speed goals live here, never in timed tests."""

from __future__ import annotations

import argparse

from ddstudy.cli.options import leaf
from ddstudy.knobs import add_flags, bounded, from_args

COMMANDS = {"bench": "time every network hot path, fast path against the oracle (or `bench data`: dataset builds)"}


def networks(args: argparse.Namespace) -> int:
    from ddstudy import bench_baseline
    from ddstudy.bench_nets import BenchSettings, run_bench
    from ddstudy.io import write_json
    from ddstudy.outputs import check_output, claim_output

    settings = BenchSettings(**from_args(BenchSettings, args))
    baseline = bench_baseline.read_baseline(args.against) if args.against else None  # bad input before the work
    if args.write_baseline:
        check_output(
            args.write_baseline, bench_baseline.BENCH_BASELINE, {"--against": args.against}, "--write-baseline"
        )
    rows = run_bench(settings, as_json=args.json, fashion_mnist_dir=args.fashion_mnist_dir)
    if args.write_baseline:
        record = bench_baseline.baseline_record(rows, note=args.baseline_note)
        with claim_output(args.write_baseline, bench_baseline.BENCH_BASELINE, {}, "--write-baseline") as out:
            write_json(out, record)
        print(f"baseline: {len(record['paths'])} fast paths written to {out}")
    if baseline is not None:
        comparison = bench_baseline.compare(rows, baseline)
        print(bench_baseline.report(comparison, baseline, args.against))
        if any(c["slower"] for c in comparison):
            return bench_baseline.SLOWDOWN_EXIT
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
    parser.add_argument(
        "--against",
        metavar="BASELINE",
        help="compare each fast path's speed-up over the oracle with a baseline (docs/bench-baseline.json); "
        "exit 3 when one fell beyond the baseline's noise",
    )
    parser.add_argument("--write-baseline", metavar="FILE", help="record this run's speed-ups as a baseline")
    parser.add_argument("--baseline-note", default="", help="what else ran beside the baseline's run (recorded)")
    parser.set_defaults(func=networks)
    kinds = parser.add_subparsers(dest="what")
    data = leaf(kinds, "data", help="time building one 60k-sample variant of each bias kind")
    data.add_argument("--n-images", type=bounded(int, 1), default=60000)
    data.add_argument("--workers", type=bounded(int, 1), default=2)
    data.add_argument("--fashion-mnist-dir")
    data.set_defaults(func=datasets)
