"""Where a grid's run stands, cell by cell: what ``ddstudy report progress`` prints.

A grid run across interruptions (the repro grid on a CPU: tens of core-hours, resumed on a new machine each time) is
mostly *part-way*: Snakemake's dry run counts the jobs left but cannot say that a distillation is at iteration 650
of 1,000 or an evaluation at network 7 of 10. Those facts are in the resume states beside the outputs
(``.<set>.partial/ckpt/state.json``: the iteration and the segments run so far; ``.<arch>.json.partial/runs.json``:
the finished networks; a PTM's ``.init<i>.partial/resume.json``: its epoch, for the cells waiting on it), so this reads
them, with each finished cell's accuracy and wall time here
(:func:`ddstudy.report.records.cell_time`), and what is left: each unfinished job's iterations or networks times the
CPU-seconds per unit its like ran at here (the segments of the same set's jobs on every dataset of the grid, finished
or part-way: FG's finished ``dm_ipc10_cobra`` prices BG's), in core-hours. The PTMs and KDE weights a waiting cell
still needs are priced the same way, by the PTMs and weights of the grid that ran here with a timing record (a PTM
per epoch, weights per file); one without a like counts as a job not priced.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

from ddstudy.distill.run import SYNTHETIC_SET, set_name
from ddstudy.evaluate.record import read_metrics
from ddstudy.outputs import json_object
from ddstudy.report.records import (
    TIME_COLUMNS,
    CellTime,
    cell_time,
    job_time,
    metrics_path,
    prerequisite_columns,
    record_time,
    wall_label,
)
from ddstudy.report.tables import markdown_table
from ddstudy.timing import read_timing, timing_file
from ddstudy.zoo.store import ZOO_MODEL, zoo_job_inits, zoo_job_name, zoo_timing_file

DONE, PART_WAY, WAITING = "done", "part-way", "waiting"


def _so_far(state: dict) -> CellTime:
    """Wall and CPU seconds of the segments a resume state records (none for a state saved before they were)."""
    segments = state.get("segments") or []
    return CellTime(sum(s.get("wall_s", 0.0) for s in segments), sum(s.get("cpu_s", 0.0) for s in segments), False)


NOTHING = CellTime(0.0, 0.0, False)


@dataclass(frozen=True)
class Work:
    """A job's units still to run (iterations, evaluation networks; 0 for a selection) and the segments it ran here
    (``from``/``to`` units with their CPU-seconds: its rate)."""

    left: int
    segments: tuple = ()


def _finished(study, job: str, cell, arch: str | None = None) -> tuple[CellTime, Work]:
    """(time, segments) of a finished job from its timing record, read once; a job without one (run before records
    were kept) has Snakemake's benchmark for its time and no segments."""
    benchmarks = Path(study.benchmarks_dir)
    record = read_timing(timing_file(benchmarks, job, cell.name, arch))
    if record is None:
        found = job_time(benchmarks, job, cell.name, arch)
        return CellTime(*found) if found else NOTHING, Work(0)
    return CellTime(*record_time(record)), Work(0, tuple(record.get("segments") or ()))


def _distillation(study, cell) -> tuple[str, str, CellTime, Work]:
    """(kind, text, time so far, work left) of a cell's synthetic set."""
    folder = Path(study.synthetic_dir) / cell.dataset / cell.set_name
    total = getattr(cell.config, "iterations", None) or 0
    if SYNTHETIC_SET.made(folder):
        return DONE, "done", *_finished(study, "distill", cell)
    state = json_object(folder.parent / f".{folder.name}.partial" / "ckpt" / "state.json")
    if state is None or not total:
        return WAITING, _waiting_for(study, cell), NOTHING, Work(total)
    done = state.get("iteration", 0)
    return PART_WAY, f"iteration {done}/{total}", _so_far(state), Work(total - done, tuple(state.get("segments") or ()))


def _ptm_part_way(study, block: str, init: int) -> tuple[bool, dict] | None:
    """(own, resume state) of the zoo job training PTM ``<block>/init<init>`` part-way — its own job's
    ``.init<i>.partial/resume.json`` (own) or a stacked job's ``.init<a>+init<b>….partial/`` — None when none is."""
    for staging in sorted((Path(study.zoo_dir) / block).glob(".init*.partial")):
        inits = zoo_job_inits(staging.name[1 : -len(".partial")]) or ()
        if init in inits and (state := json_object(staging / "resume.json")) is not None:
            return len(inits) == 1, state
    return None


def _waiting_for(study, cell) -> str:
    """``waiting``, or what a waiting distillation waits for when one of its PTMs is training part-way."""
    for block, init in cell.ptm_jobs():
        if ZOO_MODEL.made(Path(study.zoo_dir) / block / zoo_job_name([init])):
            continue
        if (part_way := _ptm_part_way(study, block, init)) is not None:
            epochs = study.zoo_at(block, init).config.epochs
            return f"{WAITING} (PTM {block}/init{init} at epoch {part_way[1].get('epoch', 0)}/{epochs})"
    return WAITING


