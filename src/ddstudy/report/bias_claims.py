"""``tables/bias_claims.{csv,md}``: Biased-DD's two claims judged on the grid's own evaluations.

Lu et al. 2024 (arXiv 2403.16028) report, on CMNIST-DD and CCIFAR10-DD, that (1) *bias lowers the synthetic set's
accuracy in most cases* — the more bias-aligned the training set, the lower the accuracy on the unbiased test set —
and (2) a stronger bias (higher severity) lowers it more. Both are read here from the bias-study rows (plain
methods, no mitigation), per method, IPC and evaluation architecture:

* **ratio**: each aligned ratio above 1/K (K classes: at 1/K the attribute says nothing of the class) against the
  1/K variant of the same severity;
* **severity**: the highest severity against each lower one at the same ratio.

A comparison counts as *lower* (or *higher*) when the gap exceeds its spread, √(σ₁² + σ₂²) of the two cells' stds
over evaluation networks; otherwise it is *within spread*. The claim per method is ``supported`` when more than
half of its comparisons are lower, ``not supported`` when more than half are not lower and fewer than half are
within spread, and ``inconclusive`` otherwise; ``pending`` while a needed cell is not evaluated. Nothing is typed
by hand: the rows come from the evaluation records.
"""

from __future__ import annotations

import math

import pandas as pd

from ddstudy.data.bias_kind import UNBIASED_RATIO
from ddstudy.report.tables import METHOD_ORDER, family_of

CLAIMS = {
    "ratio": "bias lowers the synthetic set's accuracy (aligned ratio above 1/K vs 1/K)",
    "severity": "a stronger bias lowers it more (highest severity vs a lower one, same ratio)",
}
COLUMNS = [
    "claim",
    "family",
    "method",
    "ipc",
    "eval_arch",
    "comparisons",
    "lower",
    "within_spread",
    "higher",
    "mean_gap",
    "verdict",
    "detail",
]


def _cell(group: pd.DataFrame, ratio: float, severity: float):
    rows = group[(group["ratio"].round(6) == round(ratio, 6)) & (group["severity"] == severity)]
    return None if rows.empty else rows.iloc[0]


def _compare(cell, base) -> tuple[str, float]:
    gap = 100 * (cell["acc_mean"] - base["acc_mean"])
    spread = 100 * math.hypot(*(0.0 if pd.isna(s) else float(s) for s in (cell["acc_std"], base["acc_std"])))
    return ("lower" if gap < -spread else "higher" if gap > spread else "within"), gap


def _verdict(outcomes: list[str], expected: str) -> str:
    n = len(outcomes)
    hits, within = outcomes.count(expected), outcomes.count("within")
    if hits > n / 2:
        return "supported"
    if n - hits > n / 2 and within < n / 2:
        return "not supported"
    return "inconclusive"


def judge(pairs: list[tuple[str, object, object]], expected: str = "lower") -> dict:
    """The verdict on a claim from its comparisons ``(label, cell row, baseline row)`` (a row None: not evaluated
    yet), where the claim expects each cell ``expected`` ("lower" or "higher") than its baseline: the counts, the
    mean gap in points, the verdict and one text per comparison. Shared by every claims table."""
    done = [(label, cell, base) for label, cell, base in pairs if cell is not None and base is not None]
    outcomes, gaps, detail = [], [], []
    for label, cell, base in done:
        outcome, gap = _compare(cell, base)
        outcomes.append(outcome)
        gaps.append(gap)
        detail.append(f"{label}: {gap:+.1f} ({outcome})")
    missing = [label for label, cell, base in pairs if cell is None or base is None]
    detail += [f"{label}: pending" for label in missing]
    return {
        "comparisons": len(done),
        "lower": outcomes.count("lower"),
        "within_spread": outcomes.count("within"),
        "higher": outcomes.count("higher"),
        "mean_gap": sum(gaps) / len(gaps) if gaps else float("nan"),
        "verdict": "pending" if missing or not done else _verdict(outcomes, expected),
        "detail": "; ".join(detail),
    }


