"""Train one PTM (dataset variant × architecture × init) and keep checkpoints at the requested epochs.

Mirrors yaolu-zjut/DDInterpreter ``train_original_models.py``: SGD (lr 0.01, momentum 0.9, weight decay 0.005),
batch 256, 150 epochs, MultiStepLR ×0.1 at epochs 50 and 100, no augmentation, normalised inputs (its
``get_dataset`` normalises by default), train accuracy = running mean over the epoch's minibatches, test accuracy
on the unbiased test set at every saved epoch (``save_every=1``: every epoch by default). What it lacks and we add:
explicit seeds (it seeds from the wall clock), fixed output names (it picks the next free ``index_<n>`` folder),
aligned/conflicting test accuracy, hashes, and resuming after a crash.

Resuming: the run works in a staging folder beside its output (``.init<i>.partial``, or ``.init0+init1.partial``
for inits trained together), outside Snakemake's outputs, so a killed job's progress survives Snakemake's
cleanup. After every epoch it stores the weights and the SGD momentum buffers there; the data order of epoch e is
drawn from a generator seeded by (seed, job, e) and the learning rate is a function of e, so a resumed run
computes exactly what an uninterrupted one does. The finished folder is moved into place in one rename.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import ddstudy
from ddstudy.accel import ORACLE, Accel
from ddstudy.augment import check_strategy, diff_augment
from ddstudy.checkpoint import ResumeState
from ddstudy.data.store import load_variant
from ddstudy.data.tensors import Normalization, to_tensors
from ddstudy.debias import DEBIAS_MODES, check_acts_on, check_weights_flag, prepare
from ddstudy.engine import Trainer, together
from ddstudy.errors import DDStudyError
from ddstudy.io import publish_directory, write_json
from ddstudy.knobs import knob
from ddstudy.lazy import lazy
from ddstudy.metrics import accuracy_report
from ddstudy.models import build_model, check_model_name
from ddstudy.outputs import claim_outputs
from ddstudy.seeding import derive_seed, generator
from ddstudy.sgd import Sgd
from ddstudy.timing import Segments
from ddstudy.zoo.store import ZOO_MODEL, save_checkpoint, zoo_job_name

torch = lazy("torch")

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ZooTrainConfig:
    """Training recipe of a PTM; defaults are the reference's (train_original_models.py argparse defaults)."""

    epochs: int = knob(150, "training epochs (reference 150)")
    lr: float = knob(0.01, "SGD learning rate")
    momentum: float = knob(0.9, "SGD momentum")
    weight_decay: float = knob(0.005, "SGD weight decay")
    batch_size: int = knob(256, "training batch")
    milestones: tuple[int, ...] = knob((50, 100), "MultiStepLR epochs")
    gamma: float = knob(0.1, "MultiStepLR factor")
    normalize: bool = knob(True, "train on inputs normalised by the training split's per-channel mean/std")
    save_epochs: tuple[int, ...] | None = knob(None, "epochs whose checkpoints are kept (unset: every epoch)")
    augment: str = knob("none", "DSA augmentation while training ('none': the PTM recipe; MTT's experts use DSA)")
    debias: str = knob(
        "none",
        "bias-mitigating loss weights (ddstudy.debias; MTT's debiased experts); kde: --sample-weights",
        DEBIAS_MODES,
    )

    def __post_init__(self) -> None:
        if self.epochs < 1:
            raise DDStudyError(f"epochs must be ≥ 1, got {self.epochs}")
        if self.batch_size < 1 or self.lr <= 0:
            raise DDStudyError("batch_size must be ≥ 1 and lr > 0")
        check_strategy(self.augment)
        check_acts_on(self.debias, "experts", "zoo training")  # unknown, or a mode with no training weights
        for epoch in self.save_epochs or ():
            if not 1 <= epoch <= self.epochs:
                raise DDStudyError(f"save epoch {epoch} is beyond training (1..{self.epochs}); raise epochs or drop it")

    @property
    def epochs_to_save(self) -> tuple[int, ...]:
        return tuple(sorted(set(self.save_epochs))) if self.save_epochs else tuple(range(1, self.epochs + 1))

    def lr_at(self, epoch: int) -> float:
        """MultiStepLR: epoch e (1-based) runs after e−1 scheduler steps."""
        return self.lr * self.gamma ** sum(1 for m in self.milestones if m <= epoch - 1)


