"""The expanders: each block of a grid (``datasets``, ``zoo``, ``distill``, ``clom``, ``debias``, ``ptm_bias``,
``evaluate``, ``published``) written out into typed pieces of the study model.

The blocks that add cells beside the plain ones (``clom``, ``debias``, ``ptm_bias``) share one skeleton,
:class:`Expansion`: the datasets their patterns match, the method's settings from ``distill.methods``, the plain
cell of each (added when the ``distill`` block lacks it, so every variant has its baseline), the zoo's kept epochs
(one question, "does the grid's zoo keep this epoch of this model?", answered in one place), and the new cells in
order, each once.
"""

from __future__ import annotations

import difflib
import fnmatch
import itertools
from dataclasses import replace

from ddstudy.data.build import VariantSpec
from ddstudy.debias import DEBIAS, DEBIAS_MODES, KdeConfig
from ddstudy.distill.clom import ClomConfig
from ddstudy.distill.registry import DEBIASABLE, GUIDABLE, METHODS, method_config, method_spec
from ddstudy.distill.settings import MethodConfig
from ddstudy.errors import DDStudyError
from ddstudy.knobs import build
from ddstudy.models import check_model_name
from ddstudy.report.reproduction import PublishedCell
from ddstudy.study.model import Cell, ZooModel
from ddstudy.zoo.store import zoo_block
from ddstudy.zoo.train import ZooJob, ZooTrainConfig


def match(patterns: list[str], names: list[str], where: str) -> list[str]:
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


def kept_epochs(zoo: tuple[ZooModel, ...]) -> dict[tuple[str, int], set[int]]:
    """(block, init) → the epochs the grid's zoo trains and keeps of that model."""
    return {m.key: set(m.config.epochs_to_save) for m in zoo}


def method_settings(distill: dict | None, method: str) -> dict:
    """A method's hyper-parameters from the grid's ``distill.methods`` (without its IPCs and datasets), with the
    block's ``model``."""
    settings = {
        k: v for k, v in ((distill or {}).get("methods") or {}).get(method, {}).items() if k not in ("ipcs", "datasets")
    }
    settings.setdefault("model", (distill or {}).get("model", "ConvNet"))
    return settings


def dataset_overrides(distill: dict | None, method: str, dataset: str) -> dict:
    """The settings of ``method`` that ``distill.per_dataset`` overrides on ``dataset`` (every pattern it matches,
    in order) — applied to its plain cells and to the CLoM and debias cells built on them."""
    overrides: dict = {}
    for pattern, methods in ((distill or {}).get("per_dataset") or {}).items():
        if fnmatch.fnmatchcase(dataset, pattern):
            overrides.update((methods or {}).get(method) or {})
    return overrides


def clom_config(settings: dict, where: str) -> ClomConfig:
    settings = dict(settings)
    for key in ("archs", "alphas"):
        if key in settings:
            settings[key] = tuple(settings[key])
    try:
        return ClomConfig(**settings)
    except (TypeError, DDStudyError) as err:
        raise DDStudyError(f"{where}: {err}") from None


def _config(method: str, ipc: int, seed: int, settings: dict, where: str) -> MethodConfig:
    try:
        return method_config(method, int(ipc), seed=seed, **settings)
    except DDStudyError as err:
        raise DDStudyError(f"{where}.methods.{method}: {err}") from None


