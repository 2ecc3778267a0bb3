"""``ddstudy params check|schema|args`` and ``ddstudy plan``: the grid in params.yaml, its schema and its cost."""

from __future__ import annotations

import argparse
import sys

from ddstudy.cli.options import actions, leaf, with_params
from ddstudy.errors import DDStudyError

COMMANDS = {
    "params": "check params.yaml; write the schema Snakemake validates it with; print a grid job's settings",
    "plan": "jobs, FLOPs and estimated device-hours of the grid per stage",
}


def check(args: argparse.Namespace) -> int:
    from ddstudy.study import load_study

    study = load_study(args.params, args.grid)
    print(
        f"{args.params}: valid; grid '{study.grid}' has {len(study.variants)} dataset variants "
        f"({len(study.biased)} biased, {len(study.clean)} clean)"
    )
    return 0


def schema(args: argparse.Namespace) -> int:
    from ddstudy.io import atomic_file
    from ddstudy.study.schema import SCHEMA_HEADER, SCHEMA_PATH, schema_text

    text = schema_text()
    if not args.write:
        sys.stdout.write(text)
        return 0
    if SCHEMA_PATH.is_file() and SCHEMA_PATH.read_text() == text:
        print(f"{SCHEMA_PATH}: up to date")
        return 0
    if not SCHEMA_PATH.parent.is_dir():
        raise DDStudyError(f"{SCHEMA_PATH.parent}: not found; run from the repository root")
    if SCHEMA_PATH.is_file() and not SCHEMA_PATH.read_text().startswith(SCHEMA_HEADER.splitlines()[0]):
        raise DDStudyError(f"{SCHEMA_PATH}: not a schema ddstudy generated; move it away, then run this again")
    with atomic_file(SCHEMA_PATH, "w") as handle:
        handle.write(text)
    print(f"{SCHEMA_PATH}: written")
    return 0


def job_args(args: argparse.Namespace) -> int:
    from ddstudy.study import load_study
    from ddstudy.workflow import job_settings

    print(job_settings(load_study(args.params, args.grid), args.job, args.cell))
    return 0


def plan(args: argparse.Namespace) -> int:
    from ddstudy.cost import plan as plan_rows
    from ddstudy.study import load_study

    study = load_study(args.params, args.grid)
    kind = args.device_kind or study.device_kind
    rows = plan_rows(study, study.cost, kind)
    rate = study.cost.gflops(kind)
    print(f"grid '{study.grid}' on {kind} ({rate:g} GFLOP/s per job, {study.cost.startup_s:g} s start-up per job):")
    print(f"{'stage':10s} {'jobs':>6s} {'PFLOP':>10s} {'compute h':>10s} {'device h':>10s} {'longest limit':>14s}")
    for row in rows:
        print(
            f"{row['stage']:10s} {row['jobs']:6d} {row['pflop']:10.3f} {row['compute_hours']:10.2f} "
            f"{row['device_hours']:10.2f} {row['max_limit_min']:11d} min"
        )
    total = sum(r["device_hours"] for r in rows)
    print(
        f"{'total':10s} {sum(r['jobs'] for r in rows):6d} {sum(r['pflop'] for r in rows):10.3f} {'':10s} {total:10.1f}"
    )
    return 0


def register(name: str, parser: argparse.ArgumentParser) -> None:
    if name == "plan":
        with_params(parser)
        parser.add_argument(
            "--device-kind", choices=["cpu", "cuda"], help="default: cpu if params say device: cpu, else cuda"
        )
        parser.set_defaults(func=plan)
        return
    params = actions(parser)
    with_params(leaf(params, "check", help="validate params.yaml")).set_defaults(func=check)
    write = leaf(
        params, "schema", help="the full params schema (registries filled in); --write updates workflow/schemas"
    )
    write.add_argument("--write", action="store_true", help="write workflow/schemas/params.schema.yaml (Snakemake's)")
    write.set_defaults(func=schema)
    job = with_params(
        leaf(params, "args", help="the settings the grid's distill or evaluate job of a cell runs with (for scripts)")
    )
    job.add_argument("job", choices=["distill", "evaluate"], help="which job of the cell")
    job.add_argument("--cell", required=True, help="<dataset>/<set>, e.g. fashion-mnist-clean/dc_ipc1")
    job.set_defaults(func=job_args)
