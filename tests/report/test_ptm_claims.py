"""The PTM study's claims table: each claim's comparisons found from the centre and its axes, verdicts from the
measured rows, pending where a planned evaluation is missing; only the clom block's cells are read."""

import pandas as pd

from ddstudy.report.ptm_claims import ptm_claims_frame, ptm_claims_markdown

CENTRE = {
    "clom_distance": "ce",
    "zoo_source": "fm",
    "zoo_archs": "ConvNet",
    "zoo_inits": 1,
    "zoo_epoch": 20,
    "clom_alpha": "1000",
}
NONE = {"clom_distance": "none", "zoo_source": None, "zoo_archs": None, "zoo_inits": None, "zoo_epoch": None}


def _row(set_name, acc, arch="ConvNet", std=0.005, **clom):
    setting = NONE | {"clom_alpha": None} if set_name == "dm_ipc10" else CENTRE | clom
    return {"dataset": "fm", "method": "dm", "ipc": 10, "eval_arch": arch, "model": "ConvNet", "set_name": set_name,
            "acc_mean": acc, "acc_std": std, "n_runs": 5} | setting  # fmt: skip


def test_each_claim_from_its_axis():
    rows = [
        _row("dm_ipc10", 0.80),
        _row("centre", 0.82),
        _row("i5", 0.85, zoo_inits=5),  # more inits: higher than the centre
        _row("pool", 0.821, zoo_archs="ConvNet+LeNet"),  # within spread of the centre
        _row("e1", 0.83, zoo_epoch=1),  # helps, and beats the centre's last epoch
        _row("e5", 0.78, zoo_epoch=5),  # hurts
        _row("e10", 0.81, zoo_epoch=10),  # helps a little (0.81 vs 0.80: beyond the 0.7-point spread)
        _row("cos-out", 0.75, clom_distance="cos", zoo_source="mnist"),  # out of domain hurts
        _row("cos-in", 0.84, clom_distance="cos"),  # in domain, same distance: above out of domain
        _row("dm_ipc10", 0.40, arch="LeNet"),
        _row("centre", 0.45, arch="LeNet"),
    ]
    frame = pd.DataFrame(rows)
    claims = ptm_claims_frame(frame, frame.drop(columns=["acc_mean", "acc_std", "n_runs"]), CENTRE)
    by = {(r.claim, r.eval_arch): r for r in claims.itertuples()}
    diversity = by[("diversity", "ConvNet")]
    assert (diversity.comparisons, diversity.higher, diversity.within_spread) == (2, 1, 1)
    assert diversity.verdict == "inconclusive"
    early = by[("early_epochs", "ConvNet")]
    assert (early.comparisons, early.higher, early.lower, early.verdict) == (3, 2, 1, "supported")
    assert "above the centre's epoch 20: epochs 1" in early.detail and early.detail.index(
        "epoch 1 "
    ) < early.detail.index("epoch 5 ")
    assert by[("domain_not_mandatory", "ConvNet")].verdict == "not supported"
    match = by[("domain_match", "ConvNet")]
    assert match.verdict == "supported" and "cos PTMs of fm vs of mnist: +9.0 (higher)" in match.detail
    cross = by[("cross_arch", "LeNet")]
    assert cross.verdict == "supported" and ("cross_arch", "ConvNet") not in by
    assert "## cross arch:" in ptm_claims_markdown(claims)


def test_missing_evaluations_are_pending():
    planned = pd.DataFrame([_row("dm_ipc10", 0.8), _row("centre", 0.82), _row("i2", 0.9, zoo_inits=2)])
    measured = planned[planned["set_name"] != "i2"]
    (row,) = ptm_claims_frame(measured, planned, CENTRE).itertuples()
    assert row.claim == "diversity" and row.verdict == "pending" and "2 inits vs 1: pending" in row.detail
