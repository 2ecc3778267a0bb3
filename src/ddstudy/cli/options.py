"""What several sub-commands share: the parser class, ``--log-level``, ``--params``/``--grid``, the runtime flags
(device, threads, accel), the raw-data source flags and the table writer. Imports nothing heavy at the top: the
parser of one sub-command is built without importing torch or pandas."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ddstudy.knobs import add_flags, from_args

LOG_LEVELS = ["DEBUG", "INFO", "WARNING", "ERROR"]


class Parser(argparse.ArgumentParser):
    """Bad flags are one line naming the problem (exit 2), like every other bad input; ``-h`` shows the usage."""

    def error(self, message: str):
        self.exit(2, f"ddstudy: error: {self.prog.removeprefix('ddstudy ')}: {message}\n")


def log_level_parent() -> Parser:
    """``--log-level`` after a sub-command too, without overriding the top-level default."""
    common = Parser(add_help=False)
    common.add_argument(
        "--log-level", default=argparse.SUPPRESS, choices=LOG_LEVELS, help="logging level (default INFO)"
    )
    return common


def actions(parser: argparse.ArgumentParser, title: str = "action") -> argparse._SubParsersAction:
    """The sub-commands of a command group (``ddstudy data build``, ``ddstudy report all``, ...)."""
    return parser.add_subparsers(dest=title, required=True)


def leaf(group: argparse._SubParsersAction, name: str, **kwargs) -> argparse.ArgumentParser:
    return group.add_parser(name, parents=[log_level_parent()], **kwargs)


def with_params(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    parser.add_argument("--params", default="params.yaml", help="params file (default params.yaml)")
    parser.add_argument("--grid", help="grid to use instead of params' `grid`")
    return parser


def add_runtime_flags(parser: argparse.ArgumentParser, accel: bool = True) -> None:
    """``--device``/``--threads`` (and the accel flags) of every training command, defined once (device.Runtime,
    accel.Accel)."""
    from ddstudy.accel import Accel
    from ddstudy.device import Runtime

    add_flags(parser, Runtime)
    if accel:
        add_flags(parser, Accel)


def add_timing_flag(parser: argparse.ArgumentParser) -> None:
    """``--timing`` of the workflow's long jobs (distill, evaluate, zoo train, debias weights): see ddstudy.timing."""
    parser.add_argument(
        "--timing",
        help="also write the job's wall and CPU time, summed over every segment it ran in (a resumed job's earlier "
        "ones too), to this JSON; kept outside the artifact so its bytes stay the same for the same seed",
    )


def torch_device(args: argparse.Namespace):
    """Apply ``--threads`` and resolve ``--device`` (auto: CUDA when present) for a training command."""
    from ddstudy.device import Runtime

    return Runtime(**from_args(Runtime, args)).apply()


def accel_of(args: argparse.Namespace):
    from ddstudy.accel import Accel

    return Accel(**from_args(Accel, args))


def add_source_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data-root", default="data/raw", help="torchvision root for mnist/cifar10 (default data/raw)")
    parser.add_argument("--download", action="store_true", help="let torchvision download mnist/cifar10 (internet)")
    parser.add_argument("--fashion-mnist-dir", help="folder with the Fashion-MNIST idx .gz files")
    parser.add_argument(
        "--mnist-dir",
        help="folder with MNIST's four idx files (default $DDSTUDY_MNIST_DIR, else <data-root>/MNIST/raw)",
    )


def source_options(args: argparse.Namespace):
    from ddstudy.data.sources import SourceOptions

    return SourceOptions(
        root=Path(args.data_root),
        download=args.download,
        fashion_mnist_dir=Path(args.fashion_mnist_dir) if args.fashion_mnist_dir else None,
        mnist_dir=Path(args.mnist_dir) if getattr(args, "mnist_dir", None) else None,
    )


def write_table(frame, out: str, name: str, inputs: dict, flag: str = "--out") -> Path:
    """Write a report table to ``out``: new, or a ddstudy table of the same kind (its leading columns), never an
    input; claimed (and locked) before writing."""
    from ddstudy.io import write_csv
    from ddstudy.outputs import claim_output, table_kind

    with claim_output(out, table_kind(name, frame.columns), inputs, flag) as path:
        return write_csv(frame, path)


def warn(problems) -> None:
    for problem in problems:
        print(f"ddstudy: warning: {problem}", file=sys.stderr)


def report_removed(paths) -> None:
    for path in paths:
        print(f"removed stale {path}", file=sys.stderr)
