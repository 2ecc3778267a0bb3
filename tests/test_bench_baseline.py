"""`ddstudy bench --write-baseline` / `--against`: the guard that flags a fast path whose speed-up over the oracle
fell beyond the baseline's noise (the bench itself replaced by fixed rows: no timing in tests)."""

import json

import pytest

from ddstudy import bench_baseline
from ddstudy.cli import main


def _rows(dc_speedup: float) -> list[dict]:
    context = {"device": "cpu", "threads": 2, "model": "ConvNet", "image_shape": [1, 28, 28], "torch": "2.14.1"}
    return [
        context | {"case": "dc", "path": "oracle", "seconds": 6.0, "cpu_per_wall": 1.9},
        context
        | {"case": "dc", "path": "fp32", "seconds": 6.0 / dc_speedup, "speedup": dc_speedup, "cpu_per_wall": 1.9},
        context | {"case": "dm", "path": "oracle", "seconds": 2.0, "cpu_per_wall": 1.9},
        context | {"case": "dm", "path": "fp32", "seconds": 1.0, "speedup": 2.0, "cpu_per_wall": 1.9},
    ]


def test_a_slowdown_beyond_the_noise_is_flagged():
    baseline = bench_baseline.baseline_record(_rows(1.8), note="nothing else ran")
    assert set(baseline["paths"]) == {"dc/fp32", "dm/fp32"} and baseline["machine"]["cores"] >= 1
    same = bench_baseline.compare(_rows(1.7), baseline)  # −5.6 %: inside the 15 % noise
    assert not any(c["slower"] for c in same)
    slower = {c["path"]: c for c in bench_baseline.compare(_rows(1.2), baseline)}  # the DC regression: −33 %
    assert slower["dc/fp32"]["slower"] and not slower["dm/fp32"]["slower"]
    assert round(slower["dc/fp32"]["ratio"], 3) == round(1.2 / 1.8, 3)
    assert "SLOWER" in bench_baseline.report(list(slower.values()), baseline, "b.json")


def test_cli_writes_a_baseline_then_guards_against_it(monkeypatch, tmp_path, capsys):
    speedup = {"dc": 1.8}
    monkeypatch.setattr("ddstudy.bench_nets.run_bench", lambda settings, **_: _rows(speedup["dc"]))
    out = tmp_path / "baseline.json"
    assert main(["bench", "--cases", "dc,dm", "--write-baseline", str(out), "--baseline-note", "idle"]) == 0
    assert json.loads(out.read_text())["note"] == "idle"
    assert main(["bench", "--cases", "dc,dm", "--against", str(out)]) == 0
    speedup["dc"] = 1.1
    assert main(["bench", "--cases", "dc,dm", "--against", str(out)]) == bench_baseline.SLOWDOWN_EXIT
    assert "dc/fp32" in capsys.readouterr().out
    assert main(["bench", "--write-baseline", str(out)]) == 0  # our own baseline is replaced


@pytest.mark.parametrize("content", ["[]", '{"paths": {"dc/fp32": {"speedup": -1}}}', '{"paths": {}, "noise": 2}'])
def test_a_bad_baseline_is_refused_before_the_bench(monkeypatch, tmp_path, capsys, content):
    monkeypatch.setattr("ddstudy.bench_nets.run_bench", lambda *a, **k: pytest.fail("the bench ran"))
    bad = tmp_path / "b.json"
    bad.write_text(content)
    assert main(["bench", "--against", str(bad)]) == 2
    assert capsys.readouterr().err.count("\n") == 1


def test_a_foreign_file_is_never_overwritten(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr("ddstudy.bench_nets.run_bench", lambda *a, **k: pytest.fail("the bench ran"))
    mine = tmp_path / "notes.json"
    mine.write_text('{"thesis": 1}')
    assert main(["bench", "--write-baseline", str(mine)]) == 2
    assert mine.read_text() == '{"thesis": 1}'
