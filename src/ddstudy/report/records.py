"""The one loader of metrics records for every table and figure: each record read once, validated by
:func:`ddstudy.evaluate.record.read_metrics`, under one error policy — a missing or malformed file is one problem
line naming it, left out of every table, never a crash; a report with no record at all is refused
(:func:`refuse_empty`).

A record carries what the tables group by (dataset, method, IPC, evaluation architecture, the distillation config
with its debias mode, the CLoM setting in ``extra``); the loader adds ``set_name`` — the study's name of the set,
``<method>_ipc<ipc>[_<debias>][_<clom slug>]`` — so no table rebuilds or parses it.
"""

from __future__ import annotations

from pathlib import Path

from ddstudy.errors import DDStudyError
from ddstudy.evaluate.record import read_metrics


def metrics_path(metrics_dir: str | Path, cell_name: str, arch: str) -> Path:
    return Path(metrics_dir) / cell_name / f"{arch}.json"


def metrics_paths(study, metrics_dir: str | Path) -> list[Path]:
    return [metrics_path(metrics_dir, cell, arch) for cell, arch in study.evaluations]


def debias_of(record: dict) -> str:
    """The bias-mitigation mode a metrics record's set was distilled with (``none`` for sets without one)."""
    return (record.get("distill_config") or {}).get("debias") or "none"


def clom_of(record: dict) -> dict | None:
    """The CLoM setting (a ClomConfig as a dict) a record's set was distilled with, None without CLoM."""
    return (record.get("extra") or {}).get("clom")


def read_records(paths: list[Path], set_names: list[str] | None = None) -> tuple[list[dict], list[str]]:
    """(records, problems): every readable record of ``paths`` with its ``set_name`` (the study's, when given; else
    the record's cell without its dataset, the form :func:`ddstudy.distill.run.cell_name` writes)."""
    records, problems = [], []
    for index, path in enumerate(paths):
        try:
            record = read_metrics(path)
        except DDStudyError as err:
            problems.append(str(err))
            continue
        prefix = f"{record['dataset']}/"
        if set_names is not None:
            set_name = set_names[index]
        elif record["cell"].startswith(prefix):
            set_name = record["cell"][len(prefix) :]
        else:
            problems.append(f"{path}: its cell {record['cell']!r} is not of its dataset {record['dataset']!r}")
            continue
        records.append(record | {"set_name": set_name})
    return records, problems


def study_records(study, metrics_dir: str | Path) -> tuple[list[dict], list[str]]:
    """Every evaluation record of the study, in its order, read once."""
    cells = {cell.name: cell for cell in study.cells}
    set_names = [cells[name].set_name for name, _ in study.evaluations]
    return read_records(metrics_paths(study, metrics_dir), set_names)


def refuse_empty(empty: bool, problems: list, study, metrics_dir) -> None:
    """A report with no row at all is a failed run, not a result: one line (not a warning per cell), before any
    table is written."""
    if empty:
        raise DDStudyError(
            f"no metrics of grid '{study.grid}' under {metrics_dir}/ ({len(problems)} missing or unreadable); "
            "run the evaluations first (snakemake evaluations)"
        )
