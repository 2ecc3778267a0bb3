"""`ddstudy report`: Markdown tables from hand-made metrics, every figure function, the README index."""

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

from ddstudy.report import figures
from ddstudy.report.study import write_report
from ddstudy.report.tables import bias_markdown, fmt_acc, ptm_markdown, zoo_markdown
from ddstudy.study import study_from_params

PARAMS = {
    "grid": "t",
    "grids": {
        "t": {
            "description": "tiny",
            "datasets": [{"source": "fashion-mnist", "bias": "color", "ratios": [0.0, 0.9], "severities": [1, 2]}],
            "distill": {"model": "ConvNetW32", "methods": {"dm": {"ipcs": [10]}, "random": {"ipcs": [10]}, "full": {}}},
        }
    },
}


def metrics_record(cell: str, arch: str, acc: float, ratio: float, severity: int, aligned=0.9, clom=None) -> dict:
    dataset, set_name = cell.split("/")
    method = set_name.split("_")[0]
    return {
        "cell": cell,
        "dataset": dataset,
        "source": "fashion-mnist",
        "bias": "color",
        "ratio": ratio,
        "severity": severity,
        "method": method,
        "ipc": None if method == "full" else 10,
        "eval_arch": arch,
        "acc_mean": acc,
        "acc_std": 0.01,
        "n_runs": 3,
        "acc_aligned_mean": aligned,
        "acc_conflicting_mean": acc - 0.05,
        "train_aligned_fraction": ratio,
        "distill_model": "ConvNetW32",
        "eval_config": {"epochs": 300, "augment": "none"},
        "extra": {"clom": clom} if clom else {},
    }


@pytest.fixture()
def populated(tmp_path):
    study = study_from_params(PARAMS)
    metrics = tmp_path / "metrics"
    written = 0
    for k, (cell, arch) in enumerate(study.evaluations):
        if cell.endswith("random_ipc10") and "r0.9-s2" in cell:
            continue  # a missing metrics file: its cell must show as missing, not be filled in
        dataset = cell.split("/")[0]
        ratio = 0.9 if "-r0.9-" in dataset else 0.0
        severity = 2 if "-s2" in dataset else 1
        path = metrics / cell / f"{arch}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(metrics_record(cell, arch, 0.5 + 0.01 * k, ratio, severity)))
        written += 1
    broken = metrics / study.evaluations[0][0] / "broken.json"
    broken.write_text("{")
    return study, tmp_path, written


def test_bias_markdown_means_stds_counts_and_missing(populated):
    study, root, _ = populated
    from ddstudy.report.bias_table import bias_table
    from ddstudy.report.records import study_records

    records, problems = study_records(study, root / "metrics")
    frame = bias_table(records)
    assert any("random_ipc10" in p and "r0.9-s2" in p for p in problems)  # missing file reported by path
    text = bias_markdown(frame)
    assert "| ratio 0 | ratio 0.9 |" in text
    dm = frame[(frame.method == "dm") & (frame.ratio == 0.0) & (frame.severity == 1)].iloc[0]
    protocol = f"{dm.eval_epochs} epochs, {'no aug.' if dm.eval_augment == 'none' else 'DSA aug.'}"
    assert f"| dm | {protocol} | {fmt_acc(dm.acc_mean, dm.acc_std, 3)} |" in text
    assert "| method | trained | ratio 0 | ratio 0.9 |" in text  # every block states its rows' protocol
    assert "± 1.00 (3)" in text and "—" in text  # the missing random cell at ratio 0.9, severity 2
    assert "**Aligned / conflicting test accuracy**" in text


