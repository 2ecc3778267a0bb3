"""The spread between draws of a selection baseline (random real images): one row per draw, one summary per dataset.

A random-real-images cell of a paper (FairDD Tab. 2's "random" row) is a single draw, evaluated by many networks;
the networks' std says nothing about how much another draw would give. ``workflow/scripts/random-draws.sh``
re-selects a cell with other seeds and evaluates each draw with the cell's protocol; this table puts the draws
side by side — with each draw's number of bias-conflicting images, the variable a draw changes — so that the
published value can be placed within the spread of draws (docs/reproduction.md, "Investigation").
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ddstudy.data.store import load_split
from ddstudy.errors import DDStudyError
from ddstudy.outputs import ArtifactKind
from ddstudy.report.records import read_records
from ddstudy.report.tables import fmt_acc, markdown_table

HEADER = "<!-- ddstudy report draws: the spread between random draws -->\n"
# The Markdown summary is recognised by its first line, so a rerun replaces its own file and nothing else.
SUMMARY = ArtifactKind("random-draws summary", False, lambda path: path.read_text(errors="replace").startswith(HEADER))

COLUMNS = ["dataset", "seed", "n_runs", "acc_mean", "acc_std", "acc_conflicting_mean", "acc_aligned_mean",
           "conflicting_images", "images", "cell", "record"]  # fmt: skip


def conflicting_images(set_dir: Path, aligned: np.ndarray) -> tuple[int, int] | None:
    """(bias-conflicting images, images) of a selection, from the training indices it stores and the training
    split's aligned mask; None where the set is not there (the count is then left blank, not guessed)."""
    synthetic = set_dir / "synthetic.npz"
    if not synthetic.is_file():
        return None
    with np.load(synthetic, allow_pickle=False) as stored:
        if "indices" not in stored.files:
            return None
        indices = stored["indices"]
    return int((~aligned[indices]).sum()), len(indices)


def draw_table(
    records: list[Path], datasets_dir: str | Path | None = None, synthetic_dir: str | Path | None = None
) -> tuple[pd.DataFrame, list[str]]:
    """One row per evaluation record of a selection: its draw's seed (the selection's, from the record's
    distillation config), the accuracies, and — when ``datasets_dir`` holds the dataset — how many of the drawn
    images are bias-conflicting. The set is looked for beside the record (``<record folder>/<set name>``, the
    layout of ``random-draws.sh``) and under ``synthetic_dir/<cell>`` (a grid's layout)."""
    rows, problems = [], []
    masks: dict[str, np.ndarray | None] = {}  # per dataset, the training split's aligned mask (read once)
    for path in map(Path, records):
        read, trouble = read_records([path])
        problems += trouble
        if not read:
            continue
        record = read[0]
        counts = None
        if datasets_dir is not None and record["dataset"] not in masks:
            dataset_dir = Path(datasets_dir) / record["dataset"]
            masks[record["dataset"]] = (
                load_split(dataset_dir, "train").aligned if (dataset_dir / "meta.json").is_file() else None
            )
        if masks.get(record["dataset"]) is not None:
            places = [path.parent / record["set_name"]]
            places += [Path(synthetic_dir) / record["cell"]] if synthetic_dir else []
            for set_dir in places:
                counts = counts or conflicting_images(set_dir, masks[record["dataset"]])
        rows.append(
            {
                "dataset": record["dataset"],
                "seed": record["distill_config"].get("seed"),
                "n_runs": record["n_runs"],
                "acc_mean": record["acc_mean"],
                "acc_std": record["acc_std"],
                "acc_conflicting_mean": record.get("acc_conflicting_mean"),
                "acc_aligned_mean": record.get("acc_aligned_mean"),
                "conflicting_images": None if counts is None else counts[0],
                "images": None if counts is None else counts[1],
                "cell": record["cell"],
                "record": str(path),
            }
        )
    if not rows:
        raise DDStudyError(f"no readable evaluation record among {len(records)} paths; evaluate the draws first")
    frame = pd.DataFrame(rows, columns=COLUMNS).sort_values(["dataset", "seed"], kind="stable")
    return frame.reset_index(drop=True), problems


def parse_published(items: list[str]) -> dict[str, float]:
    """``DATASET=PERCENT`` pairs (the CLI's ``--published``) as a dict; a malformed one is refused by name."""
    published = {}
    for item in items:
        dataset, _, value = item.partition("=")
        try:
            published[dataset] = float(value)
        except ValueError:
            raise DDStudyError(
                f"--published {item!r}: not DATASET=PERCENT; e.g. fashion-mnist-fg-color-r0.9-s1-tuniform=32.8"
            ) from None
    return published


def draws_markdown(frame: pd.DataFrame, published: dict[str, float] | None = None) -> str:
    """Per dataset: every draw, then the spread of the draws' means (mean ± std over draws, min–max) and, when
    given (by dataset or by cell, ``<dataset>/<set name>``), where the published value falls in it."""
    published = published or {}
    parts = []
    for dataset, block in frame.groupby("dataset", sort=True):
        rows = [
            [
                int(row.seed),
                fmt_acc(row.acc_mean, row.acc_std, row.n_runs),
                fmt_acc(row.acc_conflicting_mean),
                fmt_acc(row.acc_aligned_mean),
                "—" if pd.isna(row.conflicting_images) else f"{int(row.conflicting_images)} of {int(row.images)}",
            ]
            for row in block.itertuples()
        ]
        means = 100 * block["acc_mean"].to_numpy()
        spread = means.std(ddof=1) if len(means) > 1 else 0.0
        line = (
            f"{len(means)} draws: mean {means.mean():.2f} ± {spread:.2f} (std over draws), "
            f"range {means.min():.2f}–{means.max():.2f} %"
        )
        value = next((published[key] for key in [dataset, *block["cell"]] if key in published), None)
        if value is not None:
            below = int((means < value).sum())
            line += f"; published {value:.2f}: {below} of {len(means)} draws below it"
        header = ["selection seed", "accuracy (n networks)", "conflicting", "aligned", "conflicting images"]
        parts.append(f"### {dataset}\n\n" + markdown_table(header, rows) + f"\n{line}\n")
    return HEADER + "\n".join(parts)