def _evaluation(study, cell, arch: str) -> tuple[str, str, CellTime, Work]:
    """(kind, text, time so far, work left) of a cell's evaluation with ``arch``."""
    record = metrics_path(study.metrics_dir, cell.name, arch)
    if record.is_file():
        data = read_metrics(record)
        text = f"{100 * data['acc_mean']:.2f} ± {100 * data['acc_std']:.2f} % (n {data['n_runs']})"
        return DONE, text, NOTHING, _finished(study, "evaluate", cell, arch)[1]  # the row's time: cell_time
    state = json_object(record.parent / f".{record.name}.partial" / "runs.json")
    total = study.cell_eval_config(cell).num_eval
    if state is None:
        return WAITING, WAITING, NOTHING, Work(total)
    done = len(state.get("runs") or [])
    return PART_WAY, f"network {done}/{total}", _so_far(state), Work(total - done, tuple(state.get("segments") or ()))


def _prerequisite(study, job: tuple[str, str]) -> tuple[bool, Work]:
    """(made, work) of a job whose artifact cells read (:meth:`ddstudy.study.model.Cell.prerequisites`): a PTM's
    epochs left, KDE weights' one file, with the segments of its timing record (a like even where the artifact
    itself is not on this machine) or of its own job's resume state. A PTM trained in a stacked job with other inits
    prices nothing (its job's segments count every init's epochs), though the job's state says its epochs left."""
    kind, name = job
    if kind == "weights":
        record = read_timing(timing_file(study.benchmarks_dir, "weights", name)) or {}
        made = (Path(study.weights_dir) / f"{name}.npz").is_file()
        return made, Work(0 if made else 1, tuple(record.get("segments") or ()))
    block, own = name.rsplit("/", 1)
    (init,) = zoo_job_inits(own)
    record = read_timing(zoo_timing_file(study.benchmarks_dir, block, [init]))
    if ZOO_MODEL.made(Path(study.zoo_dir) / name):
        return True, Work(0, tuple((record or {}).get("segments") or ()))
    own_job, state = _ptm_part_way(study, block, init) or (True, {})
    epochs = study.zoo_at(block, init).config.epochs
    segments = (record or (state if own_job else {})).get("segments") or ()
    return False, Work(epochs - state.get("epoch", 0), tuple(segments))


def _prerequisites_left(cell, prerequisites: dict, counted: set) -> list[tuple[str, str]]:
    """The jobs a cell's distillation waits for besides its own (its PTMs, its KDE weights) that are not made yet
    (``prerequisites``: job → :func:`_prerequisite`) and that no earlier row counted — shared jobs count once."""
    left = [job for job in cell.prerequisites() if job not in counted and not prerequisites[job][0]]
    counted.update(cell.prerequisites())
    return left


class Rates:
    """CPU-seconds per unit of each kind of job, pooled over the segments its likes ran here, on any dataset of the
    grid: a distillation's like distils the same set (its name without a KDE kernel's tag: another bandwidth costs
    the same); an evaluation's like trains the same method's sets of the same IPC with the same architecture, epochs
    and augmentation (the debias mode or CLoM that made a set does not change what evaluating it costs)."""

    def __init__(self) -> None:
        self.cpu_units: dict[tuple, list[float]] = defaultdict(lambda: [0.0, 0.0])

    @staticmethod
    def distill_key(cell) -> tuple:
        return "distill", set_name(cell.config, cell.clom)

    @staticmethod
    def evaluate_key(study, cell, arch: str) -> tuple:
        config = study.cell_eval_config(cell).resolved(cell.config.method)
        return "evaluate", cell.config.method, cell.config.ipc, arch, config.epochs, config.augment, config.batch_size

    @staticmethod
    def prerequisite_key(study, job: tuple[str, str]) -> tuple:
        """A PTM's like trains the same architecture with the same batch size on a variant of the same source and
        size (an epoch costs the same whatever the bias kind, ratio or the recipe's sample weights); KDE weights'
        like embeds such a variant with a PTM of the same architecture (the bandwidth does not change the cost)."""
        kind, name = job
        if kind == "zoo":
            block, own = name.rsplit("/", 1)
            entry = study.zoo_at(block, zoo_job_inits(own)[0])
            return "zoo", *_source(study, entry.job.dataset), entry.job.arch, entry.config.batch_size
        return "weights", *_source(study, name.split("/")[0]), study.kde_config(name).arch

    def add(self, key: tuple, work: Work) -> None:
        for segment in work.segments:
            units = segment.get("to", 0) - segment.get("from", 0)
            if units > 0 and segment.get("cpu_s"):
                self.cpu_units[key][0] += segment["cpu_s"]
                self.cpu_units[key][1] += units

    def left_cpu_s(self, key: tuple, work: Work) -> float | None:
        """CPU-seconds the work left will take at its like's rate (None: no like ran here yet)."""
        if not work.left:
            return 0.0
        cpu, units = self.cpu_units.get(key, (0.0, 0.0))
        return work.left * cpu / units if units else None


