"""The study model: what a grid expands to — zoo models, cells (synthetic sets), the study with what the rules ask
of it. Built by :mod:`ddstudy.study.expand`; read by the Snakefile, the CLI and the report."""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, replace
from pathlib import Path

from ddstudy.accel import Accel
from ddstudy.cost import CostModel
from ddstudy.data.bias_kind import UNBIASED_RATIO
from ddstudy.data.build import VariantSpec
from ddstudy.data.sources import SourceOptions
from ddstudy.debias import KdeConfig, debias_mode
from ddstudy.distill.clom import ClomConfig
from ddstudy.distill.registry import method_spec
from ddstudy.distill.run import set_name
from ddstudy.distill.settings import MethodConfig
from ddstudy.errors import DDStudyError
from ddstudy.evaluate.protocol import EvalConfig
from ddstudy.report.reproduction import PublishedCell
from ddstudy.zoo.store import zoo_block, zoo_job_name
from ddstudy.zoo.train import ZooJob, ZooTrainConfig


@dataclass(frozen=True)
class ZooModel:
    """One PTM training job and its recipe (``kde``: the KDE weights a ``debias: kde`` recipe trains with)."""

    job: ZooJob
    config: ZooTrainConfig
    kde: KdeConfig | None = None

    @property
    def block(self) -> str:
        """Its folder under the zoo root without the init (``<dataset>/<arch>[/debias-<mode>]``)."""
        return zoo_block(self.job.dataset, self.job.arch, self.config.debias)

    @property
    def key(self) -> tuple[str, int]:
        """(block, init): what cells name the zoo models they read by."""
        return self.block, self.job.init

    @property
    def weights_name(self) -> str | None:
        """The KDE weights artifact it trains with (``<dataset>/<kde slug>``), None unless ``debias: kde``."""
        return f"{self.job.dataset}/{self.kde.slug()}" if debias_mode(self.config.debias).reads_weights_file else None


@dataclass(frozen=True)
class Cell:
    """One synthetic set to make: a dataset variant, a distillation (or baseline) config, optional CLoM."""

    dataset: str
    config: MethodConfig
    clom: ClomConfig | None = None

    kde: KdeConfig | None = None  # the KDE weights' embedding and kernel (``debias: kde``)

    @property
    def set_name(self) -> str:
        """``<method>_ipc<ipc>[_<debias>[<KDE kernel tag>]][_<clom slug>]`` (``full`` for the whole set), under
        synthetic/<dataset>/ — the name the distillation gives the set (:func:`ddstudy.distill.run.set_name`)."""
        return set_name(self.config, self.clom, self.kde if self.weights_name else None)

    @property
    def weights_name(self) -> str | None:
        """The KDE weights artifact this cell reads (``<dataset>/<kde slug>``), None unless ``debias: kde`` on a
        method that weights its real batches (MTT's experts read the weights instead: :class:`ZooModel`)."""
        mode = debias_mode(getattr(self.config, "debias", "none"))
        reads = mode.reads_weights_file and method_spec(self.config.method).debias == "real batches"
        return f"{self.dataset}/{self.kde.slug()}" if reads else None

    def ptm_jobs(self) -> list[tuple[str, int]]:
        """(zoo block, init) of every zoo model this cell reads: its CLoM PTMs, the KDE embedding, MTT's experts
        (those trained with the cell's ``debias`` mode)."""
        jobs = []
        if self.clom:
            jobs += [(zoo_block(self.clom.zoo_source, a), i) for a in self.clom.archs for i in range(self.clom.inits)]
        if self.weights_name:
            jobs.append((zoo_block(self.dataset, self.kde.arch), self.kde.init))
        if method_spec(self.config.method).uses_zoo:
            block = zoo_block(self.config.expert_zoo or self.dataset, self.config.model, self.config.debias)
            jobs += [(block, i) for i in self.config.expert_inits()]
        return jobs

    def prerequisites(self) -> list[tuple[str, str]]:
        """(job kind, name) of every job whose artifact this cell reads besides its dataset — each zoo model of
        :meth:`ptm_jobs`, its KDE weights — as :func:`ddstudy.timing.timing_file` names their time records (a cost
        the cell's own distillation and evaluation do not include; shared with every cell that reads them)."""
        jobs = [("zoo", f"{block}/{zoo_job_name([init])}") for block, init in self.ptm_jobs()]
        return jobs + ([("weights", self.weights_name)] if self.weights_name else [])

    @property
    def name(self) -> str:
        return f"{self.dataset}/{self.set_name}"


