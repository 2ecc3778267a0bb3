"""DVC code deps that cannot go stale: every module a stage's jobs import (the transitive imports of the library
modules its rules' commands run, as import-linter's graph library sees them) is listed in the stage's ``deps``."""

from pathlib import Path

import grimp
import yaml

ROOT = Path(__file__).parents[1]
# The library modules each DVC stage's Snakemake jobs run (`ddstudy <command>` → these modules).
ENTRIES = {
    "datasets": ["ddstudy.data.build", "ddstudy.report.samples"],
    "zoo": ["ddstudy.zoo.train", "ddstudy.zoo.store", "ddstudy.report.zoo"],
    "distill": ["ddstudy.distill.run"],
    "evaluate": ["ddstudy.evaluate.protocol", "ddstudy.report.bias", "ddstudy.report.ptm"],
    "report": ["ddstudy.report.study"],
}
# What every stage's rules read when Snakemake plans them (arguments, resources, the command line itself).
GLUE = ["ddstudy.cli", "ddstudy.params", "ddstudy.workflow", "ddstudy.cost"]


def module_file(name: str) -> Path:
    path = ROOT / "src" / Path(*name.split("."))
    return (path / "__init__.py") if path.is_dir() else path.with_suffix(".py")


def test_each_stage_lists_every_module_it_imports():
    graph = grimp.build_graph("ddstudy", exclude_type_checking_imports=True)
    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    assert set(ENTRIES) == set(stages)
    missing = []
    for stage, entries in ENTRIES.items():
        deps = [ROOT / d for d in stages[stage]["deps"] if isinstance(d, str)]
        modules = set(entries) | set(GLUE)
        for entry in entries:
            modules |= graph.find_upstream_modules(entry)
        for module in sorted(modules):
            path = module_file(module)
            if path.name == "__init__.py" and not path.read_text().strip():
                continue  # an empty package marker
            if not any(path == dep or dep in path.parents for dep in deps):
                missing.append(f"{stage}: {path.relative_to(ROOT)}")
    assert not missing, "dvc.yaml deps miss modules the stage imports:\n" + "\n".join(missing)
