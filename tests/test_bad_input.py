"""Bad and hostile input, as a new user would give it: every case exits non-zero with one line naming the problem
and the fix (no traceback), touches none of the user's files, and creates nothing. In-process where possible."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from ddstudy.cli import main

REPO = Path(__file__).parents[1]


def snapshot(root: Path) -> dict[str, str]:
    """Every file (sha256) and folder under ``root``: what a refusal must leave exactly as it was."""
    state = {}
    for path in sorted(root.rglob("*")):
        key = str(path.relative_to(root))
        if path.is_symlink():
            state[key] = f"link to {os.readlink(path)}"
        else:
            state[key] = "dir" if path.is_dir() else hashlib.sha256(path.read_bytes()).hexdigest()
    return state


def refused(capsys, argv: list, *expected: str, code: int = 2) -> str:
    """Run the CLI in-process; assert the exit code and one ``ddstudy: error:`` line holding each ``expected``."""
    rc = main([str(a) for a in argv])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == code, err
    assert len(err) == 1, err
    assert err[0].startswith("ddstudy: error:") and "Traceback" not in err[0], err
    for text in expected:
        assert text in err[0], err[0]
    return err[0]


@pytest.fixture()
def dataset(tmp_path, colour_variant) -> Path:
    """A private copy of the colour-biased toy variant (a test may try to destroy it)."""
    folder = tmp_path / "datasets" / colour_variant.name
    shutil.copytree(colour_variant, folder)
    return folder


@pytest.fixture()
def user_folder(tmp_path) -> Path:
    """A folder of the user's own files that no command may touch."""
    folder = tmp_path / "mine"
    (folder / "sub").mkdir(parents=True)
    (folder / "notes.txt").write_text("thesis draft\n")
    (folder / "sub" / "data.csv").write_text("a,b\n1,2\n")
    return folder


SELECT = ["--method", "random", "--ipc", "1"]


# ------------------------------------------------------------------------------------------ the five destructive
def test_distill_out_is_its_own_dataset(capsys, dataset):
    before = snapshot(dataset)
    refused(
        capsys, ["distill", "--dataset-dir", dataset, *SELECT, "--out", dataset], "--dataset-dir this command reads"
    )
    assert snapshot(dataset) == before


@pytest.mark.parametrize("command", ["distill", "build", "zoo", "evaluate-folder"])
def test_out_is_an_unrelated_folder(capsys, dataset, user_folder, fashion_dir, command):
    before = snapshot(user_folder)
    argv = {
        "distill": ["distill", "--dataset-dir", dataset, *SELECT, "--out", user_folder],
        "build": ["data", "build", "--source", "fashion-mnist", "--fashion-mnist-dir", fashion_dir, "--out",
                  user_folder],
        "zoo": ["zoo", "train", "--dataset-dir", dataset, "--arch", "ConvNetW32", "--init", "0", "--out", user_folder],
        "evaluate-folder": [
            "evaluate", "--synthetic", dataset, "--dataset-dir", dataset, "--arch", "ConvNetW32", "--out", user_folder,
        ],
    }[command]  # fmt: skip
    message = refused(capsys, argv)
    assert "not a" in message and ("choose a new path or remove it" in message or "is a folder, not a file" in message)
    assert snapshot(user_folder) == before


def test_evaluate_out_inside_the_dataset(capsys, dataset):
    before = snapshot(dataset)
    argv = ["evaluate", "--synthetic", dataset, "--dataset-dir", dataset, "--arch", "ConvNetW32"]
    refused(capsys, [*argv, "--out", dataset / "meta.json"], "lies inside the --synthetic")
    assert snapshot(dataset) == before


def test_evaluate_replaces_only_a_metrics_file(capsys, tmp_path, dataset):
    other = tmp_path / "results.json"
    other.write_text('{"mine": true}\n')
    argv = ["evaluate", "--synthetic", dataset, "--dataset-dir", dataset, "--arch", "ConvNetW32", "--out", other]
    refused(capsys, argv, "is not a metrics file made by ddstudy")
    assert other.read_text() == '{"mine": true}\n'


