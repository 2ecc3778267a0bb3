"""environment.yml (GPU nodes) and pyproject.toml must name the same packages with the same version specs."""

import re
from pathlib import Path

import tomllib
import yaml


def _parse(requirement: str) -> tuple[str, str]:
    match = re.match(r"^\s*([A-Za-z0-9_.\-]+)\s*(.*)$", requirement)
    name = re.sub(r"[-_.]+", "-", match.group(1)).lower()
    spec = ",".join(sorted(part.strip() for part in match.group(2).split(",") if part.strip()))
    return name, spec


def test_environment_matches_pyproject():
    project = tomllib.loads(Path("pyproject.toml").read_text())["project"]
    wanted = dict(_parse(r) for r in project["dependencies"] + project["optional-dependencies"]["dev"])
    env = yaml.safe_load(Path("environment.yml").read_text())
    pip_section = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d)
    declared = dict(_parse(r) for r in pip_section if not r.startswith("-"))
    assert declared == wanted
    assert "-e ." in pip_section
    python = next(d for d in env["dependencies"] if isinstance(d, str) and d.startswith("python="))
    major_minor = tuple(int(x) for x in python.split("=")[1].split(".")[:2])
    floor = tuple(int(x) for x in re.search(r">=\s*([\d.]+)", project["requires-python"]).group(1).split("."))
    assert major_minor >= floor


def test_torch_pair_is_the_one_that_works_here():
    project = tomllib.loads(Path("pyproject.toml").read_text())["project"]
    assert "torch==2.14.1" in project["dependencies"] and "torchvision==0.29.1" in project["dependencies"]
