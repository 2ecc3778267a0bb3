"""``ddstudy report bias|ptm|compare|draws|all|progress|captions``: tables, figures and the results index from the
metrics records; where a grid's run stands."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from ddstudy.cli.options import actions, leaf, warn, with_params, write_table
from ddstudy.errors import DDStudyError
from ddstudy.knobs import bounded

COMMANDS = {"report": "aggregate results"}


def bias(args: argparse.Namespace) -> int:
    from ddstudy.report.bias_table import bias_table
    from ddstudy.report.records import refuse_empty, study_records
    from ddstudy.study import load_study

    study = load_study(args.params, args.grid)
    records, problems = study_records(study, args.metrics_dir)
    frame = bias_table(records)
    refuse_empty(frame.empty, problems, study, args.metrics_dir)
    warn(problems)
    print(write_table(frame, args.out, "bias", {"--metrics-dir": args.metrics_dir}))
    return 0


def ptm(args: argparse.Namespace) -> int:
    from ddstudy.outputs import check_output, table_kind
    from ddstudy.report.ptm import ptm_tables
    from ddstudy.report.records import refuse_empty, study_records
    from ddstudy.study import load_study

    study = load_study(args.params, args.grid)
    records, problems = study_records(study, args.metrics_dir)
    frame, cross = ptm_tables(records)
    refuse_empty(frame.empty, problems, study, args.metrics_dir)
    warn(problems)
    inputs = {"--metrics-dir": args.metrics_dir}
    check_output(args.cross_arch, table_kind("cross-architecture", cross.columns), inputs, "--cross-arch")
    print(write_table(frame, args.out, "PTM study", inputs))
    print(write_table(cross, args.cross_arch, "cross-architecture", inputs, "--cross-arch"))
    return 0


def compare(args: argparse.Namespace) -> int:
    from ddstudy.report.compare import compare_runs, summary

    frame = compare_runs(args.metrics_a, args.metrics_b)
    if args.out:
        print(write_table(frame, args.out, "comparison", {"metrics_a": args.metrics_a, "metrics_b": args.metrics_b}))
    print(summary(frame))
    return 0


def draws(args: argparse.Namespace) -> int:
    from ddstudy.outputs import check_output, claim_output
    from ddstudy.report.draws import SUMMARY, draw_table, draws_markdown, parse_published
    from ddstudy.report.tables import write_text

    published = parse_published(args.published)
    if args.grid:  # the grid's published values (params `grids.<grid>.published`), by cell
        from ddstudy.study import load_study

        grid = load_study(args.params, args.grid).published
        published = {entry.cell: entry.value for entry in grid if entry.value is not None} | published
    inputs = {f"record {i + 1}": record for i, record in enumerate(args.records)}
    markdown_out = args.markdown or str(Path(args.out).with_suffix(".md"))
    check_output(markdown_out, SUMMARY, inputs, "--markdown")
    frame, problems = draw_table(args.records, args.datasets_dir, args.synthetic_dir)
    warn(problems)
    print(write_table(frame, args.out, "random draws", inputs))
    with claim_output(markdown_out, SUMMARY, inputs, "--markdown") as path:
        print(write_text(path, draws_markdown(frame, published)))
    return 0


def everything(args: argparse.Namespace) -> int:
    from ddstudy.outputs import claim_output
    from ddstudy.report.study import RESULTS_FOLDER, write_report
    from ddstudy.study import load_study

    study = load_study(args.params, args.grid)
    inputs = {"--metrics-dir": args.metrics_dir, "--synthetic-dir": args.synthetic_dir}
    with claim_output(args.results, RESULTS_FOLDER, inputs, "--results"):
        written, problems = write_report(study, args.results, args.metrics_dir, args.synthetic_dir)
    warn(problems)
    print(f"{len(written)} files written under {args.results} (index: {args.results}/README.md)")
    return 0


def progress(args: argparse.Namespace) -> int:
    from ddstudy.report.progress import progress_markdown, progress_rows
    from ddstudy.study import load_study

    study = load_study(args.params, args.grid)
    rows = progress_rows(study)
    if args.json:  # one object per evaluation: its state, times so far and CPU-seconds left (scripts, dashboards)
        for row in rows:
            print(json.dumps(row))
        return 0
    print(progress_markdown(study, rows, args.cores), end="")
    return 0


def captions(args: argparse.Namespace) -> int:
    from ddstudy.io import atomic_file
    from ddstudy.report.catalog import CAPTION_HEADER, CAPTIONS_DIR
    from ddstudy.report.catalog import captions as caption_texts

    texts = caption_texts()
    if not args.write:
        for name, text in texts.items():
            sys.stdout.write(f"--- {CAPTIONS_DIR / name}.rst\n{text}")
        return 0
    if not CAPTIONS_DIR.parent.is_dir():
        raise DDStudyError(f"{CAPTIONS_DIR.parent}: not found; run from the repository root")
    CAPTIONS_DIR.mkdir(exist_ok=True)
    for name, text in texts.items():
        path = CAPTIONS_DIR / f"{name}.rst"
        if path.is_file() and path.read_text() == text:
            continue
        if path.is_file() and not path.read_text().startswith(CAPTION_HEADER):
            raise DDStudyError(f"{path}: not a caption ddstudy generated; move it away, then run this again")
        with atomic_file(path, "w") as handle:
            handle.write(text)
        print(f"{path}: written")
    return 0


def register(name: str, parser: argparse.ArgumentParser) -> None:
    report = actions(parser)

    def from_records(name: str, help: str) -> argparse.ArgumentParser:
        """A sub-command that reads the grid's evaluation records."""
        command = with_params(leaf(report, name, help=help))
        command.add_argument("--metrics-dir", default="metrics", help="the evaluation records (default metrics)")
        return command

    by_bias = from_records("bias", "results/tables/bias_study.csv from the metrics JSONs")
    by_bias.add_argument("--out", default="results/tables/bias_study.csv")
    by_bias.set_defaults(func=bias)
    by_ptm = from_records("ptm", "results/tables/ptm_study.csv and the cross-arch table")
    by_ptm.add_argument("--out", default="results/tables/ptm_study.csv")
    by_ptm.add_argument("--cross-arch", default="results/tables/ptm_cross_arch.csv")
    by_ptm.set_defaults(func=ptm)
    compared = leaf(report, "compare", help="two runs' metrics side by side (e.g. bf16 against fp32)")
    compared.add_argument("metrics_a", help="metrics folder of run A (the reference)")
    compared.add_argument("metrics_b", help="metrics folder of run B")
    compared.add_argument("--out", help="CSV with every cell (optional)")
    compared.set_defaults(func=compare)
    drawn = with_params(
        leaf(report, "draws", help="the spread between random draws (workflow/scripts/random-draws.sh)")
    )
    drawn.add_argument("records", nargs="+", help="evaluation records (JSON) of the draws")
    drawn.add_argument("--out", required=True, help="CSV with one row per draw")
    drawn.add_argument("--markdown", help="Markdown summary (default: --out with .md)")
    drawn.add_argument("--datasets-dir", help="the dataset variants: count each draw's bias-conflicting images")
    drawn.add_argument("--synthetic-dir", help="where sets without a folder beside their record live (<dir>/<cell>)")
    drawn.add_argument(
        "--published",
        nargs="*",
        default=[],
        metavar="DATASET=PERCENT",
        help="a published value per dataset or cell, placed among the draws (with --grid: also the grid's own)",
    )
    drawn.set_defaults(func=draws)
    whole = from_records("all", "every table, figure, metrics/ and README index")
    whole.add_argument("--results", default="results")
    whole.add_argument("--synthetic-dir", default="synthetic")
    whole.set_defaults(func=everything)
    progressed = with_params(
        leaf(report, "progress", help="where each cell's distillation and evaluation stand (resume states included)")
    )
    progressed.add_argument("--json", action="store_true", help="one JSON object per evaluation instead of the table")
    progressed.add_argument(
        "--cores",
        type=bounded(int, 1),
        default=os.cpu_count() or 1,
        help="single-thread jobs run side by side, for the wall left at best (default: this machine's cores)",
    )
    progressed.set_defaults(func=progress)
    captioned = leaf(report, "captions", help="the captions of `snakemake --report` (--write: workflow/report/)")
    captioned.add_argument("--write", action="store_true", help="write workflow/report/<section>.rst")
    captioned.set_defaults(func=captions)
