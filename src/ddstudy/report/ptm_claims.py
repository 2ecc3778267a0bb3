"""``tables/ptm_claims.{csv,md}``: the four claims of the PTM study judged on the grid's own evaluations.

Lu et al. (arXiv 2310.03295, "Dataset Distillation with Pre-trained Models: A Contrastive Approach") claim that
(1) more diverse PTMs — more inits, more architectures — make better synthetic sets; (2) sub-optimal PTMs (early
epochs) also help, and sometimes beat well-trained ones; (3) domain-specific PTMs are not mandatory, but a
reasonable domain match is crucial; (4) with the best options CLoM improves cross-architecture generalisation.
The grid's ``clom`` block varies one axis at a time around a centre setting, each cell paired with the same method
without CLoM (same seeds), so each claim is a set of comparisons, read here per dataset × method × IPC:

* **diversity** — each larger init count and each multi-architecture pool against the centre (expected higher);
* **early epochs** — each earlier PTM epoch against the plain method (expected higher: it helps); how many also
  beat the centre's last epoch is said beside it;
* **domain** — (a) out-of-domain PTMs (another source, cosine distance) against the plain method (expected higher:
  not mandatory), (b) in-domain PTMs with the same distance against the out-of-domain ones (expected higher: the
  match matters);
* **cross-architecture** — the centre against the plain set on every evaluation architecture other than the one
  it was distilled with (expected higher).

The comparison rule and verdicts are the bias claims' (:func:`ddstudy.report.bias_claims.judge`): a gap counts
when it exceeds √(σ₁² + σ₂²) of the two cells' stds over evaluation networks. Nothing is typed by hand.
"""

from __future__ import annotations

from dataclasses import asdict

import pandas as pd

from ddstudy.report.bias_claims import judge
from ddstudy.report.ptm import clom_columns

