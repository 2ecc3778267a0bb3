"""DVC over the whole pipeline, as a user's clone sees it: `dvc repro` versions every artifact in five stages,
`dvc push` shares them through the default remote beside the clone, and a fresh clone's `dvc pull` + restamp leaves
Snakemake and DVC with nothing to rerun; a changed evaluation setting afterwards reruns only evaluations."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from tests.workflow_support import (
    DVC,
    REPO,
    add_zoo,
    commit,
    edit_params,
    git,
    outputs,
    planned_jobs,
    run_bounded,
    run_ok,
    workdir,
)

STAGES = ["datasets", "zoo", "distill", "evaluate", "report"]
RESTAMP = ["bash", "workflow/scripts/restamp.sh"]


def dvc(root: Path, *args: str, timeout: int = 900) -> str:
    return run_ok([DVC, *args], root, timeout=timeout)


def files_with_mtimes(root: Path, *folders: str) -> dict[str, int]:
    files = [p for folder in folders for p in sorted((root / folder).rglob("*")) if p.is_file()]
    return {str(p.relative_to(root)): p.stat().st_mtime_ns for p in files}


@pytest.fixture(scope="module")
def origin(tmp_path_factory, fashion_dir) -> Path:
    """A project clone that ran the tiny grid (with a one-model zoo) through `dvc repro`, committed and pushed."""
    base = tmp_path_factory.mktemp("dvc")
    root = workdir(base / "origin", fashion_dir, project=True)
    edit_params(root, add_zoo)
    commit(root, "tiny grid with a zoo")
    dvc(root, "repro", timeout=1200)
    commit(root, "dvc repro")
    dvc(root, "push")
    return root


def test_repro_runs_five_stages_and_versions_every_artifact(origin):
    lock = yaml.safe_load((origin / "dvc.lock").read_text())
    assert list(lock["stages"]) == STAGES
    cached = {out["path"]: out for stage in lock["stages"].values() for out in stage.get("outs", [])}
    for path in ("data/datasets", "zoo", "synthetic", "metrics"):
        assert cached[path]["md5"].endswith(".dir") and cached[path]["nfiles"] > 0, path
    # Params are the active grid's block, resolved from `grids.${grid}`.
    assert "grids.tiny" in lock["stages"]["evaluate"]["params"]["params.yaml"]
    assert "up to date" in dvc(origin, "status")
    assert "Running stage" not in dvc(origin, "repro")
    assert planned_jobs(origin) == {}


def test_pull_in_a_fresh_clone_then_nothing_reruns_and_an_eval_change_reruns_only_evaluations(origin):
    remote = origin.parent / "ddstudy-dvc-remote"  # the default remote: a folder beside the clone
    assert any(p.is_file() for p in remote.rglob("*")), "dvc push wrote nothing to the default remote"
    clone = origin.parent / "clone"
    git(origin.parent, "clone", "-q", str(origin), str(clone))
    dvc(clone, "pull")
    pulled = outputs(clone)
    assert pulled == outputs(origin)
    assert {k.split("/")[0] for k in pulled} == {"data", "synthetic", "metrics", "zoo"}

    # DVC restores every file with a fresh mtime in its own order. Make the worst case certain: the datasets restored
    # last. Snakemake alone would now rerun everything downstream; restamp makes it take the artifacts as finished.
    later = time.time() + 5
    for stamp in clone.glob("data/datasets/*/.snakemake_timestamp"):
        os.utime(stamp, (later, later))
    assert {"distill", "evaluate"} <= set(planned_jobs(clone))
    run_ok(RESTAMP, clone, timeout=600)
    assert planned_jobs(clone) == {}
    assert "Running stage" not in dvc(clone, "repro")

    # Snakemake's metadata was recorded by the restamp, so a changed setting still reruns what it affects: only the
    # evaluations (DVC calls the stages whose params changed; Snakemake runs none of their upstream jobs).
    upstream = files_with_mtimes(clone, "data", "zoo", "synthetic")
    edit_params(clone, lambda params: params["grids"]["tiny"]["evaluate"].update(epochs=2))
    plan = planned_jobs(clone)
    assert plan.get("evaluate") == 2 and not {"biased_dataset", "zoo_model", "distill"} & set(plan), plan
    dvc(clone, "repro")
    assert files_with_mtimes(clone, "data", "zoo", "synthetic") == upstream
    rerun = outputs(clone)
    assert {k: v for k, v in rerun.items() if not k.startswith("metrics/")} == {
        k: v for k, v in pulled.items() if not k.startswith("metrics/")
    }
    assert "up to date" in dvc(clone, "status")


def test_restamp_refuses_when_the_workspace_differs_from_dvc_lock(origin):
    clone = origin.parent / "stale"
    git(origin.parent, "clone", "-q", str(origin), str(clone))
    dvc(clone, "pull")
    edit_params(clone, lambda params: params["grids"]["tiny"]["distill"]["methods"]["dm"].update(iterations=3))
    code, log = run_bounded(RESTAMP, clone, timeout=300)
    assert code == 1 and "differs from dvc.lock" in log.strip().splitlines()[-1], log
    assert not (clone / ".snakemake" / "metadata").exists(), "nothing may be marked finished"


def test_remote_path_is_configurable_without_editing_tracked_files(origin):
    clone = origin.parent / "elsewhere"
    git(origin.parent, "clone", "-q", str(origin), str(clone))
    dvc(clone, "pull")
    other = origin.parent / "other-remote"
    dvc(clone, "remote", "modify", "--local", "shared", "url", str(other))
    dvc(clone, "push")
    assert len([p for p in other.rglob("*") if p.is_file()]) == len(
        [p for p in (origin.parent / "ddstudy-dvc-remote").rglob("*") if p.is_file()]
    )
    assert git(clone, "status", "--porcelain") == ""  # .dvc/config.local is ignored by git


def test_pull_without_a_remote_says_what_to_do(tmp_path):
    """A fresh clone with no remote beside it: one line naming the missing folder and the two ways out."""
    repo = tmp_path / "clone"
    (repo / "workflow" / "scripts").mkdir(parents=True)
    root = Path(__file__).parents[1]
    for script in ("pull.sh", "restamp.sh"):
        (repo / "workflow" / "scripts" / script).write_bytes((root / "workflow" / "scripts" / script).read_bytes())
    run_ok([DVC, "init", "--no-scm", "-q"], repo, timeout=60)
    run_ok([DVC, "remote", "add", "-d", "shared", "../../ddstudy-dvc-remote"], repo, timeout=60)
    code, log = run_bounded(["bash", "workflow/scripts/pull.sh"], repo, timeout=60)
    assert code == 1 and "does not exist yet: run `make push`" in log and "dvc remote modify --local shared" in log
    assert len(log.strip().splitlines()) == 1


def test_fresh_clone_dry_run_and_status(tmp_path):
    """Right after `git clone` + the setup's stage folders (`make stage-dirs`), DVC plans the whole pipeline: `dvc
    repro --dry` names the five Snakemake commands, `dvc status` every stage, and `dvc metrics show` prints one line
    per table row (the committed results/metrics/ folder)."""
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(REPO), str(clone)], check=True, timeout=300)
    if not (clone / "dvc.yaml").is_file():
        pytest.skip("the repository under test is not a git checkout with dvc.yaml")
    run_ok(["make", "-s", "stage-dirs"], clone, timeout=60)
    dry = dvc(clone, "repro", "--dry")
    for stage in STAGES:
        assert f"Running stage '{stage}'" in dry, dry[-2000:]
    status = dvc(clone, "status")
    assert all(f"{stage}:" in status for stage in STAGES), status
    shown = dvc(clone, "metrics", "show").splitlines()
    rows = len(list((clone / "results" / "metrics").rglob("*.json")))
    assert rows and len(shown) >= rows and max(len(line) for line in shown) < 400
    for folder in ("data/datasets", "zoo", "weights", "synthetic", "metrics"):  # planning ran nothing
        assert list((clone / folder).iterdir()) == [], folder
