"""The ``ddstudy`` command line: parse, call a library function, map errors to one line and an exit code.

One module per stage (``params``, ``data``, ``zoo``, ``distill``, ``debias``, ``evaluate``, ``report``,
``bench``), each holding its sub-commands' handlers and registering their flags beside them (``COMMANDS``: name →
help; ``register(name, parser)``). Only the sub-command being run is registered in full, so the parser never
imports what other stages need: ``ddstudy --version`` and ``ddstudy -h`` import no torch, ``ddstudy data build``
no torch either.

Exit codes: 0 ok, 2 bad input or missing data (a :class:`DDStudyError`, printed as one line), 130 interrupted.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from types import ModuleType

from ddstudy import forkserver, malloc
from ddstudy.cli.options import LOG_LEVELS, Parser, log_level_parent
from ddstudy.errors import DDStudyError

STAGES = ("params", "data", "zoo", "distill", "debias", "evaluate", "report", "bench", "serve")  # ``ddstudy -h`` order


def _stage(name: str) -> ModuleType:
    return importlib.import_module(f"ddstudy.cli.{name}")


def commands() -> dict[str, ModuleType]:
    """Top-level command → the stage module that defines it."""
    return {command: module for module in map(_stage, STAGES) for command in module.COMMANDS}


def _command_in(argv: list[str]) -> str | None:
    """The top-level command of ``argv`` (its first word that is neither an option nor an option's value)."""
    words = iter(argv)
    for word in words:
        if word == "--log-level":
            next(words, None)
        elif not word.startswith("-"):
            return word
    return None


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The whole parser, or with ``only`` one command in full and the others as names with their help."""
    import ddstudy

    parser = Parser(prog="ddstudy", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"%(prog)s {ddstudy.__version__}")
    parser.add_argument("--log-level", default="INFO", choices=LOG_LEVELS)
    group = parser.add_subparsers(dest="command", required=True)
    for command, module in commands().items():
        sub = group.add_parser(command, parents=[log_level_parent()], help=module.COMMANDS[command])
        if only is None or only == command:
            module.register(command, sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    if argv is None and os.environ.get(forkserver.ENV):  # the command line under ``ddstudy serve``
        code = forkserver.run_via_server(sys.argv[1:])
        if code is not None:
            return code
    if argv is None:  # the console script: glibc's allocator tuned before any batch (ddstudy.malloc)
        malloc.reexec_tuned(sys.argv[1:])
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser(_command_in(argv) or "")
    try:
        args = parser.parse_args(argv)
    except SystemExit as stop:  # a bad flag (one line already printed), --help or --version: the exit code
        return stop.code if isinstance(stop.code, int) else 2
    logging.basicConfig(
        level=getattr(logging, args.log_level),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        code = args.func(args)
        sys.stdout.flush()  # a closed pipe shows here, inside the handler below, not at interpreter exit
        return code
    except DDStudyError as err:
        print(f"ddstudy: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("ddstudy: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader went away (`ddstudy data list | head`): stop quietly with the status a shell expects of a
        # program ended by SIGPIPE (128 + 13), and keep Python from complaining about stdout at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