@dataclass(frozen=True)
class ZooJob:
    dataset: str  # canonical variant name
    arch: str
    init: int
    seed: int = 42  # the grid seed; the init's own seeds are derived from it

    def __post_init__(self) -> None:
        check_model_name(self.arch)
        if self.init < 0:
            raise DDStudyError(f"init index must be ≥ 0, got {self.init}")

    @property
    def init_seed(self) -> int:
        """Same init index → same initial weights for an architecture, whatever the dataset (paired zoos)."""
        return derive_seed(self.seed, "zoo-init", self.arch, self.init)

    def order_generator(self, epoch: int) -> torch.Generator:
        return generator(self.seed, "zoo-order", self.dataset, self.arch, self.init, epoch)

    def augmenter(self, config: ZooTrainConfig, epoch: int):
        """The epoch's DSA augmentation (None for the PTM recipe), from its own seed: a resumed run draws the same."""
        if config.augment == "none":
            return None
        draws = generator(self.seed, "zoo-augment", self.dataset, self.arch, self.init, epoch)
        return lambda x: diff_augment(x, config.augment, draws, siamese=False)


@dataclass
class EpochRecord:
    epoch: int
    lr: float
    train_loss: float
    train_acc: float
    seconds: float
    test: dict | None = field(default=None)


def _momentum_tensors(optimizer: Sgd) -> dict[str, torch.Tensor]:
    """The momentum buffers, keyed by parameter position (``opt.<index>.momentum_buffer``, as torch numbers them)."""
    return {
        f"opt.{index}.momentum_buffer": optimizer.state[p]["momentum_buffer"]
        for index, p in enumerate(optimizer.params)
        if "momentum_buffer" in optimizer.state.get(p, {})
    }


def _restore_momentum(optimizer: Sgd, tensors: dict[str, torch.Tensor]) -> None:
    for key, value in tensors.items():
        if key.startswith("opt."):
            p = optimizer.params[int(key.split(".")[1])]
            optimizer.state[p]["momentum_buffer"] = value.to(device=p.device, dtype=p.dtype)


def _base_meta(
    job: ZooJob, variant, config: ZooTrainConfig, normalization: Normalization, accel: Accel, weighting: dict | None
) -> dict:
    """What every checkpoint JSON and ``run.json`` of ``job`` says about how it was made (``weighting``: the debias
    record — mode, and for ``kde`` the weights' settings and hash — only when the recipe weights its loss)."""
    return ({"weighting": weighting} if weighting else {}) | {
        "dataset": job.dataset,
        "dataset_sha256": dict(variant.info.sha256),
        "arch": job.arch,
        "init": job.init,
        "seed": job.seed,
        "init_seed": job.init_seed,
        "config": asdict(config),
        "normalization": normalization.to_dict(),
        "image_shape": list(variant.info.image_shape),
        "num_classes": variant.info.num_classes,
        "class_names": list(variant.info.class_names),
        "accel": accel.to_dict(),
        "ddstudy_version": ddstudy.__version__,
    }


def _load_data(job: ZooJob, dataset_dir: str | Path, config: ZooTrainConfig, weights_path: str | Path | None):
    """(variant, normalisation, train tensors, test tensors, loss weighting, its record) of the dataset ``job``
    trains on; a debias recipe that cannot run (no attributes, no KDE weights of this variant) is refused here."""
    variant = load_variant(dataset_dir)
    if variant.info.name != job.dataset:
        raise DDStudyError(f"{dataset_dir} holds variant '{variant.info.name}', not '{job.dataset}'")
    debias, weights, record = prepare(
        config.debias, variant.train.labels, variant.train.attrs, variant.info, weights_path
    )
    channels = variant.info.image_shape[0]
    normalization = (
        Normalization.of_variant(variant.info, variant.train.images)
        if config.normalize
        else Normalization.identity(channels)
    )
    train = to_tensors(variant.train, normalization)
    weigh = debias.batch_weighting(train.labels, train.attrs, weights)
    return variant, normalization, train, to_tensors(variant.test, normalization), weigh, record


def _log_epoch(job: ZooJob, config: ZooTrainConfig, record: EpochRecord, images: int, eta: float) -> None:
    test_text = f" test {record.test['acc']:.3f}" if record.test else ""
    log.info(
        "%s/%s/init%d epoch %d/%d: loss %.3f train %.3f%s (%.1f s/epoch, %.0f img/s, ETA %.0f s)",
        job.dataset,
        job.arch,
        job.init,
        record.epoch,
        config.epochs,
        record.train_loss,
        record.train_acc,
        test_text,
        record.seconds,
        images / max(record.seconds, 1e-9),
        eta,
    )


def _finish(staging: Path, out_dir: Path, meta: dict, saved: list[int], history: list[dict]) -> dict:
    run = meta | {"epochs_saved": saved, "history": [h | {"seconds": None} for h in history]}
    write_json(staging / "run.json", run)  # timings stay in the log: same seed, same bytes
    publish_directory(staging, out_dir)
    return run


