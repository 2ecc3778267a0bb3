"""params.yaml: loading, schema validation with one-line errors, and the typed study grid.

This is the only module that interprets params. Snakemake (the Snakefile), DVC (via the CLI) and the CLI all go
through :func:`load_study`, so the three agree on which dataset variants exist and what they are called.
"""

from __future__ import annotations

import difflib
import fnmatch
import itertools
from dataclasses import dataclass, fields, replace
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from ddstudy.accel import Accel
from ddstudy.cost import CostModel
from ddstudy.data.build import BIASES, VariantSpec
from ddstudy.data.sources import SOURCES, SourceOptions
from ddstudy.device import Runtime
from ddstudy.distill.clom import ClomConfig
from ddstudy.distill.registry import DISTILLING, METHODS, method_config, method_spec
from ddstudy.distill.run import set_name
from ddstudy.distill.settings import MethodConfig, RealBatchConfig
from ddstudy.errors import DDStudyError
from ddstudy.evaluate.protocol import EvalConfig
from ddstudy.knobs import SEED_MAX, build, json_schema
from ddstudy.models import check_model_name
from ddstudy.report.reproduction import PublishedCell
from ddstudy.weighting import DEBIAS_MODES, KdeConfig
from ddstudy.zoo.store import zoo_block
from ddstudy.zoo.train import ZooJob, ZooTrainConfig

SCHEMA_PATH = Path(str(resources.files("ddstudy") / "schemas" / "params.schema.yaml"))
DEFAULT_PARAMS = Path("params.yaml")


def load_schema() -> dict:
    """The params schema: the YAML file (which Snakemake's ``validate`` reads too) with what the registries and the
    settings classes define filled in — each method's own settings, the distilling methods of CLoM, the CLoM and
    zoo-recipe settings, the evaluation settings, the sources and bias kinds — so no name is listed twice."""
    schema = yaml.safe_load(SCHEMA_PATH.read_text())
    defs = schema["$defs"]
    grid = defs["grid"]["properties"]
    ipcs = {"type": "array", "items": {"type": "integer", "minimum": 1}, "description": "images per class"}
    methods = {}
    for name, spec in METHODS.items():
        block = json_schema(spec.config, omit=("ipc", "seed"))
        block["properties"]["ipcs"] = ipcs
        block["properties"]["datasets"] = {
            "type": "array",
            "items": {"type": "string"},
            "description": "variant names or patterns for this method only (default: the block's datasets)",
        }
        methods[name] = block
    grid["distill"]["properties"]["methods"].update(additionalProperties=False, properties=methods)
    clom = grid["clom"]["properties"]
    clom["methods"].update(additionalProperties=False, properties={m: ipcs for m in DISTILLING})
    per_method = clom["axes"]["properties"]["alphas"]["oneOf"][1]
    per_method.update(
        additionalProperties=False, properties={m: per_method["additionalProperties"] for m in DISTILLING}
    )
    defs["clom_setting"] = json_schema(ClomConfig)
    debias = grid["debias"]["properties"]
    debias["methods"].update(additionalProperties=False, properties={m: ipcs for m in DISTILLING})
    debias["kde"] = json_schema(KdeConfig)
    debias["modes"]["items"] = {"enum": list(DEBIAS_MODES)}
    defs["zoo_train"] = json_schema(ZooTrainConfig)
    grid["evaluate"]["properties"].update(json_schema(EvalConfig, omit=("seed",))["properties"])
    group = defs["dataset_group"]["properties"]
    group["source"]["enum"] = sorted(SOURCES)
    group["bias"]["enum"] = list(BIASES)
    # Ranges the command line applies too (one definition each): threads per job, seeds.
    threads = json_schema(Runtime)["properties"]["threads"]["anyOf"][0]
    for stage in schema["properties"]["threads"]["properties"].values():
        stage.update({k: v for k, v in threads.items() if k in ("minimum", "maximum")})
    grid["seed"].update(minimum=0, maximum=SEED_MAX)
    return schema


