"""DVC code deps from the import graph: each stage lists exactly the modules its jobs import.

    python workflow/scripts/dvc_deps.py          # report what dvc.yaml misses (exit 1 if anything)
    python workflow/scripts/dvc_deps.py --write  # rewrite the src/ deps of every stage in dvc.yaml

The entry modules of a stage are the library modules its rules' `ddstudy` commands run; every stage also lists the
glue its rules are planned with (the CLI package, params, workflow helpers, cost model). The transitive imports come
from grimp, the graph library import-linter (``make lint``) uses. tests/test_dvc_deps.py runs the check.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import grimp
import yaml

ROOT = Path(__file__).resolve().parents[2]
ENTRIES = {
    "datasets": ["ddstudy.data.build", "ddstudy.report.samples"],
    "zoo": ["ddstudy.zoo.train", "ddstudy.zoo.store", "ddstudy.zoo.kde", "ddstudy.report.zoo"],
    "distill": ["ddstudy.distill.run"],
    "evaluate": ["ddstudy.evaluate.protocol", "ddstudy.report.bias_table", "ddstudy.report.ptm"],
    "report": ["ddstudy.report.study"],
}
GLUE = ["ddstudy.cli", "ddstudy.study", "ddstudy.workflow", "ddstudy.cost"]


def module_file(name: str) -> Path:
    path = ROOT / "src" / Path(*name.split("."))
    return (path / "__init__.py") if path.is_dir() else path.with_suffix(".py")


def _code(path: Path) -> bool:
    return not (path.name == "__init__.py" and not path.read_text().strip())  # an empty package marker is not code


def stage_files() -> dict[str, list[Path]]:
    """Stage → the module files its jobs import (relative to the repository)."""
    graph = grimp.build_graph("ddstudy", exclude_type_checking_imports=True)
    out = {}
    for stage, entries in ENTRIES.items():
        modules = set(entries) | {m for m in graph.modules for g in GLUE if m == g or m.startswith(g + ".")}
        for entry in entries:
            modules |= graph.find_upstream_modules(entry)
        out[stage] = sorted({module_file(m).relative_to(ROOT) for m in modules if _code(module_file(m))})
    return out


def missing() -> list[str]:
    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    problems = []
    for stage, files in stage_files().items():
        deps = [ROOT / d for d in stages[stage]["deps"] if isinstance(d, str)]
        for path in files:
            full = ROOT / path
            if not any(full == dep or dep in full.parents for dep in deps):
                problems.append(f"{stage}: {path}")
    return problems


def write() -> None:
    """Replace each stage's src/ deps by its module files (a folder when every module of it is imported)."""
    text = (ROOT / "dvc.yaml").read_text()
    stages = yaml.safe_load(text)["stages"]
    for stage, files in stage_files().items():
        by_dir: dict[Path, list[Path]] = {}
        for path in files:
            by_dir.setdefault(path.parent, []).append(path)
        code = []
        for folder, members in sorted(by_dir.items()):
            every = {p.relative_to(ROOT) for p in (ROOT / folder).glob("*.py") if _code(p)}
            code += [str(folder)] if folder != Path("src/ddstudy") and every == set(members) else map(str, members)
        other = [d for d in stages[stage]["deps"] if not d.startswith("src/")]
        deps = (
            [d for d in other if not d.startswith("workflow/")] + code + [d for d in other if d.startswith("workflow/")]
        )
        match = re.search(rf"(  {stage}:\n    cmd: .*\n    deps:\n)((?:      - .*\n)+)", text)
        text = text[: match.start(2)] + "".join(f"      - {d}\n" for d in deps) + text[match.end(2) :]
    (ROOT / "dvc.yaml").write_text(text)


if __name__ == "__main__":
    if "--write" in sys.argv:
        write()
    problems = missing()
    print("\n".join(problems) or "dvc.yaml code deps cover every stage's imports")
    sys.exit(1 if problems else 0)
