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


def _verdict(outcomes: list[str]) -> str:
    n = len(outcomes)
    lower, within = outcomes.count("lower"), outcomes.count("within")
    if lower > n / 2:
        return "supported"
    if n - lower > n / 2 and within < n / 2:
        return "not supported"
    return "inconclusive"


def _row(claim, key, pairs: list[tuple[str, object, object]]) -> dict:
    family, method, ipc, arch = key
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
        "claim": claim,
        "family": family,
        "method": method,
        "ipc": ipc,
        "eval_arch": arch,
        "comparisons": len(done),
        "lower": outcomes.count("lower"),
        "within_spread": outcomes.count("within"),
        "higher": outcomes.count("higher"),
        "mean_gap": sum(gaps) / len(gaps) if gaps else float("nan"),
        "verdict": "pending" if missing or not done else _verdict(outcomes),
        "detail": "; ".join(detail),
    }


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
        unbiased = 1.0 / 10  # K = 10 classes in every CMNIST-DD / CCIFAR10-DD variant
        severities = sorted(group["severity"].unique())
        ratio_pairs = []
        for severity in severities:
            ratios = sorted(r for r in group[group["severity"] == severity]["ratio"].unique() if r > unbiased + 1e-9)
            if not (group[group["severity"] == severity]["ratio"].round(6) == unbiased).any():
                continue
            for ratio in ratios:
                ratio_pairs.append(
                    (
                        f"r{ratio:g} s{severity:g}",
                        _cell(measured, ratio, severity),
                        _cell(measured, unbiased, severity),
                    )
                )
        if ratio_pairs:
            rows.append(_row("ratio", key, ratio_pairs))
        severity_pairs = []
        top = severities[-1] if severities else None
        for ratio in sorted(group["ratio"].unique()):
            for severity in severities[:-1]:
                both = group[group["ratio"] == ratio]["severity"].unique()
                if top in both and severity in both:
                    severity_pairs.append(
                        (
                            f"r{ratio:g}: s{top:g} vs s{severity:g}",
                            _cell(measured, ratio, top),
                            _cell(measured, ratio, severity),
                        )
                    )
        if severity_pairs:
            rows.append(_row("severity", key, severity_pairs))
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