@dataclass(frozen=True)
class Study:
    """The active grid, expanded into typed, validated pieces."""

    grid: str
    seed: int
    description: str
    variants: tuple[VariantSpec, ...]
    sources: SourceOptions
    workers: int
    zoo: tuple[ZooModel, ...] = ()
    zoo_root: Path = Path("zoo")
    device: str = "auto"
    cells: tuple[Cell, ...] = ()
    evaluations: tuple[tuple[str, str], ...] = ()  # (cell name, eval arch)
    eval_settings: dict | None = None
    threads: dict | None = None
    clom_centre: ClomConfig | None = None
    accel: Accel = Accel()  # how networks run (compile, precision): top-level params, a grid may override
    cost: CostModel = CostModel()  # throughput per device kind → Slurm time limits, `ddstudy plan`
    resources: dict | None = None  # params `resources`: cpu_partition, mem_mb per rule group (defaults filled in)
    ptm_bias_pairs: tuple[tuple[str, str], ...] = ()  # (biased, unbiased) variants of the cross study
    ptm_bias_cells: tuple[str, ...] = ()  # its cells' names (the report's rows)
    clom_cells: tuple[str, ...] = ()  # the names of the clom block's CLoM cells (centre and axes: ptm_claims)
    outputs: str | None = None  # the grid's own folder (params ``outputs``, e.g. results/repro); None: the top
    published: tuple[PublishedCell, ...] = ()  # published cells the grid re-runs (tables/reproduction.md)

    def _place(self, inside: str, top: str) -> str:
        """``<outputs>/<inside>`` for a grid with its own folder, else the top-level ``top``."""
        return f"{self.outputs}/{inside}".rstrip("/") if self.outputs else top

    @property
    def results_dir(self) -> str:
        """Where the report goes (tables, figures, README.md)."""
        return self._place("", "results")

    @property
    def zoo_dir(self) -> str:
        """Where the grid's PTMs (and MTT's experts) go: the top-level ``zoo_root``, or ``<outputs>/zoo`` for a grid
        with its own folder — committed with its other outputs, so that a grid run resumed on fresh machines
        (the repro grid's KDE PTMs: an hour each on a CPU) does not train them again on every machine."""
        return self._place("zoo", str(self.zoo_root))

    @property
    def weights_dir(self) -> str:
        """Where the KDE sample weights go (``debias: kde``): ``weights/``, or ``<outputs>/weights``."""
        return self._place("weights", "weights")

    @property
    def synthetic_dir(self) -> str:
        """Where the synthetic sets go."""
        return self._place("synthetic", "synthetic")

    @property
    def metrics_dir(self) -> str:
        """Where the evaluation records (one JSON per set × architecture) go."""
        return self._place("evaluations", "metrics")

    @property
    def benchmarks_dir(self) -> str:
        """Where Snakemake's benchmark TSVs of the distillation and evaluation jobs go (wall, CPU time, memory)."""
        return self._place("benchmarks", "logs/benchmarks")

    @property
    def has_debias(self) -> bool:
        """Whether any cell mitigates bias (the debias table and figures)."""
        return any(not debias_mode(getattr(c.config, "debias", "none")).plain for c in self.cells)

    @property
    def planned_bias_rows(self) -> tuple[dict, ...]:
        """The bias-study rows the grid will have: (dataset, ratio, severity, method, ipc, eval_arch) of every plain
        evaluation of a biased variant (no CLoM, no mitigation) — what Biased-DD's claims are judged on."""
        variants = {v.name: v for v in self.variants}
        cells = {c.name: c for c in self.cells}
        rows = []
        for name, arch in self.evaluations:
            cell = cells[name]
            spec = variants[cell.dataset]
            if cell.clom or spec.bias == "none" or not debias_mode(getattr(cell.config, "debias", "none")).plain:
                continue
            ipc = getattr(cell.config, "ipc", None)
            rows.append(
                {"dataset": cell.dataset, "ratio": spec.ratio, "severity": spec.severity}
                | {"method": cell.config.method, "ipc": ipc, "eval_arch": arch, "debias": "none"}
            )
        return tuple(rows)

    @property
    def has_ratio_sweep(self) -> bool:
        """Whether a biased variant above ratio 1/K (``UNBIASED_RATIO``) is evaluated beside its 1/K twin (same
        everything but the ratio): Biased-DD's claims table."""
        evaluated = {row["dataset"] for row in self.planned_bias_rows}
        variants = {v.name: v for v in self.variants}
        return any(
            variants[name].ratio > UNBIASED_RATIO and replace(variants[name], ratio=UNBIASED_RATIO).name in evaluated
            for name in evaluated
        )

    @property
    def uses_clom(self) -> bool:
        """Whether any cell is guided by PTMs (the PTM study's tables)."""
        return any(c.clom for c in self.cells)

    def kde_config(self, weights_name: str) -> KdeConfig:
        """The KDE settings of the weights artifact ``<dataset>/<slug>`` a cell or a zoo model of the grid reads."""
        for item in (*self.cells, *self.zoo):
            if item.weights_name == weights_name:
                return item.kde
        raise DDStudyError(f"no cell or zoo model of grid '{self.grid}' reads KDE weights {weights_name}")

    @property
    def prerequisites(self) -> dict[str, list[tuple[str, str]]]:
        """Cell name → the jobs whose artifacts it reads (:meth:`Cell.prerequisites`), for the cells that read any."""
        return {cell.name: jobs for cell in self.cells if (jobs := cell.prerequisites())}

    @property
    def weights_names(self) -> tuple[str, ...]:
        """Every KDE weights artifact of the grid (``<dataset>/<slug>``), each computed once."""
        names = (item.weights_name for item in (*self.cells, *self.zoo))
        return tuple(dict.fromkeys(n for n in names if n))

    @property
    def device_kind(self) -> str:
        """The device kind jobs run on for cost estimates: the CPU only when params say so (GPU nodes otherwise)."""
        return "cpu" if self.device == "cpu" else "cuda"

    def cell(self, dataset: str, set_name: str) -> Cell:
        for cell in self.cells:
            if cell.dataset == dataset and cell.set_name == set_name:
                return cell
        raise DDStudyError(f"synthetic set {dataset}/{set_name} is not in grid '{self.grid}'")

    def eval_config(self, method: str, dataset: str | None = None) -> EvalConfig:
        """The grid's evaluation protocol for ``method`` on ``dataset``: the shared settings, then the method's
        overrides (``evaluate.methods``), then for every ``evaluate.per_dataset`` pattern the dataset matches, in
        order, the pattern's settings and then its own ``methods`` entry for ``method`` (a protocol that belongs to
        a paper's table: 5 networks on the Biased-DD cells; COBRA's 1,500 DM epochs on its benchmarks only)."""
        settings = dict(self.eval_settings or {})
        overrides = settings.pop("methods", {}) or {}
        per_dataset = settings.pop("per_dataset", {}) or {}
        settings.pop("archs", None)
        settings.pop("cross_arch", None)
        merged = {**settings, **(overrides.get(method) or {})}
        for pattern, values in per_dataset.items():
            if dataset is not None and fnmatch.fnmatchcase(dataset, pattern):
                values = dict(values or {})
                by_method = values.pop("methods", None) or {}
                merged.update(values)
                merged.update(by_method.get(method) or {})
        try:
            return EvalConfig(seed=self.seed, **merged)
        except TypeError as err:
            raise DDStudyError(f"grids.{self.grid}.evaluate.methods.{method}: {err}") from None

    def cell_eval_config(self, cell: Cell) -> EvalConfig:
        """The evaluation protocol of one synthetic set (its method and dataset)."""
        return self.eval_config(cell.config.method, cell.dataset)

    def zoo_model(self, dataset: str, arch: str, init: int) -> ZooModel:
        """The plain (not debiased) zoo model of ``dataset``/``arch``/``init``."""
        return self.zoo_at(zoo_block(dataset, arch), init)

    def zoo_at(self, block: str, init: int) -> ZooModel:
        """The zoo model of ``block`` (``<dataset>/<arch>[/debias-<mode>]``) and ``init``."""
        for entry in self.zoo:
            if entry.key == (block, int(init)):
                return entry
        raise DDStudyError(f"zoo model {block}/init{init} is not in grid '{self.grid}'")

    @property
    def zoo_datasets(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(entry.job.dataset for entry in self.zoo))

    def variant(self, name: str) -> VariantSpec:
        for spec in self.variants:
            if spec.name == name:
                return spec
        raise DDStudyError(f"dataset variant '{name}' is not in grid '{self.grid}'; see `ddstudy data list`")

    @property
    def biased(self) -> tuple[VariantSpec, ...]:
        return tuple(v for v in self.variants if v.bias != "none")

    @property
    def clean(self) -> tuple[VariantSpec, ...]:
        return tuple(v for v in self.variants if v.bias == "none")