@pytest.mark.parametrize("command", ["distill", "evaluate", "zoo", "weights"])
def test_timing_never_overwrites_a_users_file_nor_the_output(capsys, tmp_path, dataset, user_folder, command):
    """``--timing`` is refused before any work when it names a file ddstudy did not write, an input, or a path in
    the output; nothing is created."""
    out = tmp_path / "new" / ("m.json" if command == "evaluate" else "set")
    argv = {
        "distill": ["distill", "--dataset-dir", dataset, *SELECT],
        "evaluate": ["evaluate", "--synthetic", dataset, "--dataset-dir", dataset, "--arch", "ConvNetW32"],
        "zoo": ["zoo", "train", "--dataset-dir", dataset, "--arch", "ConvNetW32", "--init", "0"],
        "weights": ["debias", "weights", "--dataset-dir", dataset, "--zoo-root", tmp_path / "zoo"],
    }[command] + ["--out", out]  # fmt: skip
    before = snapshot(user_folder), snapshot(dataset)
    mine = user_folder / "notes.txt"
    refused(capsys, [*argv, "--timing", mine], "--timing", "is not a timing record made by ddstudy")
    refused(capsys, [*argv, "--timing", dataset / "meta.json"], "--timing", "this command reads")
    if command in ("distill", "zoo"):
        refused(capsys, [*argv, "--timing", out / "t.json"], "--timing", "lies in the --out")
    assert (snapshot(user_folder), snapshot(dataset)) == before
    assert not (tmp_path / "new").exists()


@pytest.mark.parametrize("where", ["cwd", "parent", "repository"])
def test_out_is_the_current_folder_a_parent_or_a_repository(capsys, monkeypatch, tmp_path, dataset, where):
    work = tmp_path / "work"
    (work / "project").mkdir(parents=True)
    (work / "project" / "keep.txt").write_text("keep\n")
    (work / "project" / ".git").mkdir()
    monkeypatch.chdir(work / "project")
    out = {"cwd": ".", "parent": "..", "repository": str(work / "project")}[where]
    before = snapshot(tmp_path)
    message = refused(capsys, ["distill", "--dataset-dir", dataset, *SELECT, "--out", out])
    assert any(s in message for s in ("current folder", "repository")), message
    refused(capsys, ["data", "build", "--source", "fashion-mnist", "--out", out])
    assert snapshot(tmp_path) == before


def test_out_is_the_home_folder(capsys, monkeypatch, tmp_path, dataset):
    home = tmp_path / "home"
    (home / "papers").mkdir(parents=True)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(tmp_path)
    refused(capsys, ["distill", "--dataset-dir", dataset, *SELECT, "--out", home], "home folder")
    assert (home / "papers").is_dir()


def test_our_own_artifact_is_replaced(capsys, tmp_path, dataset):
    out = tmp_path / "syn" / "random_ipc1"
    assert main(["distill", "--dataset-dir", str(dataset), *SELECT, "--out", str(out)]) == 0
    first = (out / "meta.json").read_bytes()
    assert main(["distill", "--dataset-dir", str(dataset), *SELECT, "--out", str(out)]) == 0
    assert (out / "meta.json").read_bytes() == first
    assert not list(out.parent.glob(".*"))  # no lock, staging or old folder left beside it
    capsys.readouterr()
    # ... but a synthetic set never takes the place of a dataset variant, nor the other way round
    refused(capsys, ["distill", "--dataset-dir", dataset, *SELECT, "--out", tmp_path / "datasets"], "contains")


# ------------------------------------------------------------------------------------------- one writer at a time
def _cli(*args) -> list[str]:
    return [sys.executable, "-m", "ddstudy", *map(str, args)]