class Expansion:
    """The skeleton of a block that adds cells beside the plain ones (see the module docstring)."""

    def __init__(self, here: str, distill: dict | None, cells: tuple[Cell, ...], variants, zoo: tuple, seed: int):
        self.here, self.distill, self.seed, self.zoo = here, distill, seed, zoo
        self.names = [v.name for v in variants]
        self.kept = kept_epochs(zoo)
        self.existing = {c.name for c in cells}
        self.new: dict[str, Cell] = {}

    def datasets(self, patterns: list[str], names: list[str] | None = None, key: str = "datasets") -> list[str]:
        return match(patterns, self.names if names is None else names, f"{self.here}.{key}")

    def methods(self, block: dict, allowed: tuple[str, ...], what: str):
        """(method, its settings, its IPCs) of the block's ``methods``, each a method the block applies to."""
        for method, ipcs in (block.get("methods") or {}).items():
            if method not in allowed:
                raise DDStudyError(f"{self.here}.methods: {what} ({', '.join(allowed)}), not '{method}'")
            yield method, method_settings(self.distill, method), ipcs

    def plain(self, dataset: str, method: str, ipc: int, settings: dict) -> Cell:
        """The plain cell of ``dataset`` × method × IPC (with the dataset's ``distill.per_dataset`` overrides),
        added when the grid lacks it."""
        settings = {**settings, **dataset_overrides(self.distill, method, dataset)}
        base = Cell(dataset, _config(method, ipc, self.seed, settings, self.here))
        if base.name not in self.existing:
            self.new.setdefault(base.name, base)
        return base

    def keeps(self, job: tuple[str, int], *epochs: int) -> bool:
        """Whether the grid's zoo trains zoo model ``job`` = (block, init) and keeps every one of ``epochs``."""
        return set(epochs) <= self.kept.get(job, set())

    def require_ptms(self, cell: Cell, epoch: int) -> None:
        for job in cell.ptm_jobs():
            if not self.keeps(job, epoch):
                raise DDStudyError(
                    f"{self.here}: {cell.name} needs PTM {job[0]}/init{job[1]} at epoch {epoch}, which the grid's zoo "
                    "does not train or keep; add it to zoo.models"
                )

    def add(self, cell: Cell) -> None:
        self.new.setdefault(cell.name, cell)

    @property
    def cells(self) -> tuple[Cell, ...]:
        return tuple(self.new.values())


