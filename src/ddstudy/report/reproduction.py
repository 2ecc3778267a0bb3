"""Does it reproduce? A grid's published cells (params ``published``) beside ours, each with a verdict.

One row per published cell: the paper's value, ours (mean ± std over the evaluation networks, n), the difference in
the paper's standard deviations, the budget, the direction against a baseline cell where the claim is a comparison,
the wall time of the cell here (distillation + evaluation jobs over every segment they ran in:
:func:`ddstudy.report.records.cell_time`) and a verdict:

* ``reproduced`` — same budget as the paper, and |ours − published| ≤ 2 std (the paper's std; ours where the paper
  gives none — the row says which);
* ``not reproduced`` — same budget and outside that band, or a comparison whose direction is the opposite of the
  paper's;
* ``trend`` — a smaller budget than the paper's (fewer iterations): only the direction against the baseline cell
  (e.g. FairDD above plain DM, the biased set below the less biased one) is judged, and it is the paper's;
* ``pending`` — the cell (or its baseline) has no evaluation yet.

A number that misses is reported as it is; docs/reproduction.md holds the investigation.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ddstudy.errors import DDStudyError
from ddstudy.evaluate.record import read_metrics
from ddstudy.report.records import PREREQUISITE_COLUMNS, TIME_COLUMNS, cell_time_columns, wall_label

if TYPE_CHECKING:  # pandas is imported where a frame is made: the study reads PublishedCell without it
    import pandas as pd

DIRECTIONS = ("higher", "lower")
VERDICT_BAND_STD = 2.0  # reproduced: within 2 standard deviations of the published value


@dataclass(frozen=True)
class PublishedCell:
    """One published table cell and how ours is judged against it (params ``grids.<grid>.published``)."""

    cell: str  # <dataset>/<set name> of the grid
    source: str  # paper and table
    value: float | None = None  # published mean test accuracy, %
    std: float | None = None  # published std, % (None: the paper gives none here)
    budget: str = "same"  # "same", or what is smaller here than in the paper (e.g. "1,000 of 20,000 iterations")
    baseline: str | None = None  # a cell of the grid the claim compares with
    baseline_value: float | None = None  # its published value, %
    direction: str | None = None  # higher | lower than the baseline (unset: from the two published values)
    protocol: str = ""  # the paper's evaluation protocol, as run here

    def __post_init__(self) -> None:
        if self.direction is not None and self.direction not in DIRECTIONS:
            raise DDStudyError(f"published {self.cell}: direction '{self.direction}' is not one of higher, lower")
        if self.budget == "same" and self.value is None:
            raise DDStudyError(f"published {self.cell}: a same-budget cell needs its published value")
        if self.budget != "same" and self.baseline is None:
            raise DDStudyError(
                f"published {self.cell}: at a smaller budget only a comparison is judged; give a baseline cell"
            )
        if self.baseline is not None and self.expected_direction is None:
            raise DDStudyError(
                f"published {self.cell}: say the direction against {self.baseline} (direction: higher | lower) or "
                "give both published values"
            )

    @property
    def expected_direction(self) -> str | None:
        if self.direction is not None:
            return self.direction
        if self.value is not None and self.baseline_value is not None and self.value != self.baseline_value:
            return "higher" if self.value > self.baseline_value else "lower"
        return None


COLUMNS = [
    "cell",
    "source",
    "published",
    "published_std",
    "ours",
    "ours_std",
    "n_runs",
    "diff",
    "diff_in_std",
    "std_from",
    "budget",
    "baseline",
    "baseline_published",
    "baseline_ours",
    "direction_expected",
    "direction_ours",
    "verdict",
    *TIME_COLUMNS,
    *PREREQUISITE_COLUMNS,
    "protocol",
]


def _accuracy(metrics_dir: Path, cell: str, arch: str) -> tuple[float, float, int] | None:
    path = metrics_dir / cell / f"{arch}.json"
    if not path.is_file():
        return None
    record = read_metrics(path)
    return 100 * record["acc_mean"], 100 * record["acc_std"], int(record["n_runs"])


def reproduction_frame(
    published: tuple[PublishedCell, ...],
    metrics_dir: str | Path,
    benchmarks_dir: str | Path,
    arch: str,
    synthetic_dir: str | Path | None = None,
    prerequisites: Mapping[str, list[tuple[str, str]]] | None = None,
) -> pd.DataFrame:
    """The comparison table (``COLUMNS``), one row per published cell, in the order params list them; the time of
    the PTMs and KDE weights a cell reads from ``prerequisites`` (cell name → Cell.prerequisites)."""
    import pandas as pd

    metrics_dir, benchmarks_dir = Path(metrics_dir), Path(benchmarks_dir)
    rows = []
    for entry in published:
        ours = _accuracy(metrics_dir, entry.cell, arch)
        base = _accuracy(metrics_dir, entry.baseline, arch) if entry.baseline else None
        row = {key: None for key in COLUMNS} | {
            "cell": entry.cell,
            "source": entry.source,
            "published": entry.value,
            "published_std": entry.std,
            "budget": entry.budget,
            "baseline": entry.baseline,
            "baseline_published": entry.baseline_value,
            "direction_expected": entry.expected_direction,
            "protocol": entry.protocol,
            "verdict": "pending",
        }
        if ours is not None:
            row |= {"ours": round(ours[0], 2), "ours_std": round(ours[1], 2), "n_runs": ours[2]}
            if entry.value is not None:
                std, std_from = (entry.std, "paper") if entry.std else (ours[1], "ours")
                row |= {"diff": round(ours[0] - entry.value, 2), "std_from": std_from}
                row["diff_in_std"] = round((ours[0] - entry.value) / std, 2) if std else None
        if base is not None:
            row["baseline_ours"] = round(base[0], 2)
        if ours is not None and (entry.baseline is None or base is not None):
            row["verdict"] = _verdict(entry, row, ours, base)
        rows.append(row | cell_time_columns(benchmarks_dir, entry.cell, arch, synthetic_dir, prerequisites))
    return pd.DataFrame(rows, columns=COLUMNS)


def _verdict(entry: PublishedCell, row: dict, ours: tuple, base: tuple | None) -> str:
    if base is not None:
        row["direction_ours"] = "higher" if ours[0] > base[0] else ("lower" if ours[0] < base[0] else "equal")
    direction_ok = base is None or row["direction_ours"] == entry.expected_direction
    if entry.budget == "same":
        within = row["diff_in_std"] is not None and abs(row["diff_in_std"]) <= VERDICT_BAND_STD
        return "reproduced" if within and direction_ok else "not reproduced"
    return "trend" if direction_ok else "not reproduced"


def _fmt(value, digits: int = 2) -> str:
    import pandas as pd

    if value is None or (isinstance(value, float) and pd.isna(value)):
        return "—"
    return f"{value:.{digits}f}" if isinstance(value, float) else str(value)


def reproduction_markdown(frame: pd.DataFrame) -> str:
    """The table a reader checks first: published vs ours, the gap in the paper's std, the budget, the verdict."""
    import pandas as pd

    lines = [
        "# Does it reproduce?",
        "",
        "Published table cells re-run end to end (docs/reproduction.md: protocols, budgets, investigation). "
        "Accuracy in %, mean ± std over the evaluation networks (n). Δ/σ: our difference from the published "
        "value in the paper's standard deviations (ours where the paper gives none, marked *). Verdicts: "
        "reproduced (same budget, within 2σ), trend (smaller budget: the direction against the baseline cell is "
        "the paper's), not reproduced, pending (not evaluated yet). Wall: distillation + evaluation here, with "
        "CPU-seconds per wall-second, summed over every segment a job ran in (its timing record; Snakemake's "
        "benchmark file, its last segment, for a job that has none). ≥: a job resumed without a record of its "
        "earlier segments, so the wall is a lower bound (docs/reproduction.md gives those cells' totals from their "
        "logs).",
        "",
        "| cell | paper | published | ours (n) | Δ/σ | budget | against | verdict | wall (CPU/wall) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for row in frame.itertuples(index=False):
        published = _fmt(row.published) + (f" ± {_fmt(row.published_std, 1)}" if pd.notna(row.published_std) else "")
        ours = f"{_fmt(row.ours)} ± {_fmt(row.ours_std)} ({int(row.n_runs)})" if pd.notna(row.ours) else "—"
        sigma = _fmt(row.diff_in_std) + ("*" if row.std_from == "ours" else "") if pd.notna(row.diff_in_std) else "—"
        against = "—"
        if pd.notna(row.baseline):
            against = (
                f"{row.direction_expected} than `{row.baseline}` "
                f"(paper {_fmt(row.baseline_published)}, ours {_fmt(row.baseline_ours)})"
            )
        wall = wall_label(row) or "—"
        lines.append(
            f"| `{row.cell}` | {row.source} | {published} | {ours} | {sigma} | {row.budget} | {against} | "
            f"**{row.verdict}** | {wall} |"
        )
    return "\n".join(lines) + "\n"