def test_write_report_outputs_and_index(populated):
    study, root, written = populated
    results = root / "results"
    (results / "tables").mkdir(parents=True)
    pd.DataFrame(
        {
            "dataset": ["d"] * 2,
            "arch": ["LeNet"] * 2,
            "recipe": ["SGD 0.01, momentum 0.9, wd 0.005, 3 epochs"] * 2,
            "init": [0, 1],
            "epoch": [3, 3],
            "train_acc": [0.9, 0.8],
            "test_acc": [0.5, 0.6],
            "test_acc_aligned": [None, None],
            "test_acc_conflicting": [None, None],
        }
    ).to_csv(results / "tables" / "zoo.csv", index=False)
    files, problems = write_report(study, results, root / "metrics", root / "synthetic")
    assert problems and all(p.startswith(str(root)) for p in problems)
    names = {p.relative_to(results).as_posix() for p in files}
    assert {"tables/bias_study.md", "metrics/zoo/d/LeNet.json", "README.md"} <= names
    # zoo.md is the table of a grid with a zoo (REPORT_TABLES; the report rule declares it so): not this one's
    assert not study.zoo and "tables/zoo.md" not in names
    assert any(n.endswith("-acc-by-ratio.png") for n in names)
    assert any(n.endswith("-heatmap.png") for n in names)  # two severities × two ratios
    assert any(n.endswith("-aligned-vs-conflicting.png") for n in names)
    assert len(list((results / "metrics" / "bias_study").rglob("*.json"))) == written
    assert json.loads((results / "metrics/zoo/d/LeNet.json").read_text())["test_acc_mean"] == pytest.approx(0.55)
    index = (results / "README.md").read_text()
    present = sorted(
        [
            p.relative_to(results).as_posix()
            for p in results.rglob("*")
            if p.is_file() and p.name != "README.md" and not p.relative_to(results).as_posix().startswith("metrics/")
        ]
        + ["metrics/"]
    )
    listed = sorted(line.split("](")[1].split(")")[0] for line in index.splitlines() if line.startswith("| ["))
    assert listed == present
    assert "grid **t**" in index and "Metrics left out" in index
    # a stale figure of another grid disappears on the next run; a file ddstudy did not draw stays
    shutil.copy(next((results / "figures" / "bias").glob("*.png")), results / "figures" / "bias" / "old-grid.png")
    (results / "figures" / "bias" / "mine.png").write_bytes(b"x")
    (results / "metrics" / "bias_study" / "old.json").write_text("{}")
    write_report(study, results, root / "metrics", root / "synthetic")
    assert not (results / "figures" / "bias" / "old-grid.png").exists()
    assert (results / "figures" / "bias" / "mine.png").read_bytes() == b"x"
    assert not (results / "metrics" / "bias_study" / "old.json").exists()


def test_every_figure_function_writes_a_png(tmp_path):
    frame = pd.DataFrame(
        {
            "method": ["dm", "dm", "random", "random", "full", "full"],
            "ipc": [10, 10, 10, 10, None, None],
            "ratio": [0.0, 0.9] * 3,
            "severity": [1] * 6,
            "acc_mean": [0.6, 0.3, 0.5, 0.2, 0.8, 0.4],
            "acc_std": [0.01] * 6,
            "n_runs": [2] * 6,
            "acc_aligned": [0.6, 0.9, 0.5, 0.95, 0.8, 0.99],
            "acc_conflicting": [0.6, 0.2, 0.5, 0.1, 0.8, 0.3],
        }
    )
    paths = [
        figures.plot_acc_by_ratio(frame, tmp_path / "a.png", "t"),
        figures.plot_aligned_conflicting(frame, tmp_path / "b.png", "t"),
        figures.plot_ratio_severity_heatmap(frame.assign(severity=[1, 1, 2, 2, 3, 3]), tmp_path / "c.png", "t"),
    ]
    centre = {
        "clom_distance": "ce",
        "zoo_source": "z",
        "zoo_inits": 1,
        "zoo_archs": "ConvNet",
        "zoo_epoch": 150,
        "clom_alpha": "1000",
    }
    ptm = pd.DataFrame(
        [
            {**centre, "acc_mean": 0.5, "acc_std": 0.01, "gain_vs_no_clom": 0.02},
            {**centre, "zoo_epoch": 10, "acc_mean": 0.52, "acc_std": 0.01, "gain_vs_no_clom": 0.04},
            {
                **centre,
                "clom_distance": "cos",
                "zoo_source": "other",
                "acc_mean": 0.47,
                "acc_std": 0.02,
                "gain_vs_no_clom": -0.01,
            },
            {"clom_distance": "none", "acc_mean": 0.48, "acc_std": 0.01, "gain_vs_no_clom": 0.0},
        ]
    )
    paths.append(figures.plot_clom_gains(ptm, centre, tmp_path / "d.png", "t"))
    cross = pd.DataFrame(
        {
            "dataset": ["d", "d"],
            "method": ["dc", "dc"],
            "ipc": [10, 10],
            "set_name": ["dc_ipc10", "dc_ipc10_clom-x"],
            "ConvNet": [0.5, 0.55],
            "LeNet": [0.3, 0.33],
        }
    )
    settings = {"dc_ipc10": "without CLoM", "dc_ipc10_clom-x": "CLoM ce, PTMs trained on this dataset"}
    paths.append(figures.plot_cross_arch(cross, settings, tmp_path / "e.png", "t"))
    for path in paths:
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 5000
    ptm_full = ptm.assign(dataset="d", method="dc", ipc=10, eval_arch="ConvNet", n_runs=2, set_name="x")
    text = ptm_markdown(ptm_full, centre)
    assert "**PTM epoch**" in text and "**domain (distance, source)**" in text and "+4.00" in text
    zoo = pd.DataFrame({"dataset": ["d"], "arch": ["LeNet"], "recipe": ["r"], "epoch": [1], "test_acc": [0.5]})
    assert "| LeNet | 50.00 (1) |" in zoo_markdown(zoo)  # one init: no spread to show


