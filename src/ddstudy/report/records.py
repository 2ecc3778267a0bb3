"""The one loader of metrics records for every table and figure: each record read once, validated by
:func:`ddstudy.evaluate.record.read_metrics`, under one error policy — a missing or malformed file is one problem
line naming it, left out of every table, never a crash; a report with no record at all is refused
(:func:`refuse_empty`).

A record carries what the tables group by (dataset, method, IPC, evaluation architecture, the distillation config
with its debias mode, the CLoM setting in ``extra``); the loader adds ``set_name`` — the study's name of the set,
``<method>_ipc<ipc>[_<debias>][_<clom slug>]`` — so no table rebuilds or parses it.
"""

from __future__ import annotations

import csv
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from ddstudy.debias import KdeConfig
from ddstudy.errors import DDStudyError
from ddstudy.evaluate.record import read_metrics
from ddstudy.outputs import json_object
from ddstudy.timing import read_timing, timing_file
from ddstudy.zoo.store import zoo_job_inits, zoo_job_name


def metrics_path(metrics_dir: str | Path, cell_name: str, arch: str) -> Path:
    return Path(metrics_dir) / cell_name / f"{arch}.json"


def metrics_paths(study, metrics_dir: str | Path) -> list[Path]:
    return [metrics_path(metrics_dir, cell, arch) for cell, arch in study.evaluations]


def debias_of(record: dict) -> str:
    """The bias mitigation a metrics record's set was distilled with: its mode (``none`` for sets without one), with
    the KDE kernel's tag for a non-default kernel (``kde-h0.2``, as its set name says: :meth:`KdeConfig.kernel_tag`)."""
    mode = (record.get("distill_config") or {}).get("debias") or "none"
    kde = KdeConfig.of_record((record.get("extra") or {}).get("debias"))
    return mode + (kde.kernel_tag() if kde is not None else "")


def mode_of(debias: str) -> str:
    """The mode of a :func:`debias_of` label (``kde-h0.2`` → ``kde``)."""
    return debias.split("-", 1)[0]


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


@dataclass(frozen=True)
class CellTime:
    """Wall and CPU seconds a cell cost here: its distillation (or selection) job plus its evaluation job."""

    wall_s: float
    cpu_s: float
    lower_bound: bool  # a job resumed from a state saved before segments were recorded: at least this

    @property
    def wall_min(self) -> float:
        return round(self.wall_s / 60, 1)

    @property
    def cpu_per_wall(self) -> float:
        return round(self.cpu_s / self.wall_s, 2) if self.wall_s else 0.0

    def __add__(self, other: CellTime) -> CellTime:
        """Two jobs' time together (a lower bound when either is one)."""
        return CellTime(self.wall_s + other.wall_s, self.cpu_s + other.cpu_s, self.lower_bound or other.lower_bound)

    def columns(self) -> dict:
        """The table columns of a cell's time (:data:`TIME_COLUMNS`)."""
        return {"wall_min": self.wall_min, "cpu_per_wall": self.cpu_per_wall, "wall_lower_bound": self.lower_bound}


TIME_COLUMNS = ("wall_min", "cpu_per_wall", "wall_lower_bound")
# The jobs a cell reads the artifacts of (its PTMs, KDE weights; Cell.prerequisites): their wall in minutes over
# the timed ones (a lower bound where one resumed without a record of its earlier segments), and how many have no
# time record (made before ddstudy recorded them, or not run here).
PREREQUISITE_COLUMNS = ("prereq_wall_min", "prereq_lower_bound", "prereq_untimed")


def wall_label(row, unit: str = " min", suffix: str = "") -> str | None:
    """``[≥ ]<wall><unit><suffix> (<CPU-s per wall-s>)`` of a table row with :data:`TIME_COLUMNS` (attributes: a
    frame's row), None where untimed; `` + <wall> min prerequisites`` after it where the row has
    :data:`PREREQUISITE_COLUMNS` (`` + N untimed prerequisites`` for those without a time)."""
    import pandas as pd

    if row.wall_min is None or pd.isna(row.wall_min):
        return None
    label = f"{'≥ ' if row.wall_lower_bound else ''}{row.wall_min:.1f}{unit}{suffix} ({row.cpu_per_wall:.2f})"
    prereq, untimed = getattr(row, "prereq_wall_min", None), getattr(row, "prereq_untimed", None)
    if prereq is not None and pd.notna(prereq):
        lower = getattr(row, "prereq_lower_bound", None)
        at_least = "≥ " if lower is not None and pd.notna(lower) and bool(lower) else ""
        label += f" + {at_least}{prereq:.1f} min prerequisites"
    if untimed is not None and pd.notna(untimed) and untimed:
        label += f" + {int(untimed)} untimed prerequisite{'s' if untimed > 1 else ''}"
    return label


