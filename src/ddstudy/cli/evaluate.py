"""``ddstudy evaluate``: a synthetic set scored by fresh networks of one architecture (the shared protocol)."""

from __future__ import annotations

import argparse
import shutil

from ddstudy.cli.options import accel_of, add_runtime_flags, add_timing_flag, torch_device
from ddstudy.knobs import add_flags, from_args

COMMANDS = {"evaluate": "evaluate a synthetic set with fresh networks of one architecture"}


def evaluate(args: argparse.Namespace) -> int:
    from ddstudy.distill.run import load_synthetic
    from ddstudy.evaluate.protocol import EvalConfig, evaluate_synthetic, write_metrics
    from ddstudy.evaluate.record import METRICS_FILE
    from ddstudy.outputs import claim_output
    from ddstudy.timing import Segments, check_timing_path, write_timing

    config = EvalConfig(**from_args(EvalConfig, args))
    inputs = {"--synthetic": args.synthetic, "--dataset-dir": args.dataset_dir}
    timing, segments = check_timing_path(args.timing, args.out, inputs), Segments("runs")
    with claim_output(args.out, METRICS_FILE, inputs) as out:
        images, labels, meta = load_synthetic(args.synthetic, args.dataset_dir)
        finished_runs = out.parent / f".{out.name}.partial"
        record = evaluate_synthetic(
            images, labels, meta, args.dataset_dir, args.arch, config, torch_device(args), accel_of(args),
            finished_runs, segments,
        )  # fmt: skip
        write_metrics(out, record)
        shutil.rmtree(finished_runs, ignore_errors=True)
        write_timing(timing, segments, record["n_runs"])
    text = (
        f"{args.out}: {record['cell']} × {args.arch}: {100 * record['acc_mean']:.2f} ± {100 * record['acc_std']:.2f} %"
    )
    if record["acc_conflicting_mean"] is not None:
        text += f" (conflicting {100 * record['acc_conflicting_mean']:.2f} %"
        if record["acc_aligned_mean"] is not None:
            text += f", aligned {100 * record['acc_aligned_mean']:.2f} %"
        text += ")"
    print(text + f", n={record['n_runs']}")
    return 0


def register(name: str, parser: argparse.ArgumentParser) -> None:
    from ddstudy.evaluate.protocol import EvalConfig

    parser.add_argument("--synthetic", required=True, help="synthetic set folder")
    parser.add_argument("--dataset-dir", required=True, help="the dataset variant it was distilled from")
    parser.add_argument("--arch", required=True, help="evaluation architecture")
    parser.add_argument("--out", required=True, help="metrics JSON")
    add_flags(parser, EvalConfig)
    add_runtime_flags(parser)
    add_timing_flag(parser)
    parser.set_defaults(func=evaluate)