def test_results_folder_recognised_without_its_index_beside_another_grid(tmp_path):
    """Snakemake deletes the report's outputs (README.md among them) before it reruns the report; the folder still
    holds the pipeline's entries and the results folder of another grid (results/repro/), and must be recognised —
    a foreign entry must not."""
    from ddstudy.report.study import INDEX_LEAD, INDEX_TITLE, RESULTS_FOLDER

    results = tmp_path / "results"
    (results / "tables").mkdir(parents=True)
    (results / "figures").mkdir()
    (results / "repro").mkdir()
    (results / "repro" / "README.md").write_text(f"{INDEX_TITLE}\n\n{INDEX_LEAD} for grid **repro**\n")
    assert RESULTS_FOLDER.made(results)
    (results / "notes.txt").write_text("mine")
    assert not RESULTS_FOLDER.made(results)


def test_report_captions_are_the_catalogs_and_every_report_section_has_one():
    """workflow/report/*.rst are generated from ddstudy.report.catalog (`ddstudy report captions --write`; stale →
    this fails), and every section a rule puts outputs in (`in_report("…")`) has its caption."""
    import re

    from ddstudy.report.catalog import CAPTIONS_DIR, captions, describe, section_slug

    texts = captions()
    for name, text in texts.items():
        assert (CAPTIONS_DIR / f"{name}.rst").read_text() == text, "stale: run `ddstudy report captions --write`"
    rules = "".join(p.read_text() for p in Path("workflow/rules").glob("*.smk"))
    sections = set(re.findall(r'in_report\("([^"]+)"\)', rules))
    assert sections and {section_slug(s) for s in sections} <= set(texts)
    assert describe("figures/bias/x-s4-ConvNet-acc-by-ratio.png").startswith("test accuracy vs bias-aligned ratio")
    assert describe("repro/") == "the results folder of another grid (its own README.md)"
    assert describe("tables/unknown.csv") == "(generated file)"


def test_every_report_table_has_one_writer_a_catalog_line_and_the_rule_declares_it():
    """The report's tables are listed once (ddstudy.report.catalog.REPORT_TABLES): each has its writer, each file a
    line in the results index, and the report rule's outputs are derived from the list (no condition repeated)."""
    from ddstudy.report.catalog import REPORT_TABLES, describe, report_table_files, report_tables
    from ddstudy.report.study import TABLE_WRITERS
    from ddstudy.study import load_study

    assert [t.name for t in REPORT_TABLES] == list(TABLE_WRITERS)
    for table in REPORT_TABLES:
        for name in table.files:
            assert describe(f"tables/{name}") != "(generated file)", name
    demo, repro = load_study("params.yaml", "demo"), load_study("params.yaml", "repro")
    assert {t.name for t in report_tables(demo)} == {"bias_study", "ptm_study", "ptm_claims", "zoo", "debias", "ptm_bias"}
    assert {t.name for t in report_tables(repro)} == {"bias_study", "bias_claims", "zoo", "debias", "reproduction"}
    assert "results/repro/tables/reproduction.md" in report_table_files(repro, "results/repro/tables")
    assert "report_table_files(STUDY, TABLES_DIR)" in Path("workflow/rules/report.smk").read_text()