def train_zoo_model(
    job: ZooJob,
    dataset_dir: str | Path,
    out_dir: str | Path,
    config: ZooTrainConfig = ZooTrainConfig(),
    device: torch.device | str = "cpu",
    staging_dir: str | Path | None = None,
    on_epoch_end: Callable[[int], None] | None = None,
    accel: Accel = ORACLE,
    weights_path: str | Path | None = None,
    segments: Segments | None = None,
) -> dict:
    """Train ``job`` on the variant in ``dataset_dir``; checkpoints end up in ``out_dir``. Returns ``run.json``.

    ``accel``: training steps and test scoring through the compiled network and/or in bf16 (recorded in every
    checkpoint's meta and in the resume fingerprint). ``weights_path``: the KDE weights of a ``debias: kde``
    recipe. With a ``debias`` recipe each batch's loss is Σ w·CE / Σ w (:mod:`ddstudy.debias`) on the same
    batches, initial weights and augmentations as the plain recipe. ``on_epoch_end(epoch)`` runs after each epoch's
    resume state is saved. ``segments``: the job's timing (:mod:`ddstudy.timing`, unit epochs), carried in the resume
    state. ``out_dir`` is claimed first (:func:`ddstudy.outputs.claim_output`: new or a zoo model, never an input,
    one run at a time)."""
    check_weights_flag(config.debias, weights_path)
    inputs = {"--dataset-dir": dataset_dir, "--sample-weights": weights_path}
    with claim_outputs([(out_dir, ZOO_MODEL)], inputs) as (out_dir,):
        data = _load_data(job, dataset_dir, config, weights_path)
        return _train([job], data, [out_dir], config, device, staging_dir, accel, on_epoch_end, segments)[0]


def train_zoo_models(
    jobs: Sequence[ZooJob],
    dataset_dir: str | Path,
    out_dirs: Sequence[str | Path],
    config: ZooTrainConfig = ZooTrainConfig(),
    device: torch.device | str = "cpu",
    staging_dir: str | Path | None = None,
    accel: Accel = ORACLE,
    on_epoch_end: Callable[[int], None] | None = None,
    weights_path: str | Path | None = None,
    segments: Segments | None = None,
) -> list[dict]:
    """Several inits of one architecture on one dataset — a zoo block's inits in one job.

    With ``accel.vectorize`` they train together as stacked networks (:mod:`ddstudy.engine`, the same lever as the
    stacked evaluation: one vmapped pass per step instead of one small pass per network, for GPUs). Each init keeps
    what it has alone — its initial weights, its data order per epoch, its own loss and SGD state (SGD with momentum
    and weight decay is elementwise) — so its checkpoints are those of :func:`train_zoo_model` up to floating-point
    summation order (tested). The resume state holds all inits (one fingerprint); each finished init folder is
    published on its own. Without ``vectorize``, with one init, or for networks with BatchNorm (running statistics
    cannot be stacked), the inits train one after another, each as :func:`train_zoo_model` trains it."""
    if not jobs or len(jobs) != len(out_dirs):
        raise DDStudyError(f"{len(jobs)} zoo jobs need as many output folders, got {len(out_dirs)}")
    if len({(j.dataset, j.arch, j.seed) for j in jobs}) != 1 or len({j.init for j in jobs}) != len(jobs):
        raise DDStudyError("trained together, zoo jobs must share dataset, architecture and seed, with distinct inits")
    if len({Path(o).resolve() for o in out_dirs}) != len(out_dirs):
        raise DDStudyError("--out names the same folder twice; give one folder per init")
    check_weights_flag(config.debias, weights_path)
    inputs = {"--dataset-dir": dataset_dir, "--sample-weights": weights_path}
    with claim_outputs([(o, ZOO_MODEL) for o in out_dirs], inputs) as claimed:
        data = _load_data(jobs[0], dataset_dir, config, weights_path)
        variant = data[0]
        probe = build_model(jobs[0].arch, *_shape(variant), jobs[0].init_seed)
        if together(len(jobs), probe, accel):
            return _train(list(jobs), data, claimed, config, device, staging_dir, accel, on_epoch_end, segments)
        if accel.vectorize and len(jobs) > 1:
            log.info("%s has BatchNorm: its %d inits train one after another", jobs[0].arch, len(jobs))
        return [
            _train([j], data, [o], config, device, None, accel, None, segments, k * config.epochs)[0]
            for k, (j, o) in enumerate(zip(jobs, claimed, strict=True))
        ]