def test_concurrent_runs_on_one_output(tmp_path, dataset):
    out = tmp_path / "syn" / "dm_ipc1"
    slow = ["distill", "--dataset-dir", dataset, "--method", "dm", "--ipc", "1", "--iterations", "400"]
    slow += ["--model", "ConvNetW32", "--batch-real", "16", "--threads", "1", "--out", out]
    first = subprocess.Popen(_cli(*slow), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lock = out.parent / ".dm_ipc1.lock"
    deadline = time.time() + 60
    while not lock.exists() and time.time() < deadline and first.poll() is None:
        time.sleep(0.05)
    assert lock.exists(), first.communicate()
    second = subprocess.run(_cli(*slow), capture_output=True, text=True, timeout=120)
    lines = second.stderr.strip().splitlines()
    assert second.returncode == 2 and len(lines) == 1, second.stderr
    assert "being written by another ddstudy run" in lines[0]
    holder = int(re.search(r"pid (\d+)", lines[0])[1])  # the writing process: ours, or its fork under the server
    assert holder == first.pid or "ddstudy.forkserver" in Path(f"/proc/{holder}/cmdline").read_bytes().decode()
    first.send_signal(signal.SIGKILL)  # the holder dies hard: the kernel releases its lock, the file stays
    first.communicate()
    assert lock.exists() and not out.exists()
    rerun = subprocess.run(_cli(*[a if a != "400" else "2" for a in slow]), capture_output=True, text=True)
    assert rerun.returncode == 0, rerun.stderr
    assert (out / "synthetic.npz").is_file() and not lock.exists()


def test_two_outputs_trained_together_never_share_staging(tmp_path):
    from ddstudy.outputs import exclusive

    target = tmp_path / "x"
    with exclusive(target):
        from ddstudy.errors import DDStudyError

        with pytest.raises(DDStudyError, match="being written by another ddstudy run"), exclusive(target):
            pass
    with exclusive(target):  # released on exit: a rerun takes it
        pass
    assert not (tmp_path / ".x.lock").exists()


# ---------------------------------------------------------------------------------------- tracebacks → one line
@pytest.mark.parametrize("threads", ["-2", "0", "two"])
def test_threads_out_of_range(capsys, tmp_path, dataset, threads):
    refused(
        capsys,
        ["distill", "--dataset-dir", dataset, *SELECT, "--out", tmp_path / "s", "--threads", threads],
        "--threads",
    )
    assert not (tmp_path / "s").exists()


def test_threads_range_is_the_schema_range():
    from ddstudy.study.schema import load_schema

    threads = load_schema()["properties"]["threads"]["properties"]
    assert {stage["minimum"] for stage in threads.values()} == {1}


@pytest.mark.parametrize("length, where", [(300, "before"), (250, "staging")])
def test_long_out_names_refused_up_front(capsys, tmp_path, dataset, length, where):
    out = tmp_path / ("x" * length)
    refused(capsys, ["distill", "--dataset-dir", dataset, *SELECT, "--out", out], "choose a shorter name")
    assert not list(tmp_path.glob("x*")) and not list(tmp_path.glob(".x*"))


def test_evaluate_a_folder_without_a_synthetic_set(capsys, tmp_path, dataset):
    folder = tmp_path / "syn"
    folder.mkdir()
    (folder / "meta.json").write_text(json.dumps({"cell": "x/y", "synthetic_sha256": "0"}))
    argv = [
        "evaluate",
        "--synthetic",
        folder,
        "--dataset-dir",
        dataset,
        "--arch",
        "ConvNetW32",
        "--out",
        tmp_path / "m.json",
    ]
    refused(capsys, argv, "synthetic.npz is missing")
    (tmp_path / "empty").mkdir()
    refused(capsys, [*argv[:2], tmp_path / "empty", *argv[3:]], "not a synthetic set")
    assert not (tmp_path / "m.json").exists()


def test_download_without_network(capsys, monkeypatch, tmp_path):
    import urllib.error
    import urllib.request

    def offline(*args, **kwargs):
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(urllib.request, "urlopen", offline)
    root = tmp_path / "raw"
    for source, where in (("cifar10", "cifar-10-batches-py"), ("mnist", "MNIST/raw")):
        argv = ["data", "build", "--source", source, "--download", "--data-root", root, "--out", tmp_path / "d"]
        message = refused(capsys, argv, "download failed", where, "without --download")
        assert "pass --download" not in message
    assert not root.exists() and not (tmp_path / "d").exists()


def test_missing_mnist_without_download_says_where(capsys, tmp_path):
    argv = ["data", "build", "--source", "mnist", "--data-root", tmp_path / "raw", "--out", tmp_path / "d"]
    refused(capsys, argv, "MNIST/raw", "pass --download")
    assert not (tmp_path / "raw").exists()


def test_closed_pipe_ends_quietly():
    reader = subprocess.Popen(
        _cli("data", "list", "--grid", "paper"), stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=REPO
    )
    reader.stdout.close()  # the reader is gone before the first line (`| head -0`)
    stderr = reader.stderr.read().decode()
    assert reader.wait() == 141 and stderr == ""


# ----------------------------------------------------------------------------------- silent acceptances → refused
def test_sample_weights_without_kde(capsys, tmp_path, dataset):
    weights = tmp_path / "w.npz"
    weights.write_bytes(b"")
    argv = ["distill", "--dataset-dir", dataset, "--method", "dm", "--ipc", "1", "--out", tmp_path / "s"]
    refused(capsys, [*argv, "--sample-weights", weights], "only with --debias kde")
    zoo = ["zoo", "train", "--dataset-dir", dataset, "--arch", "ConvNetW32", "--init", "0", "--out", tmp_path / "z"]
    refused(capsys, [*zoo, "--sample-weights", weights], "only with --debias kde")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["datasets", "w.npz"]


def test_synthetic_set_given_as_kde_weights(capsys, tmp_path, dataset):
    argv = ["distill", "--dataset-dir", dataset, "--method", "dm", "--ipc", "1", "--debias", "kde"]
    refused(
        capsys, [*argv, "--sample-weights", dataset, "--out", tmp_path / "s"], "is a folder, not a KDE weights file"
    )


@pytest.mark.parametrize("alpha", ["-1", "nan"])
def test_clom_alpha_must_be_non_negative(capsys, tmp_path, dataset, alpha):
    argv = ["distill", "--dataset-dir", dataset, "--method", "dm", "--ipc", "1", "--out", tmp_path / "s"]
    refused(capsys, [*argv, "--clom-alphas", alpha], "--clom-alphas")


def test_clom_alpha_in_the_library_too():
    from ddstudy.distill.clom import ClomConfig
    from ddstudy.errors import DDStudyError

    with pytest.raises(DDStudyError, match="alphas must be ≥ 0"):
        ClomConfig(alphas=(-1.0,))


@pytest.mark.parametrize("seed", ["-5", str(2**70)])
def test_seeds_within_the_generators_range(capsys, tmp_path, dataset, seed):
    for argv in (
        ["data", "build", "--source", "fashion-mnist", "--seed", seed, "--out", tmp_path / "d"],
        ["distill", "--dataset-dir", dataset, *SELECT, "--seed", seed, "--out", tmp_path / "s"],
        [
            "zoo",
            "train",
            "--dataset-dir",
            dataset,
            "--arch",
            "ConvNetW32",
            "--init",
            "0",
            "--seed",
            seed,
            "--out",
            tmp_path / "z",
        ],
        [
            "evaluate",
            "--synthetic",
            dataset,
            "--dataset-dir",
            dataset,
            "--arch",
            "ConvNetW32",
            "--seed",
            seed,
            "--out",
            tmp_path / "m.json",
        ],
    ):
        refused(capsys, argv, "--seed", "2^63-1")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["datasets"]


def test_nan_learning_rate_refused_before_work(capsys, tmp_path, dataset):
    argv = [
        "distill",
        "--dataset-dir",
        dataset,
        "--method",
        "dm",
        "--ipc",
        "1",
        "--lr-img",
        "nan",
        "--out",
        tmp_path / "s",
    ]
    refused(capsys, argv, "--lr-img", "finite number")


def test_duplicate_params_key(capsys, tmp_path):
    text = (REPO / "params.yaml").read_text()
    params = tmp_path / "params.yaml"
    params.write_text("grid: paper\n" + text)
    message = refused(capsys, ["params", "check", "--params", params], "key 'grid' given twice")
    assert "line" in message


def test_yaml_error_names_the_line_where_it_is(capsys, tmp_path):
    params = tmp_path / "params.yaml"
    params.write_text("grid: demo\ngrids:\n  demo:\n    datasets: [a, b\n    description: x\n\n")
    refused(capsys, ["params", "check", "--params", params], "line 4")


def test_report_with_nothing_to_report(capsys, tmp_path):
    results = tmp_path / "results"
    argv = ["report", "all", "--params", REPO / "params.yaml", "--results", results, "--metrics-dir", tmp_path / "m"]
    refused(capsys, argv, "no metrics of grid")
    refused(
        capsys,
        [
            "report",
            "bias",
            "--params",
            REPO / "params.yaml",
            "--metrics-dir",
            tmp_path / "m",
            "--out",
            tmp_path / "b.csv",
        ],
        "no metrics",
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_report_refuses_a_foreign_results_folder(capsys, tmp_path, user_folder):
    before = snapshot(user_folder)
    argv = [
        "report",
        "all",
        "--params",
        REPO / "params.yaml",
        "--results",
        user_folder,
        "--metrics-dir",
        tmp_path / "m",
    ]
    refused(capsys, argv, "is not a results folder made by ddstudy")
    assert snapshot(user_folder) == before


def test_metrics_records_validated_on_load(tmp_path):
    from ddstudy.errors import DDStudyError
    from ddstudy.evaluate.record import read_metrics
    from ddstudy.report.bias_table import bias_table
    from ddstudy.report.records import read_records

    good = {"cell": "d/dm_ipc10", "dataset": "d", "method": "dm", "eval_arch": "ConvNet", "acc_mean": 0.5,
            "acc_std": 0.01, "n_runs": 2, "accs": [0.49, 0.51]}  # fmt: skip
    cases = {
        "nan-ish": {"acc_mean": "NaN-ish"},
        "above-one": {"acc_mean": 1.5},
        "zero-runs": {"n_runs": 0},
        "accs-length": {"accs": [0.5]},
        "bool-runs": {"n_runs": True},
        "conflicting": {"acc_conflicting_mean": -0.1},
    }
    paths = []
    for name, change in cases.items():
        path = tmp_path / f"{name}.json"
        path.write_text(json.dumps(good | change))
        paths.append(path)
        with pytest.raises(DDStudyError, match=str(path)):
            read_metrics(path)
    (tmp_path / "good.json").write_text(json.dumps(good))
    assert read_metrics(tmp_path / "good.json")["acc_mean"] == 0.5
    nan = tmp_path / "nan.json"
    nan.write_text(json.dumps(good).replace("0.5,", "NaN,", 1))
    with pytest.raises(DDStudyError, match="acc_mean"):
        read_metrics(nan)
    records, problems = read_records([*paths, tmp_path / "good.json"])
    frame = bias_table(records)
    assert len(frame) == 1 and len(problems) == len(cases)


def test_resume_state_thrown_away_says_why(tmp_path, caplog):
    import torch

    from ddstudy.checkpoint import ResumeState

    state = ResumeState(tmp_path / "s", "resume", {"config": {"lr": 0.1}, "job": 1})
    state.save({"w": torch.ones(2)}, epoch=3)
    changed = ResumeState(tmp_path / "s", "resume", {"config": {"lr": 0.2}, "job": 1})
    with caplog.at_level("WARNING"):
        assert changed.load() is None
    assert "starting over" in caplog.text and "config.lr" in caplog.text
    state.save({"w": torch.ones(2)}, epoch=3)
    state.tensors.write_bytes(state.tensors.read_bytes()[:20])  # truncated
    caplog.clear()
    with caplog.at_level("WARNING"):
        assert state.load() is None
    assert "starting over" in caplog.text and "unreadable" in caplog.text
    assert not (tmp_path / "s").exists()


# ------------------------------------------------------------------------------------------ refusals leave nothing
def test_refusal_found_after_the_claim_leaves_no_parent(capsys, tmp_path, dataset):
    out = tmp_path / "new" / "deeper" / "s"
    # a kde config whose weights artifact is not a KDE record: found while loading, after the output is claimed
    weights = tmp_path / "w"
    np.savez(weights.with_suffix(".npz"), weights=np.ones(3))
    argv = ["distill", "--dataset-dir", dataset, "--method", "dm", "--ipc", "1", "--debias", "kde"]
    refused(
        capsys, [*argv, "--sample-weights", weights.with_suffix(".npz"), "--out", out], "not a KDE weights artifact"
    )
    assert not (tmp_path / "new").exists()


def test_build_refusal_leaves_no_data_folder(capsys, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    refused(capsys, ["data", "build", "--source", "mnist", "--data-root", "raw"], "MNIST")
    assert list(tmp_path.iterdir()) == []


# --------------------------------------------------------------------------------------- messages name the cause
def test_biased_build_without_ratio(capsys, tmp_path):
    refused(
        capsys,
        ["data", "build", "--source", "fashion-mnist", "--bias", "color", "--out", tmp_path / "d"],
        "needs --ratio and --severity",
    )


def test_labels_out_of_range(capsys, tmp_path, dataset):
    from ddstudy.io import save_npz

    train = dict(np.load(dataset / "train.npz"))
    train["labels"] = train["labels"] + 10
    meta = json.loads((dataset / "meta.json").read_text())
    meta["sha256"]["train.npz"] = save_npz(dataset / "train.npz", train)
    (dataset / "meta.json").write_text(json.dumps(meta))
    refused(
        capsys,
        ["distill", "--dataset-dir", dataset, *SELECT, "--out", tmp_path / "s"],
        "labels 10..19 lie outside the 10 classes",
    )


# ----------------------------------------------------------------------------------- inputs refused cleanly before
@pytest.mark.parametrize(
    "argv, message",
    [
        (["distill", "--method", "kip"], "invalid choice"),
        (["distill", "--method", "dm", "--ipc", "0"], "IPC must be"),
        (["distill", "--method", "dm", "--model", "Transformer"], "Transformer"),
        (["distill", "--method", "dm", "--iterations", "0"], "iterations"),
        (["distill", "--method", "dm", "--debias", "magic"], "invalid choice"),
        (["distill", "--method", "dm", "--precision", "fp16"], "invalid choice"),
        (["distill", "--method", "dm", "--device", "tpu"], "unknown device"),
        (["distill", "--method", "dm", "--debias", "kde"], "needs --sample-weights"),
        (["distill", "--method", "dc", "--clom-distance", "l7"], "invalid choice"),
        (["distill", "--method", "dm", "--outer-loop", "3"], "not a setting of dm"),
    ],
)
def test_clean_refusals(capsys, tmp_path, dataset, argv, message):
    out = tmp_path / "s"
    refused(capsys, [*argv[:1], "--dataset-dir", dataset, *argv[1:], "--out", out], message)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["datasets"]


@pytest.mark.parametrize(
    "argv, message",
    [
        (["data", "build", "--source", "svhn"], "unknown source"),
        (
            ["data", "build", "--source", "fashion-mnist", "--bias", "color", "--ratio", "2", "--severity", "1"],
            "ratio 2",
        ),
        (["data", "build", "--source", "fashion-mnist", "--bias", "none", "--ratio", "0.5"], "takes no --ratio"),
        (["data", "build", "--source", "fashion-mnist", "--workers", "0"], "--workers"),
        (["data", "build", "--source", "fashion-mnist", "--train-per-class", "0"], "positive number"),
        (
            ["zoo", "train", "--dataset-dir", "nope", "--arch", "ConvNetW32", "--init", "0,0", "--out", "a", "b"],
            "distinct",
        ),
        (["zoo", "train", "--dataset-dir", "nope", "--arch", "Nope", "--init", "0"], "Nope"),
        (["zoo", "train", "--dataset-dir", "nope", "--arch", "ConvNet", "--init", "0,1"], "give one each"),
        (["params", "check", "--params", "missing.yaml"], "params file not found"),
        (["plan", "--grid", "nope"], "grid 'nope'"),
        (["data", "show", "nope"], "no meta.json"),
        (["report", "compare", "a", "b"], "no metrics JSONs"),
    ],
)
def test_clean_refusals_elsewhere(capsys, monkeypatch, tmp_path, argv, message):
    monkeypatch.chdir(tmp_path)
    if argv[0] in ("plan",):
        argv = [*argv, "--params", str(REPO / "params.yaml")]
    if argv[:2] == ["zoo", "train"] and "--out" not in argv:
        argv = [*argv, "--out", "z"]
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    before = snapshot(tmp_path)
    refused(capsys, argv, message)
    assert snapshot(tmp_path) == before


def test_figure_never_overwrites_a_foreign_png(capsys, tmp_path, dataset):
    png = tmp_path / "plot.png"
    png.write_bytes(b"\x89PNG\r\n\x1a\n not ours")
    refused(capsys, ["data", "show", dataset, "--png", png], "is not a figure made by ddstudy")
    assert png.read_bytes() == b"\x89PNG\r\n\x1a\n not ours"
    mine = tmp_path / "mine.png"
    assert main(["data", "show", str(dataset), "--png", str(mine)]) == 0
    assert main(["data", "show", str(dataset), "--png", str(mine)]) == 0  # ours: replaced


def test_prune_keeps_what_ddstudy_did_not_draw(tmp_path):
    from ddstudy.io import prune_stale

    foreign = tmp_path / "a-by-ratio.png"
    foreign.write_bytes(b"\x89PNG\r\n\x1a\n")
    assert prune_stale(tmp_path, "*-by-ratio.png", []) == [] and foreign.exists()


def test_output_permissions_follow_the_umask(tmp_path, dataset):
    out = tmp_path / "syn" / "s"
    old = os.umask(0o002)
    try:
        assert main(["distill", "--dataset-dir", str(dataset), *SELECT, "--out", str(out)]) == 0
    finally:
        os.umask(old)
    assert (out / "meta.json").stat().st_mode & 0o060 == 0o060  # group-readable and -writable under umask 002


@pytest.mark.parametrize(
    "argv, message",
    [
        (["zoo", "train", "--arch", "ConvNetW32", "--init", "0", "--epochs", "0"], "epochs must be ≥ 1"),
        (["zoo", "train", "--arch", "ConvNetW32", "--init", "0", "--epochs", "3", "--save-epochs", "9"], "beyond"),
        (["zoo", "train", "--arch", "ConvNetW32", "--init", "-1"], "init index must be ≥ 0"),
        (["evaluate", "--arch", "ConvNetW32", "--num-eval", "0"], "num_eval must be ≥ 1"),
        (["evaluate", "--arch", "Nope"], "Nope"),
        (["evaluate", "--arch", "ConvNetW32", "--augment", "blur"], "blur"),
        (["debias", "weights", "--kde-arch", "ConvNetW32"], "train it with"),
    ],
)
def test_clean_refusals_of_training_commands(capsys, tmp_path, dataset, argv, message):
    """Settings and inputs of zoo, evaluate and KDE weights refused in one line before anything is written."""
    out = tmp_path / "out.json" if argv[0] != "zoo" else tmp_path / "z"
    inputs = ["--dataset-dir", dataset]
    if argv[0] == "evaluate":
        syn = tmp_path / "syn"
        assert main(["distill", "--dataset-dir", str(dataset), *SELECT, "--out", str(syn)]) == 0
        capsys.readouterr()
        inputs += ["--synthetic", syn]
    if argv[0] == "debias":
        inputs += ["--zoo-root", tmp_path / "zoo"]
    before = snapshot(tmp_path)
    command = argv[:2] if argv[0] in ("zoo", "debias") else argv[:1]
    refused(capsys, [*command, *inputs, *argv[len(command) :], "--out", out], message)
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize(
    "argv, message",
    [
        (["data", "build", "--source", "fashion-mnist", "--bias", "color", "--ratio", "nan", "--severity", "1"], "nan"),
        (["data", "build", "--source", "fashion-mnist", "--test-attrs", "sometimes"], "unknown test-attrs mode"),
        (["plan", "--device-kind", "tpu"], "invalid choice"),
        (["data", "list", "--kind", "odd"], "invalid choice"),
        (["data", "show", "--per-class", "0", "x"], "--per-class"),
    ],
)
def test_clean_refusals_of_flags(capsys, tmp_path, monkeypatch, argv, message):
    monkeypatch.chdir(tmp_path)
    refused(capsys, argv, message)
    assert list(tmp_path.iterdir()) == []


def test_a_corrupt_dataset_or_params_file_is_one_line(capsys, tmp_path, dataset):
    (dataset / "meta.json").write_text("{broken")
    refused(capsys, ["data", "show", dataset], "not valid JSON")
    refused(capsys, ["distill", "--dataset-dir", dataset, *SELECT, "--out", tmp_path / "s"], "not valid JSON")
    params = tmp_path / "p.yaml"
    params.write_text("- just\n- a list\n")
    refused(capsys, ["params", "check", "--params", params], "mapping")
    assert not (tmp_path / "s").exists()


def test_compare_names_a_broken_metrics_file(capsys, tmp_path):
    for run in ("a", "b"):
        (tmp_path / run / "c").mkdir(parents=True)
        record = {"cell": "d/dm_ipc1", "dataset": "d", "method": "dm", "eval_arch": "ConvNet", "acc_mean": 0.5,
                  "acc_std": 0.1, "n_runs": 1}  # fmt: skip
        if run == "b":
            record["acc_mean"] = "NaN-ish"
        (tmp_path / run / "c" / "ConvNet.json").write_text(json.dumps(record))
    refused(capsys, ["report", "compare", tmp_path / "a", tmp_path / "b"], "ConvNet.json: acc_mean must be a number")


def _spoil(meta: dict, change: str):
    """A hostile edit of a dataset variant's meta.json (``change``: what a user or a foreign tool might write)."""
    if change == "a list":
        return [meta]
    if change.startswith("no "):
        meta.pop(change[3:])
        return meta
    key, value = change.split("=", 1)
    meta[key] = json.loads(value)
    return meta


@pytest.mark.parametrize(
    "change, message",
    [
        ("a list", "a JSON object was expected, found list"),
        ("no name", "field 'name' is missing"),
        ("no num_classes", "field 'num_classes' is missing"),
        ('num_classes="10"', "field 'num_classes' must be a positive integer"),
        ("num_classes=0", "field 'num_classes' must be a positive integer"),
        ("num_classes=true", "field 'num_classes' must be a positive integer"),
        ('image_shape=["3", 28, 28]', "field 'image_shape' must be a list of 3 positive integers"),
        ("image_shape=[3, 28]", "field 'image_shape' must be a list of 3 positive integers"),
        ("image_shape=[3, 32, 32]", "meta.json says [3, 32, 32]"),
        ('sha256="abc"', "field 'sha256' must be an object"),
        ('sha256={"train.npz": 7, "test.npz": 7}', "field 'sha256' must be an object"),
        ('sha256={"train.npz": "xyz", "test.npz": "xyz"}', "64 lowercase hex digits"),
        ('class_names="0123456789"', "field 'class_names' must be a list of 10 strings"),
        ('class_names=["a", "b"]', "field 'class_names' must be a list of 10 strings"),
        ('name=""', "field 'name' must be a non-empty string"),
        ("counts=[]", "field 'counts' must be an object"),
        ('attribute_names="red"', "field 'attribute_names' must be a list of strings"),
        ('normalization={"mean": [0.5], "std": [0.5]}', "field 'normalization' must be an object with 'mean'"),
        ('ratio="high"', "field 'ratio' must be a number"),
    ],
)
def test_a_hostile_dataset_meta_is_one_line_before_work(capsys, tmp_path, dataset, change, message):
    """Every stage reads a variant through one typed reader (ddstudy.data.meta): a bad meta.json field is named in
    one line, before any work, and nothing is written."""
    meta = json.loads((dataset / "meta.json").read_text())
    (dataset / "meta.json").write_text(json.dumps(_spoil(meta, change)))
    before = snapshot(tmp_path)
    line = refused(capsys, ["distill", "--dataset-dir", dataset, *SELECT, "--out", tmp_path / "s"], message)
    assert "meta.json" in line
    assert snapshot(tmp_path) == before


def test_out_through_a_symlink_loop(capsys, tmp_path, dataset):
    (tmp_path / "a").symlink_to(tmp_path / "b")
    (tmp_path / "b").symlink_to(tmp_path / "a")
    before = snapshot(tmp_path)
    for out in ("a", "a/x"):
        refused(capsys, ["distill", "--dataset-dir", dataset, *SELECT, "--out", tmp_path / out], "symlink loop")
    assert snapshot(tmp_path) == before
