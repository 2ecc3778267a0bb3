"""The ddstudy command line, as a user runs it: one-line errors, exit codes, nothing half-written."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from ddstudy.cli import main


def run_cli(*args, env_dir=None, cwd=None):
    import os

    env = dict(os.environ)
    if env_dir is not None:
        env["DDSTUDY_FASHION_MNIST_DIR"] = str(env_dir)
    return subprocess.run(
        [sys.executable, "-m", "ddstudy", *map(str, args)], capture_output=True, text=True, env=env, cwd=cwd
    )


def build_clean(out, fashion_dir) -> None:
    """The clean toy Fashion-MNIST variant in ``out``, built through the CLI as a user would."""
    built = run_cli("data", "build", "--source", "fashion-mnist", "--bias", "none", "--out", out, env_dir=fashion_dir)
    assert built.returncode == 0, built.stderr


def test_build_show_and_list(tmp_path, fashion_dir, capsys):
    out = tmp_path / "v"
    result = run_cli(
        "data",
        "build",
        "--source",
        "fashion-mnist",
        "--bias",
        "corruption",
        "--ratio",
        "0.95",
        "--severity",
        "2",
        "--out",
        out,
        env_dir=fashion_dir,
    )
    assert result.returncode == 0, result.stderr
    assert "train aligned 0.950" in result.stdout
    png = tmp_path / "grid.png"
    assert main(["data", "show", str(out), "--png", str(png)]) == 0
    shown = capsys.readouterr().out
    assert "fashion-mnist-corruption-r0.95-s2" in shown and "conflicting=" in shown
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert main(["data", "list", "--grid", "paper", "--kind", "clean"]) == 0
    assert capsys.readouterr().out.split() == ["mnist-clean", "cifar10-clean", "cifar100-clean"]


@pytest.mark.parametrize(
    "args, message",
    [
        (["--source", "fashion-mnist", "--bias", "color", "--ratio", "1.5", "--severity", "1"], "ratio 1.5"),
        (["--source", "fashion-mnist", "--bias", "color", "--ratio", "0.5", "--severity", "0"], "severity 0"),
        (["--source", "svhn", "--bias", "color", "--ratio", "0.5", "--severity", "1"], "unknown source 'svhn'"),
        (["--source", "fashion-mnist", "--bias", "tint", "--ratio", "0.5", "--severity", "1"], "unknown bias"),
    ],
)
def test_bad_build_input(tmp_path, fashion_dir, args, message):
    out = tmp_path / "v"
    result = run_cli("data", "build", *args, "--out", out, env_dir=fashion_dir)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("ddstudy: error:") and message in lines[0]
    assert list(tmp_path.iterdir()) == []


def test_missing_fashion_mnist(tmp_path):
    result = run_cli(
        "data",
        "build",
        "--source",
        "fashion-mnist",
        "--bias",
        "none",
        "--out",
        tmp_path / "v",
        env_dir=tmp_path / "empty",
    )
    assert result.returncode == 2
    assert "apt-get install dataset-fashion-mnist" in result.stderr and "DDSTUDY_FASHION_MNIST_DIR" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "v").exists()


def test_corrupt_npz_in_show(tmp_path, fashion_dir):
    out = tmp_path / "v"
    build_clean(out, fashion_dir)
    (out / "train.npz").write_bytes(b"PK\x03\x04 truncated")
    result = run_cli("data", "show", out, "--png", tmp_path / "g.png")
    assert result.returncode == 2 and "train.npz" in result.stderr and "rebuild" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "g.png").exists()


def test_params_check_typo(tmp_path):
    text = Path("params.yaml").read_text().replace("severities: [4]", "severites: [4]", 1)
    (tmp_path / "params.yaml").write_text(text)
    result = run_cli("params", "check", "--params", tmp_path / "params.yaml")
    assert result.returncode == 2
    assert "unknown key 'severites' (did you mean 'severities'?)" in result.stderr
    ok = run_cli("params", "check")
    assert ok.returncode == 0 and "valid" in ok.stdout


def test_figures_for_a_grid(tmp_path, fashion_dir, monkeypatch):
    import yaml

    params = {
        "grid": "t",
        "sources": {"fashion_mnist_dir": str(fashion_dir)},
        "grids": {
            "t": {
                "datasets": [
                    {"source": "fashion-mnist", "bias": "color", "ratios": [0.0, 0.9], "severities": [3]},
                    {"source": "fashion-mnist", "bias": "corruption", "ratios": [0.5], "severities": [1]},
                ]
            }
        },
    }
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    from ddstudy.study import load_study

    for spec in load_study(tmp_path / "params.yaml").variants:
        assert (
            run_cli(
                "data",
                "build",
                "--source",
                spec.source,
                "--bias",
                spec.bias,
                "--ratio",
                spec.ratio,
                "--severity",
                spec.severity,
                "--out",
                tmp_path / "datasets" / spec.name,
                env_dir=fashion_dir,
            ).returncode
            == 0
        )
    result = run_cli(
        "data",
        "figures",
        "--params",
        tmp_path / "params.yaml",
        "--datasets-dir",
        tmp_path / "datasets",
        "--out",
        tmp_path / "figs",
    )
    assert result.returncode == 0, result.stderr
    names = sorted(p.name for p in (tmp_path / "figs").iterdir())
    assert names == [
        "fashion-mnist-color-by-severity.png",
        "fashion-mnist-color-s3-by-ratio.png",
        "fashion-mnist-corruption-by-severity.png",
        "fashion-mnist-corruption-s1-by-ratio.png",
    ]
    assert all((tmp_path / "figs" / n).stat().st_size > 10_000 for n in names)


def test_zoo_train_index_and_errors(tmp_path, fashion_dir):
    data = tmp_path / "ds"
    build_clean(data, fashion_dir)
    out = tmp_path / "zoo" / "fashion-mnist-clean" / "LeNet" / "init0"
    result = run_cli(
        "zoo",
        "train",
        "--dataset-dir",
        data,
        "--arch",
        "LeNet",
        "--init",
        "0",
        "--epochs",
        "2",
        "--save-epochs",
        "2",
        "--batch-size",
        "64",
        "--out",
        out,
        "--device",
        "auto",
        "--threads",
        "1",
    )
    assert result.returncode == 0, result.stderr
    assert "1 checkpoints" in result.stdout and (out / "epoch2.safetensors").is_file()
    assert "epoch 2/2" in result.stderr and "ETA" in result.stderr  # progress with rate and ETA
    assert run_cli("zoo", "index", "--zoo-root", tmp_path / "zoo", "--dataset", "fashion-mnist-clean").returncode == 0
    for args, message in (
        (["--arch", "LeNett", "--epochs", "2"], "did you mean LeNet"),
        (["--arch", "LeNet", "--epochs", "2", "--save-epochs", "5"], "beyond training"),
        (["--arch", "LeNet", "--device", "cuda:7"], "cuda"),
    ):
        bad = run_cli("zoo", "train", "--dataset-dir", data, "--init", "0", "--out", tmp_path / "bad", *args)
        assert bad.returncode == 2 and message in bad.stderr and len(bad.stderr.strip().splitlines()) == 1
        assert not (tmp_path / "bad").exists()


def test_distill_and_evaluate_cli(tmp_path, fashion_dir):
    data = tmp_path / "ds"
    assert (
        run_cli(
            "data",
            "build",
            "--source",
            "fashion-mnist",
            "--bias",
            "color",
            "--ratio",
            "0.5",
            "--severity",
            "4",
            "--out",
            data,
            env_dir=fashion_dir,
        ).returncode
        == 0
    )
    syn = tmp_path / "syn"
    result = run_cli(
        "distill",
        "--dataset-dir",
        data,
        "--method",
        "dm",
        "--ipc",
        "2",
        "--iterations",
        "3",
        "--model",
        "ConvNetW32",
        "--batch-real",
        "8",
        "--out",
        syn,
        "--threads",
        "1",
    )
    assert result.returncode == 0, result.stderr
    assert "20 images" in result.stdout and "iteration 3/3" in result.stderr
    metrics = tmp_path / "m.json"
    result = run_cli(
        "evaluate",
        "--synthetic",
        syn,
        "--dataset-dir",
        data,
        "--arch",
        "ConvNetW32",
        "--num-eval",
        "2",
        "--epochs",
        "3",
        "--out",
        metrics,
    )
    assert result.returncode == 0, result.stderr
    record = json.loads(metrics.read_text())
    assert record["n_runs"] == 2 and record["eval_config"]["augment"] == "color_crop_cutout_flip_scale_rotate"
    for args, message in (
        (["--method", "kip"], "invalid choice: 'kip'"),
        (["--method", "dm", "--outer-loop", "2"], "--outer-loop is not a setting of dm"),
        (["--method", "dc", "--ipc", "0"], "IPC must be"),
        (["--method", "dc", "--ipc", "7"], "IPC 7"),
        (["--method", "random", "--ipc", "500"], "larger than class"),
    ):
        bad = run_cli("distill", "--dataset-dir", data, "--out", tmp_path / "bad", *args)
        assert bad.returncode == 2 and message in bad.stderr and len(bad.stderr.strip().splitlines()) == 1
        assert not (tmp_path / "bad").exists()
    missing = run_cli("distill", "--dataset-dir", tmp_path / "nope", "--method", "dm", "--out", tmp_path / "bad")
    assert missing.returncode == 2 and "no meta.json" in missing.stderr


def test_execution_flags_plan_and_bench(tmp_path, fashion_dir):
    data = tmp_path / "ds"
    build_clean(data, fashion_dir)
    syn = tmp_path / "syn"
    args = ["--method", "dm", "--ipc", "1", "--iterations", "2", "--model", "ConvNetW32", "--batch-real", "8"]
    result = run_cli("distill", "--dataset-dir", data, "--out", syn, *args, "--precision", "bf16", "--no-compile")
    assert result.returncode == 0, result.stderr
    assert "networks run eager bf16 on cpu" in result.stderr
    meta = json.loads((syn / "meta.json").read_text())
    assert meta["accel"] == {"compile": False, "precision": "bf16", "vectorize": False}
    bad = run_cli("distill", "--dataset-dir", data, "--out", tmp_path / "bad", *args, "--precision", "fp16")
    assert bad.returncode == 2 and "invalid choice: 'fp16'" in bad.stderr and not (tmp_path / "bad").exists()

    plan = run_cli("plan", "--grid", "paper", cwd=Path(__file__).parents[1])
    assert plan.returncode == 0, plan.stderr
    assert "grid 'paper' on cuda" in plan.stdout and " 3416 " in plan.stdout and "total" in plan.stdout

    bench = run_cli("bench", "--cases", "zoo,nope")
    assert bench.returncode == 2 and "unknown bench case 'nope'" in bench.stderr
    assert len(bench.stderr.strip().splitlines()) == 1
    rows = _bench_rows("zoo", fashion_dir)
    assert [(r["case"], r["path"]) for r in rows] == [("zoo", "oracle"), ("zoo", "fast-fp32")]
    assert rows[1]["speedup"] > 0 and rows[0]["flops"] > 0 and rows[1]["recompiles"] == 0
    assert {"seconds", "compile_s", "cpu_per_wall", "peak_rss_mb", "gflops"} <= set(rows[0])


def _bench_rows(case: str, fashion_dir) -> list[dict]:
    """``ddstudy bench --json`` of one case at width 32, one repeat, the oracle and the compiled fp32 path."""
    bench = run_cli(
        "bench", "--cases", case, "--precisions", "fp32", "--width", "32", "--repeats", "1", "--threads", "1",
        "--device", "cpu", "--json", "--fashion-mnist-dir", fashion_dir,
    )  # fmt: skip
    assert bench.returncode == 0, bench.stderr
    return [json.loads(line) for line in bench.stdout.splitlines()]


def test_bench_idc_case_times_the_registry_implementation_both_ways(fashion_dir):
    """The idc case (one IDC outer iteration, prepared as a run prepares it) runs end to end: the oracle and the
    compiled path, FLOPs counted, no recompiles across its matching steps."""
    rows = _bench_rows("idc", fashion_dir)
    assert [(r["case"], r["path"]) for r in rows] == [("idc", "oracle"), ("idc", "fast-fp32")]
    assert rows[0]["flops"] > 0 and rows[0]["gflops"] > 0 and rows[1]["speedup"] > 0 and rows[1]["recompiles"] == 0


def test_bench_fair_dd_cases_time_cobras_and_fairdds_terms_both_ways(fashion_dir):
    """The fair-DD cases (on request, not in the default list), in one bench run: dccobra — one DC IPC-1 iteration
    with COBRA's target over seeded groups, the oracle's backward per group against the fast path's one backward;
    dcfairdd — FairDD's terms, the oracle's backward per group through the whole batch against each group's own
    forward; dmcobra — one DM IPC-10 iteration with COBRA, the embedding network's warm-up on the synthetic set
    first. Both ways, no recompiles."""
    from ddstudy.bench_nets import DEFAULT_CASES

    assert not {"dccobra", "dcfairdd", "dmcobra"} & set(DEFAULT_CASES)
    rows = _bench_rows("dccobra,dcfairdd,dmcobra", fashion_dir)
    assert [(r["case"], r["path"]) for r in rows] == [
        (case, path) for case in ("dccobra", "dcfairdd", "dmcobra") for path in ("oracle", "fast-fp32")
    ]
    assert all(r["flops"] > 0 for r in rows[::2]) and all(r["speedup"] > 0 and r["recompiles"] == 0 for r in rows[1::2])
    # dccobra's and dcfairdd's fast paths do less work than the oracle's FLOP count: a GFLOP/s would be no rate
    for oracle, fast in (rows[0:2], rows[2:4]):
        assert oracle["gflops"] > 0 and "gflops" not in fast and "peak_share" not in fast
    assert rows[4]["gflops"] > 0 and rows[5]["gflops"] > 0  # dmcobra's paths do the same work


def test_bad_inputs_refused_before_work(tmp_path, fashion_dir):
    """Issue 13: each of these was a traceback or a silent success; now one line, exit 2, nothing left behind."""
    data = tmp_path / "ds"
    build_clean(data, fashion_dir)
    a_file = tmp_path / "a-file"
    a_file.write_text("not a folder")
    dm = ["distill", "--dataset-dir", data, "--method", "dm", "--ipc", "1"]
    dm += ["--model", "ConvNetW32", "--batch-real", "8"]
    cases = [
        ([*dm, "--iterations", "1", "--out", a_file], "is a file, not a folder"),
        ([*dm, "--iterations", "0", "--out", tmp_path / "s0"], "dm needs iterations ≥ 1, got 0"),
        ([*dm, "--iterations", "-5", "--out", tmp_path / "s5"], "dm needs iterations ≥ 1, got -5"),
        ([*dm, "--iterations", "1", "--batch-real", "0", "--out", tmp_path / "sb"], "dm needs batch_real ≥ 1, got 0"),
        (
            [*dm, "--iterations", "1", "--clom-distance", "ce", "--clom-zoo-source", "x", "--clom-alphas", "abc",
             "--out", tmp_path / "sc"],
            "--clom-alphas: expected comma-separated numbers, got 'abc'",
        ),
        (
            ["data", "build", "--source", "fashion-mnist", "--bias", "none", "--out", "/proc/nope"],
            "--out /proc/nope: cannot write there",
        ),
        (["zoo", "index", "--zoo-root", tmp_path / "zoo", "--dataset", "nozoo"], "no PTM checkpoints of 'nozoo'"),
        (
            ["zoo", "train", "--dataset-dir", data, "--arch", "LeNet", "--init", "0", "--save-epochs", "1,x",
             "--out", tmp_path / "z"],
            "--save-epochs: expected comma-separated integers",
        ),
        (
            ["zoo", "train", "--dataset-dir", data, "--arch", "LeNet", "--init", "0,1", "--out", tmp_path / "z"],
            "--init names 2 init(s) but --out 1 folder(s)",
        ),
    ]  # fmt: skip
    for args, message in cases:
        result = run_cli(*args, env_dir=fashion_dir, cwd=tmp_path)
        assert result.returncode == 2 and message in result.stderr, (args, result.stderr)
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr
        assert "Traceback" not in result.stderr
    assert a_file.read_text() == "not a folder"
    assert not any(tmp_path.glob(".*partial*")) and not any(tmp_path.glob("s*"))
    assert not (tmp_path / "zoo" / "nozoo" / "index.json").exists()

    syn = tmp_path / "syn"
    assert run_cli(*dm, "--iterations", "1", "--out", syn).returncode == 0
    evaluate = ["evaluate", "--synthetic", syn, "--dataset-dir", data, "--arch", "ConvNetW32", "--num-eval", "1"]
    result = run_cli(*evaluate, "--epochs", "0", "--out", tmp_path / "m.json")
    assert result.returncode == 2 and "eval epochs must be ≥ 1, got 0" in result.stderr
    result = run_cli(*evaluate, "--epochs", "1", "--out", syn)
    assert result.returncode == 2 and "is the --synthetic this command reads" in result.stderr
    (tmp_path / "a-folder").mkdir()
    result = run_cli(*evaluate, "--epochs", "1", "--out", tmp_path / "a-folder")
    assert result.returncode == 2 and "is a folder, not a file" in result.stderr

    root = Path(__file__).parents[1]
    result = run_cli(
        "report",
        "bias",
        "--params",
        root / "params.yaml",
        "--metrics-dir",
        tmp_path / "none",
        "--out",
        tmp_path / "b.csv",
    )
    assert result.returncode == 2 and "no metrics of grid 'demo'" in result.stderr and not (tmp_path / "b.csv").exists()
    version = run_cli("--version")
    assert version.returncode == 0 and version.stdout.startswith("ddstudy ")


@pytest.mark.parametrize("argv", [["--version"], ["-h"], ["data", "build", "-h"], ["report", "all", "-h"]])
def test_parsing_imports_only_what_the_command_needs(argv):
    """Only the command being run is registered in full: the version, the overview and the data stage's parser
    import no torch (the old single parser imported it for ``--version``: 3.2 s against 0.1 s here)."""
    probe = f"import sys; from ddstudy.cli import main; code = main({argv!r}); print(code, 'torch' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[-2:] == ["0", "False"]


def test_every_command_is_registered_by_its_stage_module(capsys):
    from ddstudy.cli import build_parser, commands

    names = list(commands())
    assert names == ["params", "plan", "data", "zoo", "distill", "debias", "evaluate", "report", "bench", "serve"]
    for name in names:  # a parser that registered only this command has its flags and help
        with pytest.raises(SystemExit) as stop:
            build_parser(name).parse_args([name, "-h"])
        assert stop.value.code == 0 and f"usage: ddstudy {name}" in capsys.readouterr().out
    assert build_parser().parse_args(["plan", "--grid", "demo"]).grid == "demo"
    with pytest.raises(SystemExit):  # the other commands are names only there
        build_parser("plan").parse_args(["evaluate", "--arch", "ConvNet"])