def _shape(variant) -> tuple[int, int, int]:
    """(channels, classes, image size) of a variant: what a network of it is built with."""
    return variant.info.image_shape[0], variant.info.num_classes, variant.info.image_shape[1]


def _train(
    jobs: list[ZooJob], data, out_dirs: list[Path], config, device, staging_dir, accel, on_epoch_end,
    segments: Segments | None = None, offset: int = 0,
):  # fmt: skip
    """Train ``jobs`` — one init, or several stacked (:class:`ddstudy.engine.Trainer`) — with per-epoch resume.

    ``segments`` (the job's timing) count epochs from ``offset``: the epochs of the inits this job trained before
    (inits in turn), so one record covers the whole job.
    One init works in ``.<init>.partial/`` beside its output (checkpoints and resume state); stacked inits in
    ``.<init a>+<init b>….partial/`` (resume state) with one subfolder of checkpoints per init: two jobs training
    other inits of a block never share a staging folder."""
    device = torch.device(device)
    accel = accel.resolved(device)
    variant, normalization, train, test, weigh, weighting = data
    channels, num_classes, size = _shape(variant)
    trainer = Trainer([build_model(j.arch, channels, num_classes, size, j.init_seed).to(device) for j in jobs], accel)
    if len(jobs) == 1:
        staging = Path(staging_dir) if staging_dir else out_dirs[0].parent / f".{out_dirs[0].name}.partial"
        stagings = [staging]
    else:
        staging = (
            Path(staging_dir) if staging_dir else out_dirs[0].parent / f".{'+'.join(o.name for o in out_dirs)}.partial"
        )
        stagings = [staging / o.name for o in out_dirs]
    optimizer = Sgd(trainer.parameters(), lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay)
    fingerprint = {
        "jobs": [asdict(j) for j in jobs],
        "config": asdict(config),
        "dataset_sha256": dict(variant.info.sha256),
        "device_type": device.type,
        "accel": accel.to_dict(),
        "weighting": weighting,
    }
    resume_state = ResumeState(staging, "resume", fingerprint)
    histories: list[list[dict]] = [[] for _ in jobs]
    start_epoch = 1
    saved = resume_state.load()
    if saved is not None:
        resume, tensors = saved
        trainer.load(tensors)
        _restore_momentum(optimizer, tensors)
        histories, start_epoch = resume["histories"], resume["epoch"] + 1
        if segments is not None:
            segments.resumed(resume.get("segments"), offset + resume["epoch"])
        name = zoo_job_name(j.init for j in jobs)
        log.info("%s/%s/%s: resuming after epoch %d", jobs[0].dataset, jobs[0].arch, name, resume["epoch"])
    for folder in stagings:
        folder.mkdir(parents=True, exist_ok=True)

    metas = [_base_meta(j, variant, config, normalization, accel, weighting) for j in jobs]
    to_save = set(config.epochs_to_save)
    started = time.perf_counter()
    for epoch in range(start_epoch, config.epochs + 1):
        tick = time.perf_counter()
        for group in optimizer.param_groups:
            group["lr"] = config.lr_at(epoch)
        orders = [j.order_generator(epoch) for j in jobs]
        augments = None if config.augment == "none" else [j.augmenter(config, epoch) for j in jobs]
        losses, accs = trainer.epoch(
            optimizer, train.images, train.labels, config.batch_size, orders, device, augments, weigh
        )
        seconds = time.perf_counter() - tick
        eta = (time.perf_counter() - started) / (epoch - start_epoch + 1) * (config.epochs - epoch)
        for i, job in enumerate(jobs):
            record = EpochRecord(epoch, config.lr_at(epoch), losses[i], accs[i], seconds)
            if epoch in to_save:
                record.test = accuracy_report(trainer.scorer(i), test, device, num_classes, accel)
                meta = metas[i] | {"train_loss": losses[i], "train_acc": accs[i], "test": record.test}
                save_checkpoint(stagings[i], epoch, trainer.network(i), meta)
            histories[i].append(asdict(record))
            _log_epoch(job, config, record, len(train.labels) * len(jobs), eta)
        timing = {} if segments is None else {"segments": segments.upto(offset + epoch)}
        resume_state.save(trainer.state() | _momentum_tensors(optimizer), epoch=epoch, histories=histories, **timing)
        if on_epoch_end:
            on_epoch_end(epoch)

    resume_state.remove()
    runs = [
        _finish(s, o, m, sorted(to_save), h) for s, o, m, h in zip(stagings, out_dirs, metas, histories, strict=True)
    ]
    if len(jobs) > 1:
        staging.rmdir()
    return runs
