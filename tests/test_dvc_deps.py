"""DVC code deps that cannot go stale: every module a stage's jobs import (the transitive imports of the library
modules its rules' commands run, as import-linter's graph library sees them) is listed in the stage's ``deps``."""

import runpy
from pathlib import Path

import yaml

ROOT = Path(__file__).parents[1]
DEPS = runpy.run_path(str(ROOT / "workflow" / "scripts" / "dvc_deps.py"))


def test_each_stage_lists_every_module_it_imports():
    assert set(DEPS["ENTRIES"]) == set(yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"])
    problems = DEPS["missing"]()
    assert not problems, "dvc.yaml deps miss modules (run workflow/scripts/dvc_deps.py --write):\n" + "\n".join(
        problems
    )
