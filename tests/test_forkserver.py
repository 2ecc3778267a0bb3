"""``ddstudy serve``'s fork server: a job forked from it behaves as the same command in its own process (output,
exit code, one-line errors), signals reach it, and a client killed outright takes its job with it. That it
computes the same bytes is the pipeline test's (tests/test_pipeline.py: a killed run under the server against an
uninterrupted one without it)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ddstudy.forkserver import ENV
from tests.workflow_support import own_processes


def ddstudy(*args, env: dict, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "ddstudy", *map(str, args)], capture_output=True, text=True, env=env, **kwargs
    )


def children_of_server(address: str) -> list[int]:
    """Processes forked by the server listening at ``address`` (Linux /proc)."""
    pids = [int(p) for p in os.listdir("/proc") if p.isdigit()]

    def cmdline(pid: int) -> list[str]:
        try:
            return Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")
        except OSError:
            return []

    def parent(pid: int) -> int:
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            return -1
        return int(next(line.split()[1] for line in status.splitlines() if line.startswith("PPid:")))

    forked = {pid for pid in pids if address in cmdline(pid) and "ddstudy.forkserver" in cmdline(pid)}
    return [pid for pid in forked if parent(pid) in forked]  # a child has the server's command line too


def wait_for(condition, timeout: float = 60.0) -> bool:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False


def test_a_job_under_the_server_answers_as_in_its_own_process(tmp_path, forkserver):
    assert forkserver is not None, "the tests' fork server did not start"
    served, alone = {**os.environ, ENV: forkserver}, own_processes()
    typo = tmp_path / "params.yaml"
    typo.write_text("grid: demo\ngrids: {demo: {distil: {}}}\n")
    for args in (
        ["--version"],
        ["params", "check", "--params", tmp_path / "missing.yaml"],
        ["params", "check", "--params", typo],
        ["distill", "--method", "kip"],
    ):
        with_server, without = ddstudy(*args, env=served, cwd=tmp_path), ddstudy(*args, env=alone, cwd=tmp_path)
        assert (with_server.returncode, with_server.stdout, with_server.stderr) == (
            without.returncode,
            without.stdout,
            without.stderr,
        ), args
    assert with_server.returncode == 2 and "invalid choice: 'kip'" in with_server.stderr
    assert not children_of_server(forkserver), "a finished job left its process behind"


def test_a_server_gone_means_a_process_of_its_own(tmp_path):
    gone = {**os.environ, ENV: str(tmp_path / "no-such-socket")}
    result = ddstudy("--version", env=gone)
    assert result.returncode == 0 and result.stdout.startswith("ddstudy ")


@pytest.mark.parametrize("how", ["SIGTERM", "SIGKILL"])
def test_a_signalled_or_killed_client_ends_its_job(tmp_path, fashion_dir, forkserver, how):
    """SIGTERM is forwarded (the client then exits 128 + 15, as the job did); after SIGKILL the client cannot
    forward anything, so the job, watching its connection, kills itself — no orphan keeps computing."""
    address = forkserver
    assert address is not None, "the tests' fork server did not start"
    env = {**own_processes(), ENV: address, "DDSTUDY_FASHION_MNIST_DIR": str(fashion_dir)}
    data = tmp_path / "ds"
    built = ddstudy("data", "build", "--source", "fashion-mnist", "--bias", "none", "--out", data, env=env)
    assert built.returncode == 0, built.stderr
    log = tmp_path / "distill.log"
    with log.open("w") as sink:
        client = subprocess.Popen(
            [sys.executable, "-m", "ddstudy", "distill", "--dataset-dir", str(data), "--method", "dm", "--ipc", "1",
             "--iterations", "400", "--model", "ConvNetW32", "--batch-real", "8", "--threads", "1",
             "--out", str(tmp_path / "syn")],
            env=env, stdout=sink, stderr=sink,
        )  # fmt: skip
        try:
            assert wait_for(lambda: "iteration" in log.read_text()), log.read_text()
            jobs = children_of_server(address)
            assert len(jobs) == 1, jobs
            client.send_signal(getattr(signal, how))
            code = client.wait(timeout=60)
            assert wait_for(lambda: not children_of_server(address), timeout=20), "the job outlived its client"
        finally:  # a failed check leaves nothing running (the job follows its killed client)
            client.kill()
    assert code == (128 + signal.SIGTERM if how == "SIGTERM" else -signal.SIGKILL)
    assert not (tmp_path / "syn").exists(), "a stopped distillation must not look finished"


def test_a_job_gets_the_blas_and_openmp_threads_its_environment_asks_for():
    """Libraries read OPENBLAS_NUM_THREADS & co. once, when loaded (in the server): the child applies the job's
    values at run time. Without it the demo's KDE weights differed in the last bits (OpenBLAS summing with 2
    threads where Snakemake's job asked for 1)."""
    probe = (
        "import numpy, torch, json; from ddstudy.forkserver import apply_thread_limits; "
        "from threadpoolctl import threadpool_info; "
        "applied = apply_thread_limits({'OPENBLAS_NUM_THREADS': '1', 'OMP_NUM_THREADS': '1', 'MKL_NUM_THREADS': 'x'}); "
        "print(json.dumps([applied, {i['internal_api']: i['num_threads'] for i in threadpool_info()}]))"
    )
    env = {k: v for k, v in own_processes().items() if not k.endswith("_NUM_THREADS")}
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env)
    assert result.returncode == 0, result.stderr
    applied, now = json.loads(result.stdout)
    assert applied["openblas"] == 1 and applied["openmp"] == 1 and "mkl" not in applied
    assert now["openblas"] == 1 and now["openmp"] == 1
