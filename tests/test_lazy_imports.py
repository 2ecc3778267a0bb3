"""Reading the grid loads no heavy library (ddstudy.lazy): ``ddstudy params check`` and the modules every Snakemake
start-up imports (workflow/rules/common.smk) leave torch, SciPy, OpenCV, scikit-image, matplotlib and pandas
unimported — the check took 4.2 s here when it imported them, ~1 s now."""

from __future__ import annotations

import re
import subprocess
import sys
import types
from pathlib import Path

import pytest

from ddstudy.lazy import Deferred, lazy

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("torch", "scipy", "cv2", "skimage", "matplotlib", "pandas", "PIL")


def _heavy_after(code: str) -> list[str]:
    """The heavy top-level packages a fresh interpreter has imported after running ``code``."""
    probe = f"{code}\nimport sys\nprint(sorted({{m.split('.')[0] for m in sys.modules}} & set({HEAVY!r})))"
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    return eval(result.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("grid", ["demo", "repro", "paper"])
def test_params_check_imports_no_heavy_library(grid):
    code = f"from ddstudy.cli import main\nassert main(['params', 'check', '--grid', {grid!r}]) == 0"
    assert _heavy_after(code) == []


def test_snakemake_start_up_imports_no_heavy_library():
    """What common.smk imports, and the study it builds from params.yaml (the paper grid: every registry)."""
    common = (ROOT / "workflow/rules/common.smk").read_text()
    modules = re.findall(r"^from (ddstudy[\w.]*) import", common, flags=re.MULTILINE)
    assert "ddstudy.workflow" in modules and len(modules) >= 5
    code = "\n".join(
        [
            *(f"import {m}" for m in modules),
            "from ddstudy.study import load_study",
            "assert load_study('params.yaml', 'paper').cells",
        ]
    )
    assert _heavy_after(code) == []


def test_a_stand_in_imports_its_module_on_first_use_and_then_holds_its_namespace():
    name = "json.tool"  # not imported by ddstudy or pytest
    if name in sys.modules:
        pytest.skip(f"{name} already imported")
    stand_in = lazy(name)
    assert isinstance(stand_in, Deferred) and name not in sys.modules
    main = stand_in.main  # the first read imports it
    module = sys.modules[name]
    assert main is module.main and "main" in vars(stand_in)  # copied: later reads are plain lookups
    assert type(stand_in) is types.ModuleType  # a plain module from now on: no hook on every read
    assert stand_in.__name__ == name
    assert lazy(name) is module  # imported already: the module itself


def test_a_stand_in_raises_attribute_error_for_missing_names():
    stand_in = Deferred("string")
    with pytest.raises(AttributeError):
        stand_in.no_such_name  # noqa: B018
    assert isinstance(stand_in, types.ModuleType) and stand_in.ascii_lowercase == "abcdefghijklmnopqrstuvwxyz"
    assert stand_in.__file__ == sys.modules["string"].__file__  # names not copied: the module's __getattr__ hook
