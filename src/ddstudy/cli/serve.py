"""``ddstudy serve -- COMMAND``: run COMMAND (e.g. Snakemake) with a fork server for its ``ddstudy`` jobs."""

from __future__ import annotations

import argparse

from ddstudy.errors import DDStudyError

COMMANDS = {"serve": "run a command (snakemake …) whose ddstudy jobs fork from one server that imported torch once"}


def serve(args: argparse.Namespace) -> int:
    from ddstudy.forkserver import run_with_server

    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        raise DDStudyError("ddstudy serve needs a command to run, e.g. ddstudy serve -- snakemake --cores 2")
    return run_with_server(command)


def register(name: str, parser: argparse.ArgumentParser) -> None:
    parser.add_argument("command", nargs=argparse.REMAINDER, help="the command to run under the server, after --")
    parser.set_defaults(func=serve)
