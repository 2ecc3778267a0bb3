"""glibc's allocator tuning (ddstudy.malloc): set for every ddstudy process, kept when the user set it, off on
request — and the bench case that times it against glibc's defaults, each in a process of its own."""

import os
import subprocess
import sys

import pytest

from ddstudy import malloc

pytestmark = pytest.mark.skipif(not malloc.applies(), reason="glibc only")


def test_tuned_environ_adds_only_what_is_unset():
    env = malloc.tuned_environ({"MALLOC_TRIM_THRESHOLD_": "123"})
    assert env["MALLOC_TRIM_THRESHOLD_"] == "123" and env["MALLOC_MMAP_THRESHOLD_"] == str(1 << 30)
    assert malloc.tuned_environ({malloc.OPT_OUT: "default"}) == {malloc.OPT_OUT: "default"}
    assert malloc.is_tuned(env) and malloc.is_tuned({malloc.OPT_OUT: "default"}) and not malloc.is_tuned({})


def test_console_script_runs_with_the_tunables():
    """A `ddstudy` process re-executes itself once with the tunables (seen here through `ddstudy serve -- env`,
    whose command inherits the ddstudy process's environment); opted out, it runs with glibc's defaults."""
    env = {k: v for k, v in os.environ.items() if k not in malloc.TUNABLES and k != "DDSTUDY_FORKSERVER"}
    code = "from ddstudy import malloc; malloc.reexec_tuned(['serve', '--', 'env'])"

    def seen(extra: dict) -> dict:
        out = subprocess.run([sys.executable, "-c", code], env=env | extra, text=True, capture_output=True)
        assert out.returncode == 0, out.stderr
        lines = dict(line.split("=", 1) for line in out.stdout.splitlines() if "=" in line)
        return {key: lines.get(key) for key in malloc.TUNABLES}

    assert seen({}) == malloc.TUNABLES
    assert seen({"MALLOC_MMAP_THRESHOLD_": "4096"})["MALLOC_MMAP_THRESHOLD_"] == "4096"  # the user's value kept
    assert seen({malloc.OPT_OUT: "default"}) == dict.fromkeys(malloc.TUNABLES)


def test_bench_case_times_default_against_tuned(capsys):
    from ddstudy.bench_nets import BenchSettings, run_bench

    rows = run_bench(BenchSettings(cases=("malloc",), repeats=1, width=32, precisions=("fp32",)), as_json=True)
    paths = {row["path"]: row for row in rows}
    assert set(paths) == {"oracle", "tuned"} and paths["tuned"]["speedup"] > 0
    assert all(row["threads"] == 1 and row["image_shape"] == [3, 32, 32] for row in rows)
    assert all(0 <= row["sys_share"] < 1 and row["minflt_per_step"] >= 0 for row in rows)