def schema_defaults(key: str) -> dict:
    """The defaults the params schema states for the fields of a top-level block (one place for them)."""
    return {name: spec["default"] for name, spec in load_schema()["properties"][key]["properties"].items()}


class _UniqueKeyLoader(yaml.SafeLoader):
    """Safe YAML that refuses a key given twice in one mapping (plain YAML keeps the last silently: a second
    ``grid:`` would switch the study without a word)."""

    def construct_mapping(self, node, deep=False):
        seen: dict = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"key '{key}' given twice (first at line {seen[key] + 1})", key_node.start_mark
                )
            seen[key] = key_node.start_mark.line
        return super().construct_mapping(node, deep)


def _yaml_error(path: Path, err: yaml.YAMLError) -> str:
    """One line naming where the YAML is broken: the line of the construct that is left open (an unclosed bracket
    or quote, where the mistake is) beside the line where the parser noticed it."""
    problem = getattr(err, "problem", None) or "invalid YAML"
    mark, context = getattr(err, "problem_mark", None), getattr(err, "context_mark", None)
    if mark is None:
        return f"{path}: invalid YAML ({problem}); fix the syntax"
    if context is not None and context.line != mark.line and getattr(err, "context", None):
        return (
            f"{path}: invalid YAML at line {context.line + 1} ({err.context} there is not closed: {problem} at line "
            f"{mark.line + 1}); fix the syntax"
        )
    return f"{path}: invalid YAML at line {mark.line + 1} ({problem}); fix the syntax"


def load_params(path: str | Path = DEFAULT_PARAMS) -> dict:
    """Read params.yaml (safe YAML only, a key given twice refused); a missing or malformed file is one line."""
    path = Path(path)
    try:
        params = yaml.load(path.read_text(), Loader=_UniqueKeyLoader)  # noqa: S506 - a SafeLoader subclass
    except FileNotFoundError:
        raise DDStudyError(f"{path}: params file not found; run from the repository root or pass --params") from None
    except yaml.YAMLError as err:
        raise DDStudyError(_yaml_error(path, err)) from None
    if not isinstance(params, dict):
        raise DDStudyError(f"{path}: expected a mapping at the top level")
    return params


def _format_path(parts: Any) -> str:
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "(top level)"


def _describe(error: jsonschema.ValidationError) -> str:
    where = _format_path(error.absolute_path)
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        allowed = list(error.schema.get("properties", {}))
        unknown = [key for key in error.instance if key not in allowed]
        if unknown and allowed:
            key = unknown[0]
            close = difflib.get_close_matches(str(key), allowed, n=1)
            hint = f"did you mean '{close[0]}'?" if close else f"allowed: {', '.join(allowed)}"
            return f"{where}: unknown key '{key}' ({hint})"
    if error.validator == "enum":
        return f"{where}: {error.instance!r} is not one of {', '.join(map(str, error.validator_value))}"
    if error.validator == "required":
        return f"{where}: {error.message}"
    return f"{where}: {error.message}"


def validate_params(params: dict, source: str = "params.yaml") -> None:
    """Validate against the JSON schema (the same file Snakemake's ``validate`` uses) and the grid choice."""
    validator = jsonschema.Draft202012Validator(load_schema())
    errors = sorted(validator.iter_errors(params), key=lambda e: (len(e.absolute_path), str(e.absolute_path)))
    if errors:
        raise DDStudyError(f"{source}: {_describe(jsonschema.exceptions.best_match(errors))}")
    if params["grid"] not in params["grids"]:
        raise DDStudyError(
            f"{source}: grid '{params['grid']}' is not defined; choose one of: {', '.join(params['grids'])}"
        )


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
        return f"{self.job.dataset}/{self.kde.slug()}" if self.config.debias == "kde" else None


