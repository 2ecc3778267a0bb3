"""A committed bench baseline and the guard that compares a run against it (``ddstudy bench --against FILE``).

Nothing guarded the fast paths' figures, so the compiled DC/DSA path lost most of its lead over the eager oracle
without anyone deciding it. A baseline records, per case and path, the **speed-up over the in-process oracle** —
a ratio measured in one process, so it compares across hosts far better than seconds do — with the machine it was
measured on. ``--against`` prints each case's ratio to the baseline and flags every path whose speed-up fell by
more than the noise (the baseline's own ``noise``, else :data:`DEFAULT_NOISE`: reruns of one case in one sitting
here differ by up to ≈ 10 %, e.g. DC compiled 1.08× and 1.21× over the oracle in two runs of the same hour). A
flagged run exits 3 so that a script or CI notices.
"""

from __future__ import annotations

import os
import platform
from datetime import date
from pathlib import Path

from ddstudy.errors import DDStudyError
from ddstudy.io import read_json
from ddstudy.outputs import ArtifactKind, json_with_keys

DEFAULT_NOISE = 0.15  # a speed-up this much (relative) below the baseline's is a slowdown, not noise
SLOWDOWN_EXIT = 3
BENCH_BASELINE = ArtifactKind("bench baseline", False, json_with_keys("paths", "machine", "noise"))


def machine() -> dict:
    """What the figures were measured on: CPU model, cores, OS, Python (torch's version is in each row)."""
    model = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cpu": model, "cores": os.cpu_count(), "system": platform.platform(), "python": platform.python_version()}


def baseline_record(rows: list[dict], note: str = "", noise: float = DEFAULT_NOISE) -> dict:
    """The baseline of a bench run's rows: each fast path's speed-up over its oracle, and the conditions."""
    entries = {
        f"{row['case']}/{row['path']}": {
            "speedup": round(row["speedup"], 4),
            "seconds": round(row["seconds"], 5),
            "cpu_per_wall": round(row.get("cpu_per_wall", 0.0), 2),
        }
        for row in rows
        if row.get("speedup") and row["path"] != "oracle"
    }
    if not entries:
        raise DDStudyError("the bench run has no fast path with a speed-up over its oracle: nothing to record")
    context = {k: rows[0].get(k) for k in ("device", "threads", "model", "image_shape", "torch")}
    return {
        "measured": date.today().isoformat(),
        "machine": machine(),
        "context": context,
        "note": note,
        "noise": noise,
        "paths": entries,
    }


def read_baseline(path: str | Path) -> dict:
    record = read_json(path)
    if not isinstance(record, dict) or not isinstance(record.get("paths"), dict):
        raise DDStudyError(
            f"{path}: not a bench baseline (no 'paths'); write one with `ddstudy bench --write-baseline`"
        )
    for key, entry in record["paths"].items():
        if not isinstance(entry, dict) or not isinstance(entry.get("speedup"), int | float) or entry["speedup"] <= 0:
            raise DDStudyError(f"{path}: path '{key}' has no positive 'speedup'; write the baseline again")
    noise = record.get("noise", DEFAULT_NOISE)
    if not isinstance(noise, int | float) or not 0 <= noise < 1:
        raise DDStudyError(f"{path}: 'noise' must be a fraction in [0, 1), found {noise!r}")
    return record


def compare(rows: list[dict], baseline: dict) -> list[dict]:
    """Per fast path of ``rows`` that the baseline has: its speed-up now and then, their ratio, and whether it is a
    slowdown beyond the noise."""
    noise = baseline.get("noise", DEFAULT_NOISE)
    out = []
    for row in rows:
        key = f"{row['case']}/{row['path']}"
        then = baseline["paths"].get(key)
        if not row.get("speedup") or row["path"] == "oracle" or then is None:
            continue
        ratio = row["speedup"] / then["speedup"]
        out.append(
            {
                "path": key,
                "speedup": row["speedup"],
                "baseline_speedup": then["speedup"],
                "ratio": ratio,
                "cpu_per_wall": row.get("cpu_per_wall"),
                "slower": ratio < 1 - noise,
            }
        )
    return out


def report(comparison: list[dict], baseline: dict, source: str) -> str:
    when, where = baseline.get("measured", "?"), baseline.get("machine", {}).get("cpu", "?")
    lines = [
        f"against {source} (measured {when} on {where}; noise {100 * baseline.get('noise', DEFAULT_NOISE):.0f} %):",
        f"{'case/path':18s} {'now':>7s} {'then':>7s} {'ratio':>6s} {'cpu/wall':>8s}",
    ]
    for c in comparison:
        flag = "  SLOWER beyond the noise" if c["slower"] else ""
        cpu = f"{c['cpu_per_wall']:.2f}" if c["cpu_per_wall"] is not None else ""
        lines.append(
            f"{c['path']:18s} {c['speedup']:6.2f}× {c['baseline_speedup']:6.2f}× {c['ratio']:6.2f} {cpu:>8s}{flag}"
        )
    if not comparison:
        lines.append("(no fast path of this run is in the baseline)")
    return "\n".join(lines)