# ------------------------------------------------------------------------------------------ datasets, zoo, distill
def expand_datasets(groups: list[dict], seed: int) -> tuple[VariantSpec, ...]:
    """Cross each group's ratios × severities into variants (one clean variant for ``bias: none``)."""
    specs: dict[str, VariantSpec] = {}
    for group in groups:
        common = {
            "source": group["source"],
            "bias": group["bias"],
            "seed": int(group.get("seed", seed)),
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


def expand_zoo(zoo: dict | None, variants: tuple[VariantSpec, ...], seed: int, where: str) -> tuple[ZooModel, ...]:
    """Every (dataset, arch, init) of the grid's zoo blocks; patterns match the grid's variant names."""
    names = [v.name for v in variants]
    models: dict[tuple, ZooModel] = {}
    for b, block in enumerate((zoo or {}).get("models", [])):
        here = f"{where}.zoo.models[{b}]"
        datasets = match(block["datasets"], names, f"{here}.datasets")
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
    datasets = match(distill.get("datasets", ["*"]), names, f"{where}.distill.datasets")
    cells: list[Cell] = []
    for method, settings in (distill.get("methods") or {}).items():
        settings = dict(settings or {})
        ipcs = settings.pop("ipcs", [1]) if method != "full" else [1]
        own = settings.pop("datasets", None)  # a method on fewer datasets than the block (e.g. MTT's experts)
        chosen = match(own, names, f"{where}.distill.methods.{method}.datasets") if own else datasets
        settings.setdefault("model", distill.get("model", "ConvNet"))
        for dataset, ipc in itertools.product(chosen, ipcs):
            cell_settings = {**settings, **dataset_overrides(distill, method, dataset)}
            cells.append(Cell(dataset, _config(method, ipc, seed, cell_settings, f"{where}.distill")))
    return tuple(cells)


def check_experts(cells: tuple[Cell, ...], zoo: tuple, where: str) -> None:
    """Every expert trajectory a cell reads (MTT) is a zoo model of the grid that keeps every epoch it needs."""
    kept = kept_epochs(zoo)
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


# ------------------------------------------------------------------------- the blocks beside the plain cells
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
    grid = Expansion(f"{where}.clom", distill, cells, variants, zoo, seed)
    datasets = grid.datasets(clom.get("datasets", ["*"]))
    centre = dict(clom.get("center") or {})
    for method, settings, ipcs in grid.methods(clom, GUIDABLE, "CLoM guides a distilling method that takes it"):
        settings_of_cells = [centre]
        for axis, values in (clom.get("axes") or {}).items():
            if isinstance(values, dict):  # per-method values (e.g. alphas: {dc: [...], dsa: [...]})
                values = values.get(method, [])
            for value in values:
                override = value if axis == "domain" else {axis: value}
                if not isinstance(override, dict):
                    raise DDStudyError(f"{grid.here}.axes.{axis}: each domain entry must be a mapping")
                settings_of_cells.append({**centre, **override})
        for dataset, ipc in itertools.product(datasets, ipcs):
            base = grid.plain(dataset, method, ipc, settings)
            for index, values in enumerate(settings_of_cells):
                guided = clom_config(values, f"{grid.here} (setting {index})")
                cell = Cell(dataset, base.config, guided)
                grid.require_ptms(cell, guided.epoch)
                grid.add(cell)
    return grid.cells


def expand_debias(
    debias: dict | list | None,
    distill: dict | None,
    cells: tuple[Cell, ...],
    variants,
    zoo: tuple,
    seed: int,
    where: str,
) -> tuple[tuple[Cell, ...], tuple[ZooModel, ...]]:
    """Mitigation cells (issue 15): datasets × methods × IPCs × ``modes``, each the set ``<method>_ipc<ipc>_<mode>``
    beside its plain cell, with the method's settings from ``distill.methods``. ``kde`` reads weights from the
    dataset's own zoo PTM ``kde.arch``/init/epoch.

    ``debias`` is one block or a list of blocks, each with its own datasets, methods and modes (e.g. the bias
    study's grid with every mode, and the fair-DD benchmarks with FairDD and COBRA only); a cell two blocks both
    name is made once.

    A method whose modes act on its experts (MTT, ``MethodSpec.debias == "experts"``): for each of its cells the
    zoo models it reads are derived from its plain experts — same jobs (init weights, batches, augmentations),
    recipe + ``debias: <mode>`` — so params list the expert block once. Returns (cells, derived zoo models)."""
    if not debias:
        return (), ()
    blocks = [("", debias)] if isinstance(debias, dict) else [(f"[{i}]", block) for i, block in enumerate(debias)]
    new_cells: dict[str, Cell] = {}
    experts: dict[tuple, ZooModel] = {}
    for index, block in blocks:
        made, derived = _expand_debias_block(
            block, distill, cells + tuple(new_cells.values()), variants, zoo, seed, f"{where}.debias{index}"
        )
        for cell in made:
            if new_cells.setdefault(cell.name, cell) != cell:
                raise DDStudyError(
                    f"{where}.debias{index}: {cell.name} is also in an earlier block with other settings (a KDE "
                    "embedding of the same kernel); give each cell one block"
                )
        experts.update((model.key, model) for model in derived)
    return tuple(new_cells.values()), tuple(experts.values())


def _expand_debias_block(
    debias: dict, distill: dict | None, cells: tuple[Cell, ...], variants, zoo: tuple, seed: int, here: str
) -> tuple[tuple[Cell, ...], tuple[ZooModel, ...]]:
    grid = Expansion(here, distill, cells, variants, zoo, seed)
    datasets = grid.datasets(debias.get("datasets", ["*"]), [v.name for v in variants if v.bias != "none"])
    every_mode = [name for name, mode in DEBIAS.items() if not mode.plain]
    given = debias.get("modes") or every_mode  # a list for every method, or method → its list
    listed = {f".{m}": v for m, v in given.items()} if isinstance(given, dict) else {"": given}
    for where, modes in listed.items():
        for mode in modes:
            if mode not in DEBIAS_MODES:
                raise DDStudyError(
                    f"{grid.here}.modes{where}: unknown mode '{mode}'; choose from {', '.join(DEBIAS_MODES)}"
                )
    kdes = _kde_settings(debias.get("kde") or {}, grid.here)
    plain_zoo = {m.key: m for m in zoo}
    experts: dict[tuple, ZooModel] = {}
    for method, settings, ipcs in grid.methods(debias, DEBIASABLE, "debias applies to the methods that declare it"):
        for dataset, ipc in itertools.product(datasets, ipcs):
            base = grid.plain(dataset, method, ipc, settings)
            modes = given.get(method, every_mode) if isinstance(given, dict) else given
            for mode, kde in ((m, k) for m in modes for k in (kdes if m == "kde" else [None])):
                if DEBIAS[mode].plain or method_spec(method).debias not in DEBIAS[mode].acts_on:
                    continue  # e.g. cobra has no MTT counterpart: the grid's other modes still run for MTT
                cell = Cell(dataset, replace(base.config, debias=mode), kde=kde)
                if mode == "kde" and not grid.keeps((zoo_block(dataset, kde.arch), kde.init), kde.epoch):
                    raise DDStudyError(
                        f"{grid.here}: {cell.name} embeds with PTM {dataset}/{kde.arch}/init{kde.init} at epoch "
                        f"{kde.epoch}, which the grid's zoo does not train or keep; add it to zoo.models or change "
                        "debias.kde"
                    )
                if method_spec(method).debias == "experts":
                    if mode == "kde" and len(kdes) > 1:
                        raise DDStudyError(
                            f"{grid.here}.kde: {method} trains its experts with one KDE setting (one debias-kde expert "
                            f"block per dataset); give {method} a debias block of its own with one kde"
                        )
                    for derived in _debiased_experts(grid.here, base, cell, mode, plain_zoo):
                        experts.setdefault(derived.key, derived)
                grid.add(cell)
    return grid.cells, tuple(experts.values())


def _kde_settings(given: dict | list, here: str) -> list[KdeConfig]:
    """``debias.kde``: one KDE setting, or a list whose cells sit side by side, told apart in their set names by the
    kernel (:meth:`KdeConfig.kernel_tag`: ``dm_ipc10_kde``, ``dm_ipc10_kde-h0.2``) — so two settings must differ in
    bandwidth or β."""
    items = [(f"[{i}]", item) for i, item in enumerate(given)] if isinstance(given, list) else [("", given)]
    settings, tags = [], {}
    for at, item in items:
        kde = build(KdeConfig, dict(item), f"{here}.kde{at}: ")
        if kde.kernel_tag() in tags:
            raise DDStudyError(
                f"{here}.kde{at}: same bandwidth and β as kde{tags[kde.kernel_tag()]}, so their cells would share one "
                "set name; KDE settings side by side differ in bandwidth or beta (one embedding per block)"
            )
        tags[kde.kernel_tag()] = at
        settings.append(kde)
    return settings


def _debiased_experts(here: str, base: Cell, cell: Cell, mode: str, plain_zoo: dict) -> list[ZooModel]:
    """The zoo models a debiased MTT cell reads: its plain experts' jobs with the recipe + ``debias: mode`` (only
    those the grid's zoo does not list already)."""
    derived_models = []
    for job in base.ptm_jobs():
        if job not in plain_zoo:
            raise DDStudyError(
                f"{here}: {cell.name} trains its experts from {job[0]}/init{job[1]}, which the grid's zoo does not "
                "have; add MTT's expert block to zoo.models"
            )
        plain = plain_zoo[job]
        derived = ZooModel(plain.job, replace(plain.config, debias=mode), cell.kde)
        if plain_zoo.get(derived.key, derived) != derived:
            raise DDStudyError(
                f"{here}: zoo.models has {derived.block}/init{job[1]} with another recipe than {cell.name}'s experts "
                f"(its plain experts + debias {mode}); drop that block"
            )
        if derived.key not in plain_zoo:
            derived_models.append(derived)
    return derived_models


def expand_ptm_bias(
    block: dict | None, distill: dict | None, cells: tuple[Cell, ...], variants, zoo: tuple, seed: int, where: str
) -> tuple[tuple[Cell, ...], tuple[str, ...], tuple[tuple[str, str], ...]]:
    """The cross study (issue 15): do PTMs trained on a biased set carry its bias into CLoM? For each ``pairs``
    entry (a biased variant and an unbiased counterpart of the same shape), both are distilled with CLoM from the
    PTMs of each (``clom`` gives the setting; ``zoo_source`` is filled in) — 2 targets × 2 PTM sources — beside the
    plain cells, for every method × IPC of ``methods``. Returns (new cells, the names of every cell of the cross
    study — also those another block made —, the (biased, unbiased) pairs)."""
    if not block:
        return (), (), ()
    grid = Expansion(f"{where}.ptm_bias", distill, cells, variants, zoo, seed)
    members: list[str] = []
    pairs = []
    for p, pair in enumerate(block.get("pairs") or []):
        biased = grid.datasets([pair["biased"]], key=f"pairs[{p}].biased")[0]
        unbiased = grid.datasets([pair["unbiased"]], key=f"pairs[{p}].unbiased")[0]
        pairs.append((biased, unbiased))
        for method, settings, ipcs in grid.methods(block, GUIDABLE, "CLoM guides a distilling method that takes it"):
            for target, source, ipc in itertools.product((biased, unbiased), (biased, unbiased), ipcs):
                base = grid.plain(target, method, ipc, settings)
                guided = clom_config({**(block.get("clom") or {}), "zoo_source": source}, f"{grid.here}.clom")
                cell = Cell(target, base.config, guided)
                members += [base.name, cell.name]
                if cell.name in grid.existing:  # the PTM study's centre may be the same cell
                    continue
                grid.require_ptms(cell, guided.epoch)
                grid.add(cell)
    return grid.cells, tuple(dict.fromkeys(members)), tuple(pairs)


# ------------------------------------------------------------------------------------- evaluations, published
def expand_evaluations(evaluate: dict | None, cells: tuple[Cell, ...], variants, where: str) -> tuple:
    """(cell name, evaluation architecture) of every evaluation: each cell with ``archs`` (default its own
    model), plus the ``cross_arch`` block's architectures on the cells it selects (one block, or a list of blocks:
    e.g. the costly architectures on the cheap IPC-1 sets only)."""
    evaluate = evaluate or {}
    pairs: list[tuple[str, str]] = []
    for cell in cells:
        for arch in evaluate.get("archs") or [cell.config.model]:
            pairs.append((cell.name, arch))
    cross_arch = evaluate.get("cross_arch") or []
    blocks = [("", cross_arch)] if isinstance(cross_arch, dict) else [(f"[{i}]", b) for i, b in enumerate(cross_arch)]
    for suffix, cross in blocks:
        here = f"{where}.evaluate.cross_arch{suffix}"
        names = match(cross.get("datasets", ["*"]), [v.name for v in variants], f"{here}.datasets")
        methods = cross.get("methods", list(METHODS))
        for method in methods:
            if method not in METHODS:
                raise DDStudyError(f"{here}.methods: unknown method '{method}'")
        sets = cross.get("sets", ["*"])
        for cell in cells:
            if (
                cell.dataset in names
                and cell.config.method in methods
                and ("ipcs" not in cross or cell.config.method == "full" or cell.config.ipc in cross["ipcs"])
                and any(fnmatch.fnmatchcase(cell.set_name, pattern) for pattern in sets)
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