@dataclass(frozen=True)
class Cell:
    """One synthetic set to make: a dataset variant, a distillation (or baseline) config, optional CLoM."""

    dataset: str
    config: MethodConfig
    clom: ClomConfig | None = None

    kde: KdeConfig | None = None  # the KDE weights' embedding and kernel (``debias: kde``)

    @property
    def set_name(self) -> str:
        """``<method>_ipc<ipc>[_<debias>][_<clom slug>]`` (``full`` for the whole set), under synthetic/<dataset>/."""
        return set_name(self.config, self.clom)

    @property
    def weights_name(self) -> str | None:
        """The KDE weights artifact this cell reads (``<dataset>/<kde slug>``), None unless ``debias: kde`` on a
        method that weights its real batches (MTT's experts read the weights instead: :class:`ZooModel`)."""
        kde = getattr(self.config, "debias", "none") == "kde" and isinstance(self.config, RealBatchConfig)
        return f"{self.dataset}/{self.kde.slug()}" if kde else None

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
    outputs: str | None = None  # the grid's own folder (params ``outputs``, e.g. results/repro); None: the top
    published: tuple[PublishedCell, ...] = ()  # published cells the grid re-runs (tables/reproduction.md)

    @property
    def results_dir(self) -> str:
        """Where the report goes (tables, figures, README.md)."""
        return self.outputs or "results"

    @property
    def synthetic_dir(self) -> str:
        """Where the synthetic sets go."""
        return f"{self.outputs}/synthetic" if self.outputs else "synthetic"

    @property
    def metrics_dir(self) -> str:
        """Where the evaluation records (one JSON per set × architecture) go."""
        return f"{self.outputs}/evaluations" if self.outputs else "metrics"

    @property
    def benchmarks_dir(self) -> str:
        """Where Snakemake's benchmark TSVs of the distillation and evaluation jobs go (wall, CPU time, memory)."""
        return f"{self.outputs}/benchmarks" if self.outputs else "logs/benchmarks"

    @property
    def has_debias(self) -> bool:
        return any(getattr(c.config, "debias", "none") != "none" for c in self.cells)

    def kde_config(self, weights_name: str) -> KdeConfig:
        """The KDE settings of the weights artifact ``<dataset>/<slug>`` a cell or a zoo model of the grid reads."""
        for item in (*self.cells, *self.zoo):
            if item.weights_name == weights_name:
                return item.kde
        raise DDStudyError(f"no cell or zoo model of grid '{self.grid}' reads KDE weights {weights_name}")

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
        overrides (``evaluate.methods``), then those of every ``evaluate.per_dataset`` pattern the dataset
        matches (a protocol that belongs to a paper's table, e.g. 5 networks for the Biased-DD cells)."""
        settings = dict(self.eval_settings or {})
        overrides = settings.pop("methods", {}) or {}
        per_dataset = settings.pop("per_dataset", {}) or {}
        settings.pop("archs", None)
        settings.pop("cross_arch", None)
        merged = {**settings, **(overrides.get(method) or {})}
        for pattern, values in per_dataset.items():
            if dataset is not None and fnmatch.fnmatchcase(dataset, pattern):
                merged.update(values or {})
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


def expand_datasets(groups: list[dict], seed: int) -> tuple[VariantSpec, ...]:
    """Cross each group's ratios × severities into variants (one clean variant for ``bias: none``)."""
    specs: dict[str, VariantSpec] = {}
    for group in groups:
        common = {
            "source": group["source"],
            "bias": group["bias"],
            "seed": seed,
            "train_per_class": group.get("train_per_class"),
            "test_per_class": group.get("test_per_class"),
        }
        if group["bias"] == "none":
            combos: list[dict] = [{}]
        else:
            if "ratios" not in group or "severities" not in group:
                raise DDStudyError(f"dataset group {group['source']}/{group['bias']} needs `ratios` and `severities`")
            combos = [
                {"ratio": float(r), "severity": int(s), "test_attrs": group.get("test_attrs", "conflicting")}
                for r, s in itertools.product(group["ratios"], group["severities"])
            ]
        for combo in combos:
            spec = VariantSpec(**common, **combo)
            specs.setdefault(spec.name, spec)
    return tuple(specs.values())


def zoo_train_config(*layers: dict | None) -> ZooTrainConfig:
    """Merge recipe layers (reference defaults ← grid ``zoo.train`` ← block ``train``)."""
    merged: dict = {}
    for layer in layers:
        merged.update(layer or {})
    for key in ("milestones", "save_epochs"):
        if merged.get(key) is not None:
            merged[key] = tuple(int(v) for v in merged[key])
    return ZooTrainConfig(**merged)


def _match(patterns: list[str], names: list[str], where: str) -> list[str]:
    """Variant names matching shell-style patterns, in order; a pattern matching nothing is an error."""
    chosen: list[str] = []
    for pattern in patterns:
        matched = [n for n in names if fnmatch.fnmatchcase(n, pattern)]
        if not matched:
            close = difflib.get_close_matches(pattern, names, n=1)
            hint = f"did you mean '{close[0]}'?" if close else "see `ddstudy data list`"
            raise DDStudyError(f"{where}: '{pattern}' matches no dataset variant of this grid ({hint})")
        chosen += [n for n in matched if n not in chosen]
    return chosen


def expand_zoo(zoo: dict | None, variants: tuple[VariantSpec, ...], seed: int, where: str) -> tuple[ZooModel, ...]:
    """Every (dataset, arch, init) of the grid's zoo blocks; patterns match the grid's variant names."""
    names = [v.name for v in variants]
    models: dict[tuple, ZooModel] = {}
    for b, block in enumerate((zoo or {}).get("models", [])):
        here = f"{where}.zoo.models[{b}]"
        datasets = _match(block["datasets"], names, f"{here}.datasets")
        for a, arch in enumerate(block["archs"]):
            try:
                check_model_name(arch)
            except DDStudyError as err:
                raise DDStudyError(f"{here}.archs[{a}]: {err}") from None
        try:
            config = zoo_train_config((zoo or {}).get("train"), block.get("train"))
        except DDStudyError as err:
            raise DDStudyError(f"{here}.train: {err}") from None
        if config.debias == "kde":
            raise DDStudyError(
                f"{here}.train: debias kde needs its KDE weights; the grid's debias block derives such zoo "
                "models for MTT (debias.methods.mtt) — use fairdd or oracle here"
            )
        first = int(block.get("first_init", 0))
        inits = range(first, first + int(block["inits"]))
        for dataset, arch, init in itertools.product(datasets, block["archs"], inits):
            entry = ZooModel(ZooJob(dataset, arch, init, seed), config)
            if entry.key in models and models[entry.key] != entry:
                raise DDStudyError(f"{here}: {entry.block}/init{init} is also in an earlier block with another recipe")
            models[entry.key] = entry
    return tuple(models.values())


def expand_cells(distill: dict | None, variants: tuple[VariantSpec, ...], seed: int, where: str) -> tuple[Cell, ...]:
    """Datasets × methods × IPCs of the grid's ``distill`` block (``full`` once per dataset)."""
    if not distill:
        return ()
    names = [v.name for v in variants]
    datasets = _match(distill.get("datasets", ["*"]), names, f"{where}.distill.datasets")
    cells: list[Cell] = []
    for method, settings in (distill.get("methods") or {}).items():
        settings = dict(settings or {})
        ipcs = settings.pop("ipcs", [1]) if method != "full" else [1]
        own = settings.pop("datasets", None)  # a method on fewer datasets than the block (e.g. MTT's experts)
        chosen = _match(own, names, f"{where}.distill.methods.{method}.datasets") if own else datasets
        settings.setdefault("model", distill.get("model", "ConvNet"))
        for dataset, ipc in itertools.product(chosen, ipcs):
            try:
                config = method_config(method, int(ipc), seed=seed, **settings)
            except DDStudyError as err:
                raise DDStudyError(f"{where}.distill.methods.{method}: {err}") from None
            cells.append(Cell(dataset, config))
    return tuple(cells)


def _method_settings(distill: dict | None, method: str) -> dict:
    """A method's hyper-parameters from the grid's ``distill.methods`` (without its IPCs and datasets)."""
    settings = {
        k: v for k, v in ((distill or {}).get("methods") or {}).get(method, {}).items() if k not in ("ipcs", "datasets")
    }
    settings.setdefault("model", (distill or {}).get("model", "ConvNet"))
    return settings


def _zoo_keeps(zoo: tuple, job: tuple[str, int], epoch: int) -> bool:
    """Whether the zoo model ``job`` = (block, init) is in the grid and keeps ``epoch``."""
    return any(m.key == job and epoch in m.config.epochs_to_save for m in zoo)


def expand_debias(
    debias: dict | None, distill: dict | None, cells: tuple[Cell, ...], variants, zoo: tuple, seed: int, where: str
) -> tuple[tuple[Cell, ...], tuple[ZooModel, ...]]:
    """Mitigation cells (issue 15): datasets × methods × IPCs × ``modes``, each the set ``<method>_ipc<ipc>_<mode>``
    beside its plain cell (added when the distill block lacks it), with the method's settings from
    ``distill.methods``. ``kde`` reads weights from the dataset's own zoo PTM ``kde.arch``/init/epoch.

    MTT's mode acts on its experts: for each of its cells the zoo models it reads are derived from its plain
    experts — same jobs (init weights, batches, augmentations), recipe + ``debias: <mode>`` — so params list the
    expert block once. Returns (cells, derived zoo models)."""
    if not debias:
        return (), ()
    here = f"{where}.debias"
    names = [v.name for v in variants if v.bias != "none"]
    datasets = _match(debias.get("datasets", ["*"]), names, f"{here}.datasets")
    modes = debias.get("modes") or [m for m in DEBIAS_MODES if m != "none"]
    for mode in modes:
        if mode not in DEBIAS_MODES:
            raise DDStudyError(f"{here}.modes: unknown mode '{mode}'; choose from {', '.join(DEBIAS_MODES)}")
    kde = build(KdeConfig, dict(debias.get("kde") or {}), f"{here}.kde: ")
    existing = {c.name for c in cells}
    plain_zoo = {m.key: m for m in zoo}
    new: dict[str, Cell] = {}
    experts: dict[tuple, ZooModel] = {}
    for method, ipcs in (debias.get("methods") or {}).items():
        if method not in DISTILLING:
            raise DDStudyError(f"{here}.methods: debias applies to the distilling methods ({', '.join(DISTILLING)})")
        settings = _method_settings(distill, method)
        for dataset, ipc in itertools.product(datasets, ipcs):
            try:
                base = Cell(dataset, method_config(method, int(ipc), seed=seed, **settings))
            except DDStudyError as err:
                raise DDStudyError(f"{here}.methods.{method}: {err}") from None
            if base.name not in existing:
                new.setdefault(base.name, base)
            for mode in modes:
                if mode == "none":
                    continue
                cell = Cell(dataset, replace(base.config, debias=mode), kde=kde if mode == "kde" else None)
                if mode == "kde" and not _zoo_keeps(zoo, (zoo_block(dataset, kde.arch), kde.init), kde.epoch):
                    raise DDStudyError(
                        f"{here}: {cell.name} embeds with PTM {dataset}/{kde.arch}/init{kde.init} at epoch {kde.epoch},"
                        " which the grid's zoo does not train or keep; add it to zoo.models or change debias.kde"
                    )
                if method_spec(method).uses_zoo:
                    for job in base.ptm_jobs():
                        if job not in plain_zoo:
                            raise DDStudyError(
                                f"{here}: {cell.name} trains its experts from {job[0]}/init{job[1]}, which the grid's"
                                " zoo does not have; add MTT's expert block to zoo.models"
                            )
                        plain = plain_zoo[job]
                        derived = ZooModel(plain.job, replace(plain.config, debias=mode), cell.kde)
                        if plain_zoo.get(derived.key, derived) != derived:
                            raise DDStudyError(
                                f"{here}: zoo.models has {derived.block}/init{job[1]} with another recipe than "
                                f"{cell.name}'s experts (its plain experts + debias {mode}); drop that block"
                            )
                        if derived.key not in plain_zoo:
                            experts.setdefault(derived.key, derived)
                new.setdefault(cell.name, cell)
    return tuple(new.values()), tuple(experts.values())


def expand_ptm_bias(
    block: dict | None, distill: dict | None, cells: tuple[Cell, ...], variants, zoo: tuple, seed: int, where: str
) -> tuple[Cell, ...]:
    """The cross study (issue 15): do PTMs trained on a biased set carry its bias into CLoM? For each ``pairs``
    entry (a biased variant and an unbiased counterpart of the same shape), both are distilled with CLoM from the
    PTMs of each (``clom`` gives the setting; ``zoo_source`` is filled in) — 2 targets × 2 PTM sources — beside the
    plain cells, for every method × IPC of ``methods``."""
    if not block:
        return ()
    here = f"{where}.ptm_bias"
    names = [v.name for v in variants]
    existing = {c.name for c in cells}
    new: dict[str, Cell] = {}
    members: list[str] = []  # every cell of the study, also those another block made
    for p, pair in enumerate(block.get("pairs") or []):
        biased = _match([pair["biased"]], names, f"{here}.pairs[{p}].biased")[0]
        unbiased = _match([pair["unbiased"]], names, f"{here}.pairs[{p}].unbiased")[0]
        for method, ipcs in (block.get("methods") or {}).items():
            if method not in DISTILLING:
                raise DDStudyError(f"{here}.methods: CLoM guides a distilling method, not '{method}'")
            settings = _method_settings(distill, method)
            for target, source, ipc in itertools.product((biased, unbiased), (biased, unbiased), ipcs):
                config = method_config(method, int(ipc), seed=seed, **settings)
                base = Cell(target, config)
                if base.name not in existing:
                    new.setdefault(base.name, base)
                clom = _clom_config({**(block.get("clom") or {}), "zoo_source": source}, f"{here}.clom")
                cell = Cell(target, config, clom)
                members += [base.name, cell.name]
                if cell.name in existing:  # the PTM study's centre may be the same cell
                    continue
                for job in cell.ptm_jobs():
                    if not _zoo_keeps(zoo, job, clom.epoch):
                        raise DDStudyError(
                            f"{here}: {cell.name} needs PTM {job[0]}/init{job[1]} at epoch {clom.epoch}, "
                            "which the grid's zoo does not train or keep; add it to zoo.models"
                        )
                new.setdefault(cell.name, cell)
    return tuple(new.values()), tuple(dict.fromkeys(members))


def check_experts(cells: tuple[Cell, ...], zoo: tuple, where: str) -> None:
    """Every expert trajectory a cell reads (MTT) is a zoo model of the grid that keeps every epoch it needs."""
    kept = {m.key: set(m.config.epochs_to_save) for m in zoo}
    for cell in cells:
        if not method_spec(cell.config.method).uses_zoo:
            continue
        needed = set(range(1, cell.config.epochs_needed + 1))
        for job in cell.ptm_jobs():
            if not needed <= kept.get(job, set()):
                raise DDStudyError(
                    f"{where}: {cell.name} reads expert {job[0]}/init{job[1]} at epochs 1..{max(needed)}, "
                    "which the grid's zoo does not train or keep; add a zoo block with MTT's buffer recipe "
                    "(first_init, inits, every epoch saved) or lower experts / max_start_epoch"
                )


def _clom_config(settings: dict, where: str) -> ClomConfig:
    settings = dict(settings)
    for key in ("archs", "alphas"):
        if key in settings:
            settings[key] = tuple(settings[key])
    try:
        return ClomConfig(**settings)
    except TypeError as err:
        raise DDStudyError(f"{where}: {err}") from None
    except DDStudyError as err:
        raise DDStudyError(f"{where}: {err}") from None


def expand_clom(
    clom: dict | None, distill: dict | None, cells: tuple[Cell, ...], variants, zoo: tuple, seed: int, where: str
) -> tuple[Cell, ...]:
    """CLoM cells: for each dataset × method × IPC, the centre setting and one axis varied at a time.

    Every axis value is a partial override of the centre (``domain`` entries may set several keys, e.g.
    ``{distance: cos, zoo_source: cifar100-clean}``). The cells without CLoM are added when the distill block
    lacks them, so every CLoM number has its baseline. Every PTM a cell needs must be in the grid's zoo.
    """
    if not clom:
        return ()
    here = f"{where}.clom"
    datasets = _match(clom.get("datasets", ["*"]), [v.name for v in variants], f"{here}.datasets")
    method_settings = (distill or {}).get("methods") or {}
    zoo_epochs = {m.key: set(m.config.epochs_to_save) for m in zoo}
    existing = {c.name for c in cells}
    new: dict[str, Cell] = {}
    for method, ipcs in (clom.get("methods") or {}).items():
        if method not in DISTILLING:
            raise DDStudyError(
                f"{here}.methods: CLoM guides a distilling method ({', '.join(DISTILLING)}), not '{method}'"
            )
        settings = {k: v for k, v in (method_settings.get(method) or {}).items() if k not in ("ipcs", "datasets")}
        settings.setdefault("model", (distill or {}).get("model", "ConvNet"))
        centre = dict(clom.get("center") or {})
        variants_of_centre = [centre]
        for axis, values in (clom.get("axes") or {}).items():
            if isinstance(values, dict):  # per-method values (e.g. alphas: {dc: [...], dsa: [...]})
                values = values.get(method, [])
            for value in values:
                override = value if axis == "domain" else {axis: value}
                if not isinstance(override, dict):
                    raise DDStudyError(f"{here}.axes.{axis}: each domain entry must be a mapping")
                variants_of_centre.append({**centre, **override})
        for dataset, ipc in itertools.product(datasets, ipcs):
            try:
                config = method_config(method, int(ipc), seed=seed, **settings)
            except DDStudyError as err:
                raise DDStudyError(f"{here}.methods.{method}: {err}") from None
            base = Cell(dataset, config)
            if base.name not in existing:
                new.setdefault(base.name, base)
            for index, values in enumerate(variants_of_centre):
                clom_config = _clom_config(values, f"{here} (setting {index})")
                cell = Cell(dataset, config, clom_config)
                for job in cell.ptm_jobs():
                    if clom_config.epoch not in zoo_epochs.get(job, set()):
                        raise DDStudyError(
                            f"{here}: {cell.name} needs PTM {job[0]}/init{job[1]} at epoch "
                            f"{clom_config.epoch}, which the grid's zoo does not train or keep; add it to zoo.models"
                        )
                new.setdefault(cell.name, cell)
    return tuple(new.values())


def expand_evaluations(evaluate: dict | None, cells: tuple[Cell, ...], variants, where: str) -> tuple:
    evaluate = evaluate or {}
    pairs: list[tuple[str, str]] = []
    for cell in cells:
        for arch in evaluate.get("archs") or [cell.config.model]:
            pairs.append((cell.name, arch))
    cross = evaluate.get("cross_arch")
    if cross:
        names = _match(
            cross.get("datasets", ["*"]), [v.name for v in variants], f"{where}.evaluate.cross_arch.datasets"
        )
        methods = cross.get("methods", list(METHODS))
        for method in methods:
            if method not in METHODS:
                raise DDStudyError(f"{where}.evaluate.cross_arch.methods: unknown method '{method}'")
        for cell in cells:
            if (
                cell.dataset in names
                and cell.config.method in methods
                and ("ipcs" not in cross or cell.config.method == "full" or cell.config.ipc in cross["ipcs"])
            ):
                pairs += [(cell.name, arch) for arch in cross.get("archs", [])]
    for _, arch in pairs:
        try:
            check_model_name(arch)
        except DDStudyError as err:
            raise DDStudyError(f"{where}.evaluate: {err}") from None
    return tuple(dict.fromkeys(pairs))


def expand_published(entries: list | None, cells: tuple[Cell, ...], where: str) -> tuple[PublishedCell, ...]:
    """The grid's published cells; each cell and baseline must be a synthetic set of the grid."""
    names = [c.name for c in cells]
    published = []
    for i, entry in enumerate(entries or []):
        for key in ("cell", "baseline"):
            if entry.get(key) is not None and entry[key] not in names:
                close = difflib.get_close_matches(entry[key], names, n=1)
                hint = f"did you mean '{close[0]}'?" if close else "a <dataset>/<set name> of this grid"
                raise DDStudyError(f"{where}[{i}].{key}: '{entry[key]}' is not a synthetic set of the grid ({hint})")
        try:
            published.append(PublishedCell(**entry))
        except DDStudyError as err:
            raise DDStudyError(f"{where}[{i}]: {err}") from None
    return tuple(published)


def study_from_params(params: dict, grid: str | None = None, source: str = "params.yaml") -> Study:
    """Validate ``params`` and expand the active grid (or ``grid``, overriding params' ``grid``)."""
    if grid is not None:
        params = {**params, "grid": grid}
    validate_params(params, source)
    name = params["grid"]
    grid_params = params["grids"][name]
    seed = int(grid_params.get("seed", 42))
    sources = params.get("sources", {}) or {}
    options = SourceOptions(
        root=Path(sources.get("root", "data/raw")),
        download=bool(sources.get("download", False)),
        fashion_mnist_dir=Path(sources["fashion_mnist_dir"]) if sources.get("fashion_mnist_dir") else None,
    )
    variants = expand_datasets(grid_params["datasets"], seed)
    cells = expand_cells(grid_params.get("distill"), variants, seed, f"{source}: grids.{name}")
    zoo = expand_zoo(grid_params.get("zoo"), variants, seed, f"{source}: grids.{name}")
    cells = cells + expand_clom(
        grid_params.get("clom"), grid_params.get("distill"), cells, variants, zoo, seed, f"{source}: grids.{name}"
    )
    here = f"{source}: grids.{name}"
    debias_cells, debias_experts = expand_debias(
        grid_params.get("debias"), grid_params.get("distill"), cells, variants, zoo, seed, here
    )
    cells, zoo = cells + debias_cells, zoo + debias_experts
    transfer = expand_ptm_bias(
        grid_params.get("ptm_bias"), grid_params.get("distill"), cells, variants, zoo, seed, here
    )
    transfer_cells, transfer_names = transfer or ((), ())
    cells = cells + transfer_cells
    check_experts(cells, zoo, f"{source}: grids.{name}.distill")
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
        ptm_bias_cells=transfer_names,
        outputs=grid_params.get("outputs"),
        published=expand_published(grid_params.get("published"), cells, f"{source}: grids.{name}.published"),
        ptm_bias_pairs=tuple(
            (
                _match([p["biased"]], [v.name for v in variants], "ptm_bias")[0],
                _match([p["unbiased"]], [v.name for v in variants], "ptm_bias")[0],
            )
            for p in (grid_params.get("ptm_bias") or {}).get("pairs", [])
        ),  # fmt: skip
        cells=cells,
        evaluations=expand_evaluations(grid_params.get("evaluate"), cells, variants, f"{source}: grids.{name}"),
        eval_settings=grid_params.get("evaluate") or {},
        threads={**schema_defaults("threads"), **(params.get("threads") or {})},
        accel=Accel(**{f.name: grid_params.get(f.name, params.get(f.name, f.default)) for f in fields(Accel)}),
        cost=_cost_model(params.get("cost") or {}),
        resources=_resources(params.get("resources") or {}),
        clom_centre=_clom_config((grid_params.get("clom") or {}).get("center") or {}, f"grids.{name}.clom.center")
        if grid_params.get("clom")
        else None,
    )
    names = [v.name for v in variants]
    for pattern in (grid_params.get("evaluate") or {}).get("per_dataset") or {}:
        _match([pattern], names, f"{source}: grids.{name}.evaluate.per_dataset")
    for cell in cells:
        study.cell_eval_config(cell)  # fail now on a bad evaluation override, not in the middle of a run
    return study


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


def load_study(path: str | Path = DEFAULT_PARAMS, grid: str | None = None) -> Study:
    return study_from_params(load_params(path), grid, source=str(path))