def _benchmark(path: Path) -> tuple[float, float] | None:
    """(wall s, CPU s) of one Snakemake benchmark TSV (the sum over its repeats), None when absent."""
    if not path.is_file():
        return None
    with path.open() as handle:
        rows = list(csv.DictReader(handle, delimiter="\t"))
    if not rows:
        return None
    return sum(float(r["s"]) for r in rows), sum(float(r.get("cpu_time") or 0.0) for r in rows)


def prerequisite_columns(benchmarks_dir: str | Path, jobs: list[tuple[str, str]]) -> dict:
    """:data:`PREREQUISITE_COLUMNS` of a cell reading the artifacts of ``jobs`` ((kind, name): Cell.prerequisites);
    {} for a cell that reads none. A zoo model trained in a stacked job with other inits
    (``init<a>+init<b>….timing.json``) counts its share of that job's time."""
    if not jobs:
        return {}
    wall, lower, untimed = 0.0, False, 0
    for kind, name in jobs:
        found = job_time(Path(benchmarks_dir), kind, name) if kind != "zoo" else _zoo_share(Path(benchmarks_dir), name)
        if found is None:
            untimed += 1
        else:
            wall, lower = wall + found[0], lower or found[2]
    timed = untimed < len(jobs)
    return {
        "prereq_wall_min": round(wall / 60, 1) if timed else None,
        "prereq_lower_bound": lower if timed else None,
        "prereq_untimed": untimed,
    }


def _zoo_share(benchmarks_dir: Path, name: str) -> tuple[float, float, bool] | None:
    """(wall s, CPU s, lower bound) of zoo model ``<block>/init<i>``: its own job's, or its share of a stacked one."""
    found = job_time(benchmarks_dir, "zoo", name)
    if found is not None:
        return found
    block, own = name.rsplit("/", 1)
    (init,) = zoo_job_inits(own)
    for path in sorted((benchmarks_dir / "zoo" / block).glob("init*+*")):  # its record or Snakemake's benchmark
        inits = zoo_job_inits(path.name)
        if inits is not None and init in inits:
            shared = job_time(benchmarks_dir, "zoo", f"{block}/{zoo_job_name(inits)}")
            if shared is not None:
                return shared[0] / len(inits), shared[1] / len(inits), shared[2]
    return None


def record_time(record: dict) -> tuple[float, float, bool]:
    """(wall s, CPU s, lower bound) of a job's timing record (ddstudy.timing): a lower bound while incomplete."""
    return record["wall_s"], record["cpu_s"], not record["complete"]


def job_time(
    benchmarks_dir: Path, job: str, cell: str, arch: str | None = None, resumed: bool = False
) -> tuple[float, float, bool] | None:
    """(wall s, CPU s, lower bound) of one job: its timing record over all segments (ddstudy.timing) when there is
    one, else Snakemake's benchmark file — the last segment only of a job ``resumed`` without a record (a lower
    bound then)."""
    record = read_timing(timing_file(benchmarks_dir, job, cell, arch))
    if record is not None:
        return record_time(record)
    stem = Path(benchmarks_dir) / job / cell
    found = _benchmark(stem.with_name(f"{stem.name}.tsv") if arch is None else stem / f"{arch}.tsv")
    return None if found is None else (*found, resumed)


def cell_time(
    benchmarks_dir: str | Path, cell: str, arch: str, synthetic_dir: str | Path | None = None
) -> CellTime | None:
    """The cell's distillation plus evaluation time; None until both jobs have a time. With ``synthetic_dir``, a
    distillation resumed before segments were recorded (its set's meta has ``resumed_from``) counts as a lower
    bound."""
    resumed = False
    if synthetic_dir is not None:
        meta = Path(synthetic_dir) / cell / "meta.json"
        resumed = (json_object(meta) or {}).get("resumed_from") is not None
    benchmarks_dir = Path(benchmarks_dir)
    parts = [
        job_time(benchmarks_dir, "distill", cell, resumed=resumed),
        job_time(benchmarks_dir, "evaluate", cell, arch),
    ]
    if any(p is None for p in parts):
        return None
    return CellTime(*parts[0]) + CellTime(*parts[1])


def cell_time_columns(
    benchmarks_dir: str | Path,
    cell: str,
    arch: str,
    synthetic_dir: str | Path | None = None,
    prerequisites: Mapping[str, list[tuple[str, str]]] | None = None,
) -> dict:
    """A table row's time columns of a finished cell: :data:`TIME_COLUMNS` from :func:`cell_time` (none while a job
    is untimed) and :data:`PREREQUISITE_COLUMNS` of the jobs it reads (``prerequisites``: cell name →
    Cell.prerequisites)."""
    timing = cell_time(benchmarks_dir, cell, arch, synthetic_dir)
    columns = timing.columns() if timing is not None else {}
    return columns | prerequisite_columns(benchmarks_dir, (prerequisites or {}).get(cell, []))
