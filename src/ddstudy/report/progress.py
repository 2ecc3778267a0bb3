"""Where a grid's run stands, cell by cell: what ``ddstudy report progress`` prints.

A grid run across sessions (the repro grid on a CPU: tens of core-hours, resumed on a new machine each time) is
mostly *part-way*: Snakemake's dry run counts the jobs left but cannot say that a distillation is at iteration 650
of 1,000 or an evaluation at network 7 of 10. Those facts are in the resume states beside the outputs
(``.<set>.partial/ckpt/state.json``: the iteration and the segments run so far; ``.<arch>.json.partial/runs.json``:
the finished networks), so this reads them, with each finished cell's accuracy and wall time here
(:func:`ddstudy.report.records.cell_time`).
"""

from __future__ import annotations

import json
from pathlib import Path

from ddstudy.distill.run import SYNTHETIC_SET
from ddstudy.evaluate.record import read_metrics
from ddstudy.report.records import cell_time, job_time, metrics_path
from ddstudy.report.tables import markdown_table

DONE, PART_WAY, WAITING = "done", "part-way", "waiting"


def _state(path: Path) -> dict | None:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _so_far(state: dict) -> float:
    """Wall seconds of the segments a resume state records (none for a state saved before they were recorded)."""
    return sum(segment.get("wall_s", 0.0) for segment in state.get("segments") or [])


def _distillation(study, cell) -> tuple[str, str, float]:
    """(kind, text, wall s so far) of a cell's synthetic set."""
    folder = Path(study.synthetic_dir) / cell.dataset / cell.set_name
    if SYNTHETIC_SET.made(folder):
        timing = job_time(Path(study.benchmarks_dir), "distill", cell.name)
        return DONE, "done", timing[0] if timing else 0.0
    state = _state(folder.parent / f".{folder.name}.partial" / "ckpt" / "state.json")
    total = getattr(cell.config, "iterations", None)
    if state is None or total is None:
        return WAITING, WAITING, 0.0
    return PART_WAY, f"iteration {state.get('iteration', 0)}/{total}", _so_far(state)


def _evaluation(study, cell, arch: str) -> tuple[str, str, float]:
    """(kind, text, wall s so far) of a cell's evaluation with ``arch``."""
    record = metrics_path(study.metrics_dir, cell.name, arch)
    if record.is_file():
        data = read_metrics(record)
        return DONE, f"{100 * data['acc_mean']:.2f} ± {100 * data['acc_std']:.2f} % (n {data['n_runs']})", 0.0
    state = _state(record.parent / f".{record.name}.partial" / "runs.json")
    if state is None:
        return WAITING, WAITING, 0.0
    total = study.cell_eval_config(cell).num_eval
    return PART_WAY, f"network {len(state.get('runs') or [])}/{total}", _so_far(state)


def progress_rows(study) -> list[dict]:
    """One row per evaluation of the grid (cell × architecture), in the grid's order: where its distillation and
    evaluation stand and its wall here (the whole cell's once evaluated; else what the jobs recorded so far)."""
    cells = {cell.name: cell for cell in study.cells}
    rows = []
    for name, arch in study.evaluations:
        cell = cells[name]
        distill_kind, distill, distill_s = _distillation(study, cell)
        evaluate_kind, evaluate, evaluate_s = _evaluation(study, cell, arch)
        kind = DONE if evaluate_kind == DONE else (PART_WAY if PART_WAY in (distill_kind, evaluate_kind) else WAITING)
        if distill_kind == DONE and kind == WAITING:
            kind = PART_WAY  # distilled, evaluation not started
        timing = cell_time(study.benchmarks_dir, name, arch, study.synthetic_dir) if kind == DONE else None
        rows.append(
            {
                "cell": name,
                "arch": arch,
                "state": kind,
                "distillation": distill,
                "evaluation": evaluate,
                "wall_min": timing.wall_min
                if timing
                else (None if kind == DONE else round((distill_s + evaluate_s) / 60, 1)),
                "lower_bound": bool(timing and timing.lower_bound),
            }
        )
    return rows


def progress_markdown(study, rows: list[dict]) -> str:
    counts = {kind: sum(row["state"] == kind for row in rows) for kind in (DONE, PART_WAY, WAITING)}
    lines = [
        f"grid '{study.grid}': {counts[DONE]} of {len(rows)} evaluations done, {counts[PART_WAY]} part-way, "
        f"{counts[WAITING]} waiting",
        "",
    ]
    table = []
    for row in rows:
        wall = "—"
        if row["state"] == DONE and row["wall_min"] is not None:
            wall = f"{'≥ ' if row['lower_bound'] else ''}{row['wall_min']:.1f} min"
        elif row["wall_min"]:
            wall = f"{row['wall_min']:.1f} min so far"
        table.append([f"`{row['cell']}`", row["arch"], row["distillation"], row["evaluation"], wall])
    lines.append(markdown_table(["cell", "arch", "distillation", "evaluation", "wall here"], table))
    return "\n".join(lines)
