"""Where a grid's run stands, cell by cell: what ``ddstudy report progress`` prints.

A grid run across sessions (the repro grid on a CPU: tens of core-hours, resumed on a new machine each time) is
mostly *part-way*: Snakemake's dry run counts the jobs left but cannot say that a distillation is at iteration 650
of 1,000 or an evaluation at network 7 of 10. Those facts are in the resume states beside the outputs
(``.<set>.partial/ckpt/state.json``: the iteration and the segments run so far; ``.<arch>.json.partial/runs.json``:
the finished networks; a PTM's ``.init<i>.partial/resume.json``: its epoch, for the cells waiting on it), so this reads
them, with each finished cell's accuracy and wall time here
(:func:`ddstudy.report.records.cell_time`).
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

from ddstudy.distill.run import SYNTHETIC_SET
from ddstudy.evaluate.record import read_metrics
from ddstudy.outputs import json_object
from ddstudy.report.records import (
    TIME_COLUMNS,
    CellTime,
    cell_time,
    job_time,
    metrics_path,
    prerequisite_columns,
    wall_label,
)
from ddstudy.report.tables import markdown_table
from ddstudy.zoo.store import ZOO_MODEL, zoo_job_inits

DONE, PART_WAY, WAITING = "done", "part-way", "waiting"


def _so_far(state: dict) -> CellTime:
    """Wall and CPU seconds of the segments a resume state records (none for a state saved before they were)."""
    segments = state.get("segments") or []
    return CellTime(sum(s.get("wall_s", 0.0) for s in segments), sum(s.get("cpu_s", 0.0) for s in segments), False)


NOTHING = CellTime(0.0, 0.0, False)


def _distillation(study, cell) -> tuple[str, str, CellTime]:
    """(kind, text, time so far) of a cell's synthetic set."""
    folder = Path(study.synthetic_dir) / cell.dataset / cell.set_name
    if SYNTHETIC_SET.made(folder):
        found = job_time(Path(study.benchmarks_dir), "distill", cell.name)
        return DONE, "done", CellTime(*found) if found else NOTHING
    state = json_object(folder.parent / f".{folder.name}.partial" / "ckpt" / "state.json")
    total = getattr(cell.config, "iterations", None)
    if state is None or total is None:
        return WAITING, _waiting_for(study, cell), NOTHING
    return PART_WAY, f"iteration {state.get('iteration', 0)}/{total}", _so_far(state)


def _waiting_for(study, cell) -> str:
    """``waiting``, or what a waiting distillation waits for when one of its PTMs is training part-way (its zoo
    job's resume state: ``.init<i>.partial/resume.json``, or a stacked job's ``.init<a>+init<b>….partial/``)."""
    for block, init in cell.ptm_jobs():
        folder = Path(study.zoo_dir) / block
        if ZOO_MODEL.made(folder / f"init{init}"):
            continue
        for staging in sorted(folder.glob(".init*.partial")):
            if init in (zoo_job_inits(staging.name[1 : -len(".partial")]) or ()):
                state = json_object(staging / "resume.json")
                if state is not None:
                    epochs = study.zoo_at(block, init).config.epochs
                    return f"{WAITING} (PTM {block}/init{init} at epoch {state.get('epoch', 0)}/{epochs})"
    return WAITING


def _evaluation(study, cell, arch: str) -> tuple[str, str, CellTime]:
    """(kind, text, time so far) of a cell's evaluation with ``arch``."""
    record = metrics_path(study.metrics_dir, cell.name, arch)
    if record.is_file():
        data = read_metrics(record)
        return DONE, f"{100 * data['acc_mean']:.2f} ± {100 * data['acc_std']:.2f} % (n {data['n_runs']})", NOTHING
    state = json_object(record.parent / f".{record.name}.partial" / "runs.json")
    if state is None:
        return WAITING, WAITING, NOTHING
    total = study.cell_eval_config(cell).num_eval
    return PART_WAY, f"network {len(state.get('runs') or [])}/{total}", _so_far(state)


def progress_rows(study) -> list[dict]:
    """One row per evaluation of the grid (cell × architecture), in the grid's order: where its distillation and
    evaluation stand and its time here (:data:`TIME_COLUMNS`: the whole cell's once evaluated; else what its jobs
    recorded so far, a finished distillation's whole time included)."""
    cells = {cell.name: cell for cell in study.cells}
    rows = []
    for name, arch in study.evaluations:
        cell = cells[name]
        distill_kind, distill, distill_time = _distillation(study, cell)
        evaluate_kind, evaluate, evaluate_time = _evaluation(study, cell, arch)
        kind = DONE if evaluate_kind == DONE else (PART_WAY if PART_WAY in (distill_kind, evaluate_kind) else WAITING)
        if distill_kind == DONE and kind == WAITING:
            kind = PART_WAY  # distilled, evaluation not started
        if kind == DONE:
            timing = cell_time(study.benchmarks_dir, name, arch, study.synthetic_dir)
        else:
            timing = distill_time + evaluate_time
            timing = timing if timing.wall_s else None
        columns = timing.columns() if timing else dict.fromkeys(TIME_COLUMNS)
        columns |= prerequisite_columns(study.benchmarks_dir, cell.prerequisites())
        rows.append(
            {"cell": name, "arch": arch, "state": kind, "distillation": distill, "evaluation": evaluate, **columns}
        )
    return rows


def progress_markdown(study, rows: list[dict]) -> str:
    counts = {kind: sum(row["state"] == kind for row in rows) for kind in (DONE, PART_WAY, WAITING)}
    lines = [
        f"grid '{study.grid}': {counts[DONE]} of {len(rows)} evaluations done, {counts[PART_WAY]} part-way, "
        f"{counts[WAITING]} waiting; wall here (CPU-s per wall-s)",
        "",
    ]
    table = []
    for row in rows:
        suffix = "" if row["state"] == DONE else " so far"
        wall = wall_label(SimpleNamespace(**row), suffix=suffix) or "—"
        table.append([f"`{row['cell']}`", row["arch"], row["distillation"], row["evaluation"], wall])
    lines.append(markdown_table(["cell", "arch", "distillation", "evaluation", "wall here"], table))
    return "\n".join(lines)