CLAIMS = {
    "diversity": "more diverse PTMs (more inits, more architectures) make better synthetic sets",
    "early_epochs": "sub-optimal PTMs (early epochs) also help",
    "domain_not_mandatory": "domain-specific PTMs are not mandatory (out-of-domain PTMs help too)",
    "domain_match": "a reasonable domain match is crucial (in-domain above out-of-domain, same distance)",
    "cross_arch": "CLoM improves cross-architecture generalisation",
}
COLUMNS = [
    "claim",
    "dataset",
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
NONE = {"clom_distance": "none", "zoo_source": None, "zoo_archs": None, "zoo_inits": None, "zoo_epoch": None}


def planned_ptm_rows(study) -> pd.DataFrame:
    """Every evaluation the grid plans of a (dataset, method, IPC) group that has clom-block cells, no mitigation:
    dataset, method, ipc, eval_arch, model (what the set was distilled with), set_name and the CLoM columns."""
    cells = {c.name: c for c in study.cells}
    block = set(study.clom_cells)  # not the ptm_bias block's CLoM cells: they vary the PTMs' bias, not an axis
    guided = {(c.dataset, c.config.method, c.config.ipc) for c in study.cells if c.name in block}
    rows = []
    for name, arch in study.evaluations:
        cell = cells[name]
        key = (cell.dataset, cell.config.method, cell.config.ipc)
        if key not in guided or getattr(cell.config, "debias", "none") != "none" or (cell.clom and name not in block):
            continue
        columns = clom_columns(asdict(cell.clom)) if cell.clom else NONE
        rows.append(
            dict(zip(("dataset", "method", "ipc"), key, strict=True))
            | {"eval_arch": arch, "model": cell.config.model, "set_name": cell.set_name}
            | columns
        )
    return pd.DataFrame(rows)


def _same(a, b) -> bool:
    """Equal as table values: 5 and 5.0 alike (a column with a none row is float), else as text."""
    try:
        return float(a) == float(b)
    except (TypeError, ValueError):
        return str(a) == str(b)


def _axis_value(row, centre: dict) -> tuple[str, object] | None:
    """(axis, value) when ``row`` differs from the centre in exactly one axis — the domain's value is (distance,
    source) —, ("centre", None) for the centre itself, None when it differs in several."""
    differing = [
        key for key in ("zoo_inits", "zoo_archs", "zoo_epoch", "clom_alpha") if not _same(row[key], centre[key])
    ]
    if (row["clom_distance"], row["zoo_source"]) != (centre["clom_distance"], centre["zoo_source"]):
        differing.append("domain")
    if not differing:
        return "centre", None
    if len(differing) > 1:
        return None
    axis = differing[0]
    return axis, (row["clom_distance"], row["zoo_source"]) if axis == "domain" else row[axis]


def ptm_claims_frame(ptm: pd.DataFrame, planned: pd.DataFrame, centre: dict | None) -> pd.DataFrame:
    """One row per claim × (dataset, method, IPC, architecture) the grid can test; comparisons whose cells are not
    evaluated yet are pending. ``ptm``: the ptm_study rows (:func:`ddstudy.report.ptm.ptm_tables`); ``centre``:
    the CLoM columns of the grid's centre setting."""
    if centre is None or planned.empty:
        return pd.DataFrame(columns=COLUMNS)
    measured = {
        (r["dataset"], r["method"], r["ipc"], r["eval_arch"], r["set_name"]): r for _, r in ptm.iterrows()
    }  # fmt: skip
    rows = []
    for key, group in planned.groupby(["dataset", "method", "ipc"], sort=False):
        rows += _group_claims(key, group, measured, centre)
    return pd.DataFrame(rows, columns=COLUMNS)


def _group_claims(key: tuple, group: pd.DataFrame, measured: dict, centre: dict) -> list[dict]:
    """The claims' rows of one (dataset, method, IPC) group of planned evaluations."""
    dataset, method, ipc = key
    rows: list[dict] = []
    model = group["model"].iloc[0]
    plain = group[group["clom_distance"] == "none"]["set_name"].iloc[0]
    axes = {r["set_name"]: _axis_value(r, centre) for _, r in group.iterrows() if r["clom_distance"] != "none"}
    by_axis: dict[str, list[tuple[object, str]]] = {}
    for set_name, axis in axes.items():
        if axis is not None:
            by_axis.setdefault(axis[0], []).append((axis[1], set_name))
    centre_set = next((s for v, s in by_axis.get("centre", [])), None)
    if centre_set is None:
        return rows

    def cell(set_name, arch=model):
        return measured.get((dataset, method, ipc, arch, set_name))

    def claim(name, pairs, arch=model, expected="higher", note=""):
        if pairs:
            verdict = judge(pairs, expected)
            if note:
                verdict["detail"] += f"; {note}"
            rows.append({"claim": name, "dataset": dataset, "method": method, "ipc": ipc, "eval_arch": arch} | verdict)

    diverse = [
        (f"{int(v)} inits vs {int(centre['zoo_inits'])}", cell(s), cell(centre_set))
        for v, s in by_axis.get("zoo_inits", [])
        if int(v) > int(centre["zoo_inits"])
    ] + [
        (f"pool {v} vs {centre['zoo_archs']}", cell(s), cell(centre_set))
        for v, s in by_axis.get("zoo_archs", [])
        if "+" in str(v)
    ]
    claim("diversity", diverse)
    early = sorted(
        ((int(v), s) for v, s in by_axis.get("zoo_epoch", []) if int(v) < int(centre["zoo_epoch"])),
        key=lambda e: e[0],
    )
    beats = [
        e for e, s in early if cell(s) is not None and cell(centre_set) is not None
        and cell(s)["acc_mean"] > cell(centre_set)["acc_mean"]
    ]  # fmt: skip
    claim(
        "early_epochs",
        [(f"epoch {e} vs no CLoM", cell(s), cell(plain)) for e, s in early],
        note=f"above the centre's epoch {centre['zoo_epoch']}: epochs {', '.join(map(str, beats)) or 'none'}",
    )
    domains = {(centre["clom_distance"], centre["zoo_source"]): centre_set}
    domains |= {value: s for value, s in by_axis.get("domain", [])}
    home = centre["zoo_source"]
    outside = {(d, src): s for (d, src), s in domains.items() if src != home}
    claim(
        "domain_not_mandatory",
        [(f"{d} PTMs of {src} vs no CLoM", cell(s), cell(plain)) for (d, src), s in outside.items()],
    )
    claim(
        "domain_match",
        [
            (f"{d} PTMs of {home} vs of {src}", cell(domains[(d, home)]), cell(s))
            for (d, src), s in outside.items()
            if (d, home) in domains
        ],
    )
    for arch in sorted(set(group["eval_arch"]) - {model}):
        if ((group["eval_arch"] == arch) & (group["set_name"] == centre_set)).any():
            pair = (f"centre vs no CLoM on {arch}", cell(centre_set, arch), cell(plain, arch))
            claim("cross_arch", [pair], arch)
    return rows


def ptm_claims_markdown(frame: pd.DataFrame) -> str:
    lines = [
        "# The PTM study's claims, judged on this grid",
        "",
        "Lu et al. (arXiv 2310.03295). Gaps in accuracy points on the test set; a gap counts as higher or lower when "
        "it exceeds √(σ₁² + σ₂²) of the two cells (std over evaluation networks), else *within spread*. Verdict: "
        "supported (more than half of the comparisons higher), not supported, inconclusive, pending (a cell not "
        "evaluated yet). Each CLoM cell shares the seeds of its plain set (paired).",
    ]
    for claim, text in CLAIMS.items():
        block = frame[frame["claim"] == claim]
        if block.empty:
            continue
        lines += [
            "",
            f"## {claim.replace('_', ' ')}: {text}",
            "",
            "| dataset | method | IPC | arch | lower / within / higher of n | mean gap | verdict | per comparison |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for row in block.itertuples(index=False):
            gap = "—" if pd.isna(row.mean_gap) else f"{row.mean_gap:+.1f}"
            lines.append(
                f"| {row.dataset} | {row.method} | {int(row.ipc)} | {row.eval_arch} | {row.lower} / "
                f"{row.within_spread} / {row.higher} of {row.comparisons} | {gap} | **{row.verdict}** | {row.detail} |"
            )
    return "\n".join(lines) + "\n"
