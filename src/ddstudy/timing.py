"""Wall and CPU time of a resumable job, summed over every segment it ran in.

A distillation of hours or an evaluation of ten 1,000-epoch networks is often interrupted (a machine is lost, a node is
preempted) and resumed from its resume state (:class:`~ddstudy.checkpoint.ResumeState`). Snakemake's benchmark file
then holds the last segment only, and a table built from it under-reports the cell's cost. So the resume state
carries the segments already run (``segments``: from / to unit, wall and CPU seconds, each segment from its process's
start: loading and compiling included), and ``--timing PATH`` writes them all once the job ends.

The record is a file of its own beside the benchmarks, never part of the artifact: a versioned artifact is the same
bytes for the same seed (DVC's hashes agree), a time is not. The time of work an interruption lost (the units after
the last saved state) is not counted; a state saved before segments were recorded leaves the record ``complete:
false`` (its first segment does not start at unit 0), and the reports mark such a wall as a lower bound.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ddstudy.errors import DDStudyError
from ddstudy.io import read_json, write_json
from ddstudy.outputs import ArtifactKind, check_output, json_with_keys

TIMING_RECORD = ArtifactKind("timing record", False, json_with_keys("unit", "segments", "wall_s", "cpu_s"))


@dataclass
class Segments:
    """The segments of one job: the earlier ones (from its resume state) and the one this process runs."""

    unit: str  # what the job counts: "iterations" (distillation), "runs" (evaluation networks), "epochs" (zoo)
    earlier: list[dict] = field(default_factory=list)
    start: int = 0
    last: int = 0  # the units done at the latest upto(): what a job that counts them itself has reached
    _wall0: float = field(default_factory=time.perf_counter, repr=False)
    _cpu0: float = field(default_factory=time.process_time, repr=False)

    def resumed(self, earlier: list[dict] | None, start: int) -> None:
        """This process goes on at unit ``start`` after the ``earlier`` segments (None: a state saved without them)."""
        self.earlier, self.start = list(earlier or []), start

    def upto(self, done: int) -> list[dict]:
        """Every segment so far, this process's ending at ``done`` units (what a resume state saves)."""
        self.last = done
        current = {
            "from": self.start,
            "to": done,
            "wall_s": round(time.perf_counter() - self._wall0, 3),
            "cpu_s": round(time.process_time() - self._cpu0, 3),
        }
        return [*self.earlier, current]

    def record(self, done: int) -> dict:
        segments = self.upto(done)
        return {
            "unit": self.unit,
            "done": done,
            "wall_s": round(sum(s["wall_s"] for s in segments), 3),
            "cpu_s": round(sum(s["cpu_s"] for s in segments), 3),
            "complete": segments[0]["from"] == 0,
            "segments": segments,
        }


def timing_file(benchmarks_dir: str | os.PathLike, job: str, cell: str, arch: str | None = None) -> Path:
    """Where the workflow keeps a job's timing record: beside Snakemake's benchmark file of the job
    (``<benchmarks>/distill/<cell>.timing.json``, ``<benchmarks>/evaluate/<cell>/<arch>.timing.json``; a zoo
    job's ``<benchmarks>/zoo/<block>/init<i>[+init<j>…].timing.json``, KDE weights'
    ``<benchmarks>/weights/<dataset>/<slug>.timing.json``)."""
    stem = Path(benchmarks_dir) / job / cell
    return stem.with_name(f"{stem.name}.timing.json") if arch is None else stem / f"{arch}.timing.json"


def check_timing_path(
    timing: str | os.PathLike | None, out: str | os.PathLike | Sequence[str | os.PathLike], inputs: dict
) -> Path | None:
    """Refuse a ``--timing`` path before any work: not an output (``out``: one, or each of a job's) or inside one,
    not an input, and a file there only when it is a timing record ddstudy wrote."""
    if timing is None:
        return None
    path = check_output(timing, TIMING_RECORD, inputs, flag="--timing")
    for each in [out] if isinstance(out, (str, os.PathLike)) else out:
        output = Path(each).resolve()
        if path.resolve() == output or output in path.resolve().parents:
            raise DDStudyError(f"--timing {timing}: lies in the --out {each}; give a path beside it (e.g. benchmarks/)")
    return path


def write_timing(path: Path | None, segments: Segments, done: int | None = None) -> None:
    """Write the job's record (``done``: its units at the end; default what the last resume state saved)."""
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_json(path, segments.record(segments.last if done is None else done))


def read_timing(path: str | os.PathLike) -> dict | None:
    """A timing record, None when there is none (or it is not one)."""
    path = Path(path)
    return read_json(path) if TIMING_RECORD.made(path) else None