def test_fairness_figure_draws_a_bar_per_mode_in_the_methods_colour(tmp_path):
    """The fair-DD comparison figure: one panel per method × IPC, each mode a bar in the method's colour per metric."""
    import matplotlib.colors
    import matplotlib.image
    import numpy as np

    from ddstudy.report.figures import FAIRNESS_BARS, plot_fairness_by_mode
    from ddstudy.report.style import method_style

    rows = []
    for method, ipc in (("dm", 10), ("dc", 1)):
        for k, mode in enumerate(("none", "fairdd", "cobra")):
            rows.append({"method": method, "ipc": ipc, "debias": mode, "n_runs": 2, "acc_mean": 0.3 + 0.1 * k,
                         "acc_std": 0.01, "acc_conflicting": 0.2 + 0.1 * k, "acc_conflicting_std": 0.02,
                         "worst_group_acc": 0.1, "deo_a": 0.9 - 0.2 * k, "suff_a": 0.7})  # fmt: skip
    png = plot_fairness_by_mode(pd.DataFrame(rows), tmp_path / "fair.png", "title — sub")
    pixels = matplotlib.image.imread(png)[..., :3]
    for method in ("dm", "dc"):
        rgb = np.array(matplotlib.colors.to_rgb(method_style(method)["color"]))
        # the bars are drawn at alpha 0.85 over white: the method's colour mixed with 15 % white
        shade = 0.85 * rgb + 0.15
        share = (np.abs(pixels - shade).max(axis=-1) < 0.03).mean()
        assert share > 0.01, method  # each method's bars cover a visible part of the figure
    assert len(FAIRNESS_BARS) == 5


def test_fairness_figure_hatches_a_mode_alike_in_every_panel(tmp_path, monkeypatch):
    """A mode keeps its hatching whichever modes a panel has (DM with five, DC with three): hatches follow the
    registry's order, not the position in the panel; the legend sits below the bars."""
    from ddstudy.report.figures import plot_fairness_by_mode

    drawn = {}
    monkeypatch.setattr(figures, "save_figure", lambda fig, path, **kw: drawn.setdefault("fig", fig) and path)
    rows = [
        {"method": method, "ipc": ipc, "debias": mode, "n_runs": 2, "acc_mean": 0.5, "acc_std": 0.01,
         "acc_conflicting": 0.4, "acc_conflicting_std": 0.01, "worst_group_acc": 0.1, "deo_a": 0.3, "suff_a": 0.2}
        for method, ipc, modes in (("dm", 10, ("none", "fairdd", "kde-h0.2", "kde", "oracle", "cobra")),
                                   ("dc", 1, ("none", "fairdd", "cobra")))
        for mode in modes
    ]  # fmt: skip
    plot_fairness_by_mode(pd.DataFrame(rows), tmp_path / "fair.png", "t")
    hatches = []
    for ax in drawn["fig"].axes:
        legend = ax.get_legend()
        labels = [text.get_text().split(" ")[0] for text in legend.get_texts()]
        hatches.append(dict(zip(labels, (patch.get_hatch() for patch in legend.get_patches()), strict=True)))
        assert legend.get_bbox_to_anchor().y0 < ax.get_window_extent().y0  # below the axes
    dc, dm = sorted(hatches, key=len)
    assert all(dc[mode] == dm[mode] for mode in dc) and len(set(dm.values())) == 6
    assert list(dm) == ["none", "fairdd", "kde", "kde-h0.2", "oracle", "cobra"]  # another kernel after its mode's


def test_a_kde_set_of_another_kernel_is_a_mitigation_of_its_own():
    """The report tells KDE kernels apart as their set names do (``kde``, ``kde-h0.2``) and orders them after their
    mode in the registry's order."""
    from dataclasses import asdict

    from ddstudy.debias import KdeConfig
    from ddstudy.report.debias import debias_order
    from ddstudy.report.records import debias_of, mode_of

    def record(**kernel):
        return {
            "distill_config": {"debias": "kde"},
            "extra": {"debias": {"mode": "kde", "kde": asdict(KdeConfig(**kernel))}},
        }

    assert debias_of(record()) == "kde" and debias_of(record(bandwidth=0.2)) == "kde-h0.2"
    assert debias_of(record(bandwidth=0.2, beta=0.5)) == "kde-h0.2-b0.5" and mode_of("kde-h0.2-b0.5") == "kde"
    assert debias_of({"distill_config": {"debias": "fairdd"}, "extra": {"debias": {"mode": "fairdd"}}}) == "fairdd"
    assert debias_of({}) == "none"
    assert debias_order(["cobra", "kde-h0.2", "none", "kde", "fairdd"]) == [
        "none",
        "fairdd",
        "kde",
        "kde-h0.2",
        "cobra",
    ]