def _row(claim, key, pairs: list[tuple[str, object, object]]) -> dict:
    family, method, ipc, arch = key
    return {"claim": claim, "family": family, "method": method, "ipc": ipc, "eval_arch": arch} | judge(pairs)


def bias_claims_frame(bias: pd.DataFrame, planned: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per claim × (family, method, IPC, architecture) that the grid can test. ``planned``: the rows the
    grid will have (dataset, ratio, severity, method, ipc, eval_arch) — comparisons whose cells are not evaluated
    yet are listed as pending; unset, only what ``bias`` holds is compared."""
    rows = []
    plain = bias[bias["debias"].fillna("none") == "none"].dropna(subset=["ratio"]) if len(bias) else bias
    plan = plain if planned is None else planned.dropna(subset=["ratio"])
    if plan.empty:
        return pd.DataFrame(columns=COLUMNS)
    plan = plan.assign(family=plan["dataset"].map(family_of), ipc=plan["ipc"].fillna(0))
    plain = plain.assign(family=plain["dataset"].map(family_of), ipc=plain["ipc"].fillna(0)) if len(plain) else plain
    for key, group in plan.groupby(["family", "method", "ipc", "eval_arch"]):
        measured = plain
        for column, value in zip(["family", "method", "ipc", "eval_arch"], key, strict=True):
            measured = measured[measured[column] == value] if len(measured) else measured
        severities = sorted(group["severity"].unique())
        present = {(round(r, 6), s) for r, s in zip(group["ratio"], group["severity"], strict=True)}
        top = severities[-1] if severities else None
        # (label, (ratio, severity) of the cell, (ratio, severity) of its baseline) of each claim's comparisons
        wanted = {
            "ratio": [
                (f"r{r:g} s{s:g}", (r, s), (UNBIASED_RATIO, s))
                for s in severities
                for r in sorted(group[group["severity"] == s]["ratio"].unique())
                if r > UNBIASED_RATIO + 1e-9 and (round(UNBIASED_RATIO, 6), s) in present
            ],
            "severity": [
                (f"r{r:g}: s{top:g} vs s{s:g}", (r, top), (r, s))
                for r in sorted(group["ratio"].unique())
                for s in severities[:-1]
                if (round(r, 6), top) in present and (round(r, 6), s) in present
            ],
        }
        for claim, comparisons in wanted.items():
            if comparisons:
                pairs = [(label, _cell(measured, *cell), _cell(measured, *base)) for label, cell, base in comparisons]
                rows.append(_row(claim, key, pairs))
    frame = pd.DataFrame(rows, columns=COLUMNS)
    if len(frame):
        order = {m: i for i, m in enumerate(METHOD_ORDER)}
        frame = frame.sort_values(
            ["claim", "family", "eval_arch", "method"], key=lambda c: c.map(order) if c.name == "method" else c
        )
    return frame.reset_index(drop=True)


def bias_claims_markdown(frame: pd.DataFrame) -> str:
    lines = [
        "# Biased-DD's claims, judged on this grid",
        "",
        "Lu et al. 2024 (arXiv 2403.16028). Gaps in accuracy points on the unbiased test set; a gap counts as lower "
        "or higher when it exceeds √(σ₁² + σ₂²) of the two cells (std over evaluation networks), else *within "
        "spread*. Verdict per method: supported (more than half of its comparisons lower), not supported, "
        "inconclusive, pending (a cell not evaluated yet). Plain methods only (no mitigation).",
    ]
    for claim, text in CLAIMS.items():
        block = frame[frame["claim"] == claim]
        if block.empty:
            continue
        lines += [
            "",
            f"## {claim}: {text}",
            "",
            "| family | method | IPC | arch | lower / within / higher of n | mean gap | verdict | per comparison |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for row in block.itertuples(index=False):
            ipc = "—" if not row.ipc else f"{int(row.ipc)}"
            gap = "—" if pd.isna(row.mean_gap) else f"{row.mean_gap:+.1f}"
            lines.append(
                f"| {row.family} | {row.method} | {ipc} | {row.eval_arch} | {row.lower} / {row.within_spread} / "
                f"{row.higher} of {row.comparisons} | {gap} | **{row.verdict}** | {row.detail} |"
            )
    return "\n".join(lines) + "\n"
