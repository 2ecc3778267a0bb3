"""The random-draws table: one row per draw with its bias-conflicting images counted from the stored indices, the
spread over draws, the published value placed in it, and the CLI's refusals."""

import json
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ddstudy.cli import main
from ddstudy.data.store import load_split
from ddstudy.errors import DDStudyError
from ddstudy.report.draws import HEADER, draw_table, draws_markdown, parse_published


def _draw(root, dataset, seed, acc, conflicting_acc, indices=None):
    """A draw in random-draws.sh's layout: <root>/<dataset>/seed<S>/{ConvNet.json, random_ipc10/synthetic.npz}."""
    folder = root / dataset / f"seed{seed}"
    folder.mkdir(parents=True)
    record = {"cell": f"{dataset}/random_ipc10", "dataset": dataset, "eval_arch": "ConvNet", "method": "random"}
    record |= {"acc_mean": acc, "acc_std": 0.0, "n_runs": 1, "distill_config": {"method": "random", "seed": seed}}
    record |= {"acc_conflicting_mean": conflicting_acc, "acc_aligned_mean": 0.99}
    (folder / "ConvNet.json").write_text(json.dumps(record))
    if indices is not None:
        (folder / "random_ipc10").mkdir()
        np.savez(folder / "random_ipc10" / "synthetic.npz", indices=np.asarray(indices, dtype=np.int64))
    return folder / "ConvNet.json"


def test_draw_table_counts_conflicting_images_and_summarises(tmp_path, colour_variant):
    dataset = colour_variant.name
    aligned = load_split(colour_variant, "train").aligned
    conflicting, agreeing = np.flatnonzero(~aligned), np.flatnonzero(aligned)
    # draw 0: 3 conflicting of 5 images; draw 1: none; draw 2: no set beside it (count left blank, not guessed)
    paths = [
        _draw(tmp_path, dataset, 0, 0.30, 0.20, np.r_[conflicting[:3], agreeing[:2]]),
        _draw(tmp_path, dataset, 1, 0.40, 0.31, agreeing[:5]),
        _draw(tmp_path, dataset, 2, 0.35, 0.25),
    ]
    frame, problems = draw_table(paths[::-1], colour_variant.parent)
    assert problems == []
    assert list(frame["seed"]) == [0, 1, 2]
    assert list(frame["conflicting_images"][:2]) == [3, 0] and pd.isna(frame["conflicting_images"][2])
    assert list(frame["images"][:2]) == [5, 5]

    text = draws_markdown(frame, {dataset: 32.5})
    assert text.startswith(HEADER)
    assert "| 0 | 30.00 (1) | 20.00 | 99.00 | 3 of 5 |" in text
    assert "| 2 | 35.00 (1) | 25.00 | 99.00 | — |" in text
    # mean 35, std over draws (ddof 1) 5.00, one of three draws below 32.5
    assert (
        "3 draws: mean 35.00 ± 5.00 (std over draws), range 30.00–40.00 %; published 32.50: 1 of 3 draws below it"
        in text
    )


def test_draw_table_reports_unreadable_records(tmp_path):
    good = _draw(tmp_path, "d", 0, 0.3, 0.2)
    broken = tmp_path / "broken.json"
    broken.write_text("{")
    frame, problems = draw_table([good, broken])
    assert len(frame) == 1 and len(problems) == 1 and "broken.json" in problems[0]
    with pytest.raises(DDStudyError, match="no readable evaluation record"):
        draw_table([broken])


def test_parse_published():
    assert parse_published(["a=32.8", "b-c=24.96"]) == {"a": 32.8, "b-c": 24.96}
    with pytest.raises(DDStudyError, match="not DATASET=PERCENT"):
        parse_published(["a:32.8"])


def test_cli_draws_writes_csv_and_markdown_and_keeps_foreign_files(tmp_path, capsys):
    record = _draw(tmp_path, "d", 0, 0.3, 0.2)
    out = tmp_path / "summary.csv"
    assert main(["report", "draws", str(record), "--out", str(out), "--published", "d=31"]) == 0
    assert out.read_text().startswith("dataset,seed,n_runs,acc_mean")
    assert "published 31.00: 1 of 1 draws below it" in out.with_suffix(".md").read_text()
    assert main(["report", "draws", str(record), "--out", str(out)]) == 0  # a rerun replaces its own files
    # the repro grid's published values, by cell (params grids.repro.published)
    fg = "fashion-mnist-fg-color-r0.9-s1-tuniform"
    grid_record = _draw(tmp_path / "grid", fg, 0, 0.3, 0.2)
    assert main(["report", "draws", str(grid_record), "--out", str(out), "--grid", "repro"]) == 0
    assert "published 32.80: 1 of 1 draws below it" in out.with_suffix(".md").read_text()

    foreign = tmp_path / "notes.md"
    foreign.write_text("my notes\n")
    code = main(["report", "draws", str(record), "--out", str(tmp_path / "other.csv"), "--markdown", str(foreign)])
    assert code == 2
    assert foreign.read_text() == "my notes\n" and not (tmp_path / "other.csv").exists()
    assert "--markdown" in capsys.readouterr().err


def test_random_draws_script_refuses_without_datasets(tmp_path):
    """make repro-draws before the repro datasets exist: one line naming the fix, exit 2, nothing written."""
    script = Path(__file__).parents[2] / "workflow" / "scripts" / "random-draws.sh"
    done = subprocess.run(["bash", str(script), "0", "1"], cwd=tmp_path, capture_output=True, text=True, check=False)
    assert done.returncode == 2
    assert done.stderr.strip().count("\n") == 0 and "make repro-resume" in done.stderr
    assert list(tmp_path.iterdir()) == []