def _source(study, dataset: str) -> tuple:
    """(source, training samples kept per class) of a dataset variant of the grid: what a pass over it costs."""
    for variant in study.variants:
        if variant.name == dataset:
            return variant.source, variant.train_per_class
    return dataset, None


def progress_rows(study) -> list[dict]:
    """One row per evaluation of the grid (cell × architecture), in the grid's order: where its distillation and
    evaluation stand and its time here (:data:`TIME_COLUMNS`: the whole cell's once evaluated; else what its jobs
    recorded so far, a finished distillation's whole time included)."""
    cells = {cell.name: cell for cell in study.cells}
    rows, rates, works, distilled, counted = [], Rates(), [], set(), set()
    shared = dict.fromkeys(job for jobs in study.prerequisites.values() for job in jobs)  # each job once
    prerequisites = {job: _prerequisite(study, job) for job in shared}
    for job, (_, work) in prerequisites.items():
        rates.add(Rates.prerequisite_key(study, job), work)
    for name, arch in study.evaluations:
        cell = cells[name]
        distill_kind, distill, distill_time, distill_work = _distillation(study, cell)
        evaluate_kind, evaluate, evaluate_time, evaluate_work = _evaluation(study, cell, arch)
        # a set evaluated with several archs is distilled once: its work left counts in its first row
        jobs = [(Rates.distill_key(cell), distill_work if name not in distilled else Work(0))]
        distilled.add(name)
        jobs.append((Rates.evaluate_key(study, cell, arch), evaluate_work))
        for key, work in jobs:
            rates.add(key, work)
        works.append(jobs)
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
        # a distillation part-way here had its prerequisites (made, whatever the files say now); one waiting may
        # wait for them
        if distill_kind == PART_WAY:
            counted.update(cell.prerequisites())
        if distill_kind == WAITING:
            for job in _prerequisites_left(cell, prerequisites, counted):
                jobs.append((Rates.prerequisite_key(study, job), prerequisites[job][1]))
        rows.append(
            {"cell": name, "arch": arch, "state": kind, "distillation": distill, "evaluation": evaluate, **columns}
        )
    for row, jobs in zip(rows, works, strict=True):
        left = [rates.left_cpu_s(key, work) for key, work in jobs]
        row["left_cpu_s"] = sum(cpu for cpu in left if cpu is not None)  # the jobs a like prices
        row["left_unpriced"] = left.count(None)  # jobs with work left that no like prices
    return rows


def _left(row: dict) -> str:
    """The core-hours a row's jobs have left, ``+ n unpriced`` for those no like has run for yet."""
    if row["state"] == DONE:
        return "—"
    unpriced = f"{row['left_unpriced']} job{'s' * (row['left_unpriced'] > 1)} unpriced"
    if row["left_unpriced"] and not row["left_cpu_s"]:
        return unpriced
    return f"≈ {row['left_cpu_s'] / 3600:.1f} core-h" + (f" + {unpriced}" if row["left_unpriced"] else "")


def wall_at_best(rows: list[dict], cores: int) -> float:
    """Seconds of wall the priced work left takes at best on ``cores`` single-thread jobs side by side, each at a
    whole core: the core-seconds shared out, but never less than the longest row (its distillation and evaluation
    run one after the other)."""
    left = [row["left_cpu_s"] or 0.0 for row in rows]
    return max(sum(left) / max(cores, 1), max(left, default=0.0))


def progress_markdown(study, rows: list[dict], cores: int = 1) -> str:
    counts = {kind: sum(row["state"] == kind for row in rows) for kind in (DONE, PART_WAY, WAITING)}
    left = sum(row["left_cpu_s"] or 0.0 for row in rows)
    unpriced = sum(row["left_unpriced"] for row in rows)
    lines = [
        f"grid '{study.grid}': {counts[DONE]} of {len(rows)} evaluations done, {counts[PART_WAY]} part-way, "
        f"{counts[WAITING]} waiting; wall here (CPU-s per wall-s)",
        f"left: ≈ {left / 3600:.1f} core-hours (distillations, evaluations, the PTMs and KDE weights they read) "
        "at the CPU rates their likes ran at here"
        + (f", and {unpriced} job{'s' * (unpriced > 1)} not priced (no like has run here yet)" if unpriced else "")
        + (
            f"; ≈ {wall_at_best(rows, cores) / 3600:.1f} h of wall at best on {cores} core{'s' * (cores > 1)} "
            "(one single-thread job per core; the priced part)"
            if left
            else ""
        ),
        "",
    ]
    table = []
    for row in rows:
        suffix = "" if row["state"] == DONE else " so far"
        wall = wall_label(SimpleNamespace(**row), suffix=suffix) or "—"
        table.append([f"`{row['cell']}`", row["arch"], row["distillation"], row["evaluation"], wall, _left(row)])
    lines.append(markdown_table(["cell", "arch", "distillation", "evaluation", "wall here", "left"], table))
    return "\n".join(lines)
