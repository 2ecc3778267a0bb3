"""The metrics record an evaluation writes (``metrics/<dataset>/<set>/<arch>.json``): how to recognise one and how
to read one back validated. No torch here: the report reads records without loading the training code."""

from __future__ import annotations

from pathlib import Path

from ddstudy.errors import DDStudyError
from ddstudy.io import read_json
from ddstudy.outputs import ArtifactKind, json_with_keys

# A file is a metrics record ddstudy wrote when it names the cell, the architecture, the accuracy and the runs.
METRICS_KEYS = ("cell", "dataset", "method", "eval_arch", "acc_mean", "acc_std", "n_runs")
METRICS_FILE = ArtifactKind("metrics file", False, json_with_keys(*METRICS_KEYS))
# Numbers a record holds and their ranges: accuracies and their spreads are fractions; a gap lies in [-1, 1].
_FRACTION_KEYS = (
    "acc_mean", "acc_std", "acc_aligned_mean", "acc_aligned_std", "acc_conflicting_mean", "acc_conflicting_std",
    "worst_group_acc_mean", "worst_group_acc_std", "deo_m_mean", "deo_m_std", "deo_a_mean", "deo_a_std",
    "suff_m_mean", "suff_m_std", "suff_a_mean", "suff_a_std", "attribute_gap_std", "train_acc_mean",
    "train_aligned_fraction",
)  # fmt: skip


def _number_in(value, low: float, high: float) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and low <= value <= high  # NaN fails too


def read_metrics(path: str | Path) -> dict:
    """A metrics record, validated on load (one line naming the file and the field otherwise): the keys every
    table reads, strings where names are expected, ``n_runs`` a positive integer with as many run accuracies,
    and every accuracy, spread and gap a finite number in its range (or null where it is undefined)."""
    path = Path(path)
    record = read_json(path)
    if not isinstance(record, dict):
        raise DDStudyError(f"{path}: not a metrics record (a JSON object expected); re-run its evaluation")
    missing = [key for key in METRICS_KEYS if key not in record]
    if missing:
        raise DDStudyError(f"{path}: not a metrics record (missing {', '.join(missing)}); re-run its evaluation")
    for key in ("cell", "dataset", "method", "eval_arch"):
        if not isinstance(record[key], str) or not record[key]:
            raise DDStudyError(f"{path}: {key} must be a name, got {record[key]!r}; re-run its evaluation")
    runs = record["n_runs"]
    if not isinstance(runs, int) or isinstance(runs, bool) or runs < 1:
        raise DDStudyError(f"{path}: n_runs must be a positive integer, got {runs!r}; re-run its evaluation")
    if record["acc_mean"] is None:
        raise DDStudyError(f"{path}: acc_mean is null; re-run its evaluation")
    for key in _FRACTION_KEYS:
        if record.get(key) is not None and not _number_in(record[key], 0.0, 1.0):
            raise DDStudyError(f"{path}: {key} must be a number in [0, 1], got {record[key]!r}; re-run its evaluation")
    if record.get("attribute_gap_mean") is not None and not _number_in(record["attribute_gap_mean"], -1.0, 1.0):
        raise DDStudyError(f"{path}: attribute_gap_mean must be in [-1, 1], got {record['attribute_gap_mean']!r}")
    accs = record.get("accs")
    if accs is not None and (
        not isinstance(accs, list) or len(accs) != runs or not all(_number_in(a, 0.0, 1.0) for a in accs)
    ):
        raise DDStudyError(f"{path}: accs must list {runs} accuracies in [0, 1]; re-run its evaluation")
    return record
