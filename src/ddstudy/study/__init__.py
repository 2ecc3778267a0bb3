"""The study: params.yaml → one typed, validated grid (:class:`Study`). The only reader of params — Snakemake (the
Snakefile), DVC (via the CLI) and the CLI all go through :func:`load_study`, so they agree on which dataset
variants, zoo models, synthetic sets and evaluations exist and what they are called.

* :mod:`ddstudy.study.schema` — the schema (base file + the registries), safe loading, one-line validation errors;
* :mod:`ddstudy.study.model` — ``ZooModel``, ``Cell``, ``Study``;
* :mod:`ddstudy.study.expand` — one expander per grid block (the blocks beside the plain cells on one skeleton);
* here — the assembly (:func:`study_from_params`) and the Slurm defaults.
"""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path

from ddstudy.accel import Accel
from ddstudy.cost import CostModel
from ddstudy.data.sources import SourceOptions
from ddstudy.errors import DDStudyError
from ddstudy.study.expand import (
    check_experts,
    clom_config,
    expand_cells,
    expand_clom,
    expand_datasets,
    expand_debias,
    expand_evaluations,
    expand_ptm_bias,
    expand_published,
    expand_zoo,
    match,
)
from ddstudy.study.model import Cell, Study, ZooModel
from ddstudy.study.schema import DEFAULT_PARAMS, load_params, schema_defaults, validate_params

__all__ = ["Cell", "Study", "ZooModel", "load_params", "load_study", "study_from_params", "validate_params"]


def study_from_params(params: dict, grid: str | None = None, source: str = "params.yaml") -> Study:
    """Validate ``params`` and expand the active grid (or ``grid``, overriding params' ``grid``)."""
    if grid is not None:
        params = {**params, "grid": grid}
    validate_params(params, source)
    name = params["grid"]
    grid_params = params["grids"][name]
    here = f"{source}: grids.{name}"
    seed = int(grid_params.get("seed", 42))
    sources = params.get("sources", {}) or {}
    options = SourceOptions(
        root=Path(sources.get("root", "data/raw")),
        download=bool(sources.get("download", False)),
        fashion_mnist_dir=Path(sources["fashion_mnist_dir"]) if sources.get("fashion_mnist_dir") else None,
        mnist_dir=Path(sources["mnist_dir"]) if sources.get("mnist_dir") else None,
    )
    distill = grid_params.get("distill")
    variants = expand_datasets(grid_params["datasets"], seed)
    cells = expand_cells(distill, variants, seed, here)
    zoo = expand_zoo(grid_params.get("zoo"), variants, seed, here)
    clom_cells = expand_clom(grid_params.get("clom"), distill, cells, variants, zoo, seed, here)
    cells += clom_cells
    debias_cells, debias_experts = expand_debias(grid_params.get("debias"), distill, cells, variants, zoo, seed, here)
    cells, zoo = cells + debias_cells, zoo + debias_experts
    cross_cells, cross_names, cross_pairs = expand_ptm_bias(
        grid_params.get("ptm_bias"), distill, cells, variants, zoo, seed, here
    )
    cells += cross_cells
    check_experts(cells, zoo, f"{here}.distill")
    clom = grid_params.get("clom")
    study = Study(
        grid=name,
        seed=seed,
        description=grid_params.get("description", ""),
        variants=variants,
        sources=options,
        workers=int({**schema_defaults("build"), **(params.get("build") or {})}["workers"]),
        zoo=zoo,
        zoo_root=Path(params.get("zoo_root", "zoo")),
        device=params.get("device", "auto"),
        ptm_bias_cells=cross_names,
        clom_cells=tuple(c.name for c in clom_cells if c.clom),
        outputs=grid_params.get("outputs"),
        published=expand_published(grid_params.get("published"), cells, f"{here}.published"),
        ptm_bias_pairs=cross_pairs,
        cells=cells,
        evaluations=expand_evaluations(grid_params.get("evaluate"), cells, variants, here),
        eval_settings=grid_params.get("evaluate") or {},
        threads={**schema_defaults("threads"), **(params.get("threads") or {})},
        accel=Accel(**{f.name: grid_params.get(f.name, params.get(f.name, f.default)) for f in fields(Accel)}),
        cost=_cost_model(params.get("cost") or {}),
        resources=_resources(params.get("resources") or {}),
        clom_centre=clom_config(clom.get("center") or {}, f"grids.{name}.clom.center") if clom else None,
    )
    names = [v.name for v in variants]
    distill_methods = (grid_params.get("distill") or {}).get("methods") or {}

    def grid_methods(methods, where: str) -> None:
        for method in methods or {}:
            if method not in distill_methods:
                raise DDStudyError(
                    f"{where}: '{method}' is not a method of this grid's distill block ({', '.join(distill_methods)})"
                )

    for pattern, values in ((grid_params.get("evaluate") or {}).get("per_dataset") or {}).items():
        match([pattern], names, f"{here}.evaluate.per_dataset")
        grid_methods((values or {}).get("methods"), f"{here}.evaluate.per_dataset.{pattern}.methods")
    for pattern, methods in ((grid_params.get("distill") or {}).get("per_dataset") or {}).items():
        match([pattern], names, f"{here}.distill.per_dataset")
        grid_methods(methods, f"{here}.distill.per_dataset.{pattern}")
    for cell in cells:
        study.cell_eval_config(cell)  # fail now on a bad evaluation override, not in the middle of a run
    return study


def load_study(path: str | Path = DEFAULT_PARAMS, grid: str | None = None) -> Study:
    return study_from_params(load_params(path), grid, source=str(path))


RESOURCE_MEM_MB = {
    "biased_dataset": 6000,
    "clean_dataset": 4000,
    "figures": 4000,
    "zoo_model": 8000,
    "distill": 8000,
    "select": 8000,
    "evaluate": 8000,
    "tables": 4000,
}


def _resources(settings: dict) -> dict:
    return {
        "cpu_partition": settings.get("cpu_partition"),
        "mem_mb": RESOURCE_MEM_MB | (settings.get("mem_mb") or {}),
    }


def _cost_model(settings: dict) -> CostModel:
    defaults = CostModel()
    throughput = dict(defaults.throughput_gflops) | (settings.get("throughput_gflops") or {})
    return CostModel(
        throughput_gflops=tuple(sorted(throughput.items())),
        startup_s=float(settings.get("startup_s", defaults.startup_s)),
        safety=float(settings.get("safety", defaults.safety)),
        min_minutes=int(settings.get("min_minutes", defaults.min_minutes)),
    )
