"""The evaluation protocol every method shares (reference ``evaluate_synset``, DatasetCondensation utils.py).

N freshly initialised networks of an evaluation architecture are trained on the synthetic set — SGD momentum 0.9,
weight decay 5e-4, lr 0.01, batch 256, ``epochs + 1`` passes (the reference's ``range(Epoch+1)``), the learning
rate ×0.1 after pass ``epochs // 2 + 1`` with a new optimiser (momentum reset, as the reference re-creates it) —
with the reference's epoch rule: 300 epochs without augmentation, 1000 with DSA augmentation (DSA and DM
synthetic sets). Each network is tested once, after training, on the unbiased test set: no selection on the
test set. Reported: mean ± std (population std, ``np.std``) over the N runs, plus what the bias study needs —
accuracy on bias-aligned and bias-conflicting test samples, per class, and the training set's aligned ratio.

Resuming: with a ``resume_dir``, each finished run's result is saved there at once (a
:class:`~ddstudy.checkpoint.ResumeState` keyed by everything that decides the result); a killed evaluation goes on
with the next run. Runs do not depend on each other (each has its own seed), so the record equals the
uninterrupted one. A 1,000-epoch network on 100 images takes ≈ 16 min on one core here: without this, a 10-network
evaluation killed in its ninth network lost two and a half hours.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np

import ddstudy
from ddstudy.accel import ORACLE, Accel
from ddstudy.augment import check_eval_strategy, training_augment
from ddstudy.checkpoint import ResumeState
from ddstudy.data.store import load_variant
from ddstudy.data.tensors import Normalization, to_tensors
from ddstudy.distill.registry import method_spec
from ddstudy.engine import Trainer, together
from ddstudy.errors import DDStudyError
from ddstudy.io import write_json
from ddstudy.knobs import check_ranges, knob, seed_knob
from ddstudy.lazy import lazy
from ddstudy.metrics import accuracy_report
from ddstudy.models import build_model, check_model_name
from ddstudy.seeding import derive_seed, generator
from ddstudy.sgd import Sgd
from ddstudy.timing import Segments

torch = lazy("torch")

log = logging.getLogger(__name__)

# A training's progress line (at the tenths of its epochs) at most this often: a long run — the whole training set,
# a network of 1,000 epochs on a CPU — shows its rate and ETA between its networks' lines; a quick one stays quiet.
EPOCH_LINE_S = 60.0

DEFAULT_LR = 0.01  # reference lr_net of evaluate_synset


@dataclass(frozen=True)
class EvalConfig:
    num_eval: int = knob(20, "fresh networks trained on the set (reference 20)")
    epochs: int | None = knob(None, "training epochs (unset: 300, or 1000 with augmentation, as the reference)")
    lr: float | None = knob(None, "SGD learning rate (unset: 0.01, or the step size the method learned, as MTT)")
    momentum: float = knob(0.9, "SGD momentum")
    weight_decay: float = knob(0.0005, "SGD weight decay")
    batch_size: int = knob(256, "training batch")
    augment: str = knob(
        "auto", "auto (the method's own: DSA for DSA/DM/MTT, none otherwise) | none | a DSA strategy | dc:<families>"
    )
    seed: int = seed_knob(42, "grid seed (each run's seed derives from it, the cell and the architecture)")

    def __post_init__(self) -> None:
        check_ranges(self, "evaluation: ")
        if self.num_eval < 1:
            raise DDStudyError(f"num_eval must be ≥ 1, got {self.num_eval}")
        if self.epochs is not None and self.epochs < 1:
            raise DDStudyError(f"eval epochs must be ≥ 1, got {self.epochs} (0 would score untrained networks)")
        if self.augment != "auto":
            check_eval_strategy(self.augment)

    def resolved(self, method: str, learned_lr: float | None = None) -> EvalConfig:
        """Fix ``augment``, ``epochs`` and ``lr`` for a method, as the reference switches them: the method's own
        augmentation (its registry entry: DSA for DSA, DM and MTT), 1000 epochs with augmentation and 300 without,
        lr 0.01 — or, for a method that learns its step size (MTT: ``args.lr_net = syn_lr.item()`` before
        ``evaluate_synset``), the ``learned_lr`` from the synthetic set's meta."""
        spec = method_spec(method)
        augment = spec.eval_augment if self.augment == "auto" else check_eval_strategy(self.augment)
        epochs = self.epochs if self.epochs is not None else (1000 if augment != "none" else 300)
        lr = self.lr if self.lr is not None else (learned_lr if learned_lr is not None else DEFAULT_LR)
        return replace(self, augment=augment, epochs=epochs, lr=lr)


def sgd_schedule(config: EvalConfig, parameters: list[torch.Tensor]):
    """Yield (epoch, optimiser) for the ``epochs + 1`` passes: SGD at ``lr``, then, after pass ``epochs // 2 + 1``, a
    new SGD (momentum reset, as the reference re-creates it) at ``lr × 0.1``."""

    def sgd(lr: float) -> Sgd:
        return Sgd(parameters, lr=lr, momentum=config.momentum, weight_decay=config.weight_decay)

    decay_after = config.epochs // 2 + 1
    optimizer = sgd(config.lr)
    for epoch in range(config.epochs + 1):
        yield epoch, optimizer
        if epoch == decay_after:
            optimizer = sgd(config.lr * 0.1)


def train_and_test(
    arch: str,
    images: torch.Tensor,
    labels: torch.Tensor,
    test,
    config: EvalConfig,
    run_seeds: list[int],
    num_classes: int,
    device: torch.device,
    accel: Accel = ORACLE,
) -> list[dict]:
    """Evaluation runs (reference ``evaluate_synset``), one per seed, trained by one :class:`ddstudy.engine.Trainer`
    — one network, or several stacked (:func:`ddstudy.engine.together`); ``config`` must be resolved. Each run keeps
    the initialisation, data order and augmentation draws it has alone, and is tested once, after training.
    ``accel``: the training steps and the test scoring through the compiled network and/or in bf16 (the runs of one
    evaluation share one compiled graph: parameters are its inputs)."""
    channels, size = images.shape[1], images.shape[2]
    nets = [build_model(arch, channels, num_classes, size, derive_seed(s, "net")).to(device) for s in run_seeds]
    trainer = Trainer(nets, accel)
    images, labels = images.to(device), labels.to(device)
    augments = None
    if config.augment != "none":
        generators = [generator(s, "augment") for s in run_seeds]
        augments = [training_augment(config.augment, g) for g in generators]
    losses = accs = [float("nan")] * len(run_seeds)
    started = last_line = time.perf_counter()
    every = max(1, (config.epochs + 1) // 10)
    what = f"{trainer.count} stacked networks" if trainer.count > 1 else "network"
    for epoch, optimizer in sgd_schedule(config, trainer.parameters()):
        orders = [generator(s, "order", epoch) for s in run_seeds]
        losses, accs = trainer.epoch(optimizer, images, labels, config.batch_size, orders, device, augments)
        now = time.perf_counter()
        if (epoch + 1) % every == 0 and epoch < config.epochs and now - last_line >= EPOCH_LINE_S:
            last_line, rate = now, (epoch + 1) / (now - started)
            log.info(
                "%s: epoch %d/%d, mean train acc %.3f (%.2f epochs/s, ETA %.0f s)",
                what,
                epoch + 1,
                config.epochs + 1,
                float(np.mean(accs)),
                rate,
                (config.epochs - epoch) / rate,
            )
    return [
        accuracy_report(trainer.scorer(i), test, device, num_classes, accel)
        | {"train_acc": accs[i], "train_loss": losses[i]}
        for i in range(trainer.count)
    ]


def _stats(values: list[float | None]) -> tuple[float | None, float | None]:
    present = [v for v in values if v is not None]
    if not present:
        return None, None
    return float(np.mean(present)), float(np.std(present))


def evaluate_synthetic(
    images: torch.Tensor,
    labels: torch.Tensor,
    synthetic_meta: dict,
    dataset_dir: str | Path,
    arch: str,
    config: EvalConfig,
    device: torch.device | str = "cpu",
    accel: Accel = ORACLE,
    resume_dir: str | Path | None = None,
    segments: Segments | None = None,
) -> dict:
    """Evaluate one synthetic set with one architecture; returns the metrics record (every setting included).
    ``resume_dir``: where finished runs are kept until the record is written (see the module docstring); the
    caller removes it once the record is safe; ``segments``: the job's timing, carried in that resume state
    (:mod:`ddstudy.timing`)."""
    segments = segments or Segments("runs")
    started = time.perf_counter()
    device = torch.device(device)
    accel = accel.resolved(device)
    check_model_name(arch)
    variant = load_variant(dataset_dir)
    if dict(variant.info.sha256) != synthetic_meta["dataset_sha256"]:
        raise DDStudyError(f"{dataset_dir} is not the dataset {synthetic_meta['cell']} was distilled from")
    normalization = Normalization(
        tuple(synthetic_meta["normalization"]["mean"]), tuple(synthetic_meta["normalization"]["std"])
    )
    test = to_tensors(variant.test, normalization)
    spec = method_spec(synthetic_meta["method"])
    learned_lr = synthetic_meta.get("extra", {}).get(spec.eval_lr_from) if spec.eval_lr_from else None
    resolved = config.resolved(synthetic_meta["method"], learned_lr)
    num_classes = synthetic_meta["num_classes"]
    run_seeds = [
        derive_seed(resolved.seed, synthetic_meta["cell"], arch, "eval", run) for run in range(resolved.num_eval)
    ]
    runs: list[dict] = []
    resume = None
    if resume_dir is not None:
        resume = ResumeState(
            resume_dir,
            "runs",
            {
                "config": asdict(resolved),
                "arch": arch,
                "cell": synthetic_meta["cell"],
                "synthetic": synthetic_meta["synthetic_sha256"],
                "dataset": synthetic_meta["dataset_sha256"],
                "device_type": device.type,
                "accel": accel.to_dict(),
            },
        )
        saved = resume.load()
        if saved is not None:
            runs = saved[0]["runs"]
            segments.resumed(saved[0].get("segments"), len(runs))
            log.info("%s × %s: resuming after run %d/%d", synthetic_meta["cell"], arch, len(runs), resolved.num_eval)
    if accel.vectorize and not runs:
        channels, size = images.shape[1], images.shape[2]
        probe = build_model(arch, channels, num_classes, size, derive_seed(run_seeds[0], "net"))
        if together(len(run_seeds), probe, accel):
            runs = train_and_test(arch, images, labels, test, resolved, run_seeds, num_classes, device, accel)
            log.info(
                "%s × %s: %d networks trained together in %.0f s",
                synthetic_meta["cell"],
                arch,
                len(runs),
                time.perf_counter() - started,
            )
        elif len(run_seeds) > 1:
            log.info("%s has BatchNorm: its %d networks train one after another", arch, resolved.num_eval)
    first = len(runs)
    for run in range(first, resolved.num_eval):
        (result,) = train_and_test(arch, images, labels, test, resolved, [run_seeds[run]], num_classes, device, accel)
        runs.append(result)
        if resume is not None:
            resume.save({}, runs=runs, segments=segments.upto(len(runs)))
        elapsed = time.perf_counter() - started
        log.info(
            "%s × %s run %d/%d: test acc %.4f (%.0f s so far, ETA %.0f s, %s)",
            synthetic_meta["cell"],
            arch,
            run + 1,
            resolved.num_eval,
            result["acc"],
            elapsed,
            elapsed / (run + 1 - first) * (resolved.num_eval - run - 1),
            accel.describe(),
        )
    accs = [r["acc"] for r in runs]
    acc_mean, acc_std = _stats(accs)
    aligned_mean, aligned_std = _stats([r["acc_aligned"] for r in runs])
    conflicting_mean, conflicting_std = _stats([r["acc_conflicting"] for r in runs])
    per_class = [_stats([r["acc_per_class"][c] for r in runs])[0] for c in range(num_classes)]
    fairness = {}
    for key in ("worst_group_acc", "deo_m", "deo_a", "suff_m", "suff_a"):
        fairness[f"{key}_mean"], fairness[f"{key}_std"] = _stats([r.get(key) for r in runs])
    # How much a network relies on the attribute: aligned minus conflicting accuracy (the report's bias
    # amplification compares it with the full biased training set's).
    gaps = [
        r["acc_aligned"] - r["acc_conflicting"] for r in runs if None not in (r["acc_aligned"], r["acc_conflicting"])
    ]
    fairness["attribute_gap_mean"], fairness["attribute_gap_std"] = _stats(gaps)
    return {
        "cell": synthetic_meta["cell"],
        "dataset": synthetic_meta["dataset"],
        **{k: synthetic_meta["dataset_meta"].get(k) for k in ("source", "bias", "ratio", "severity", "test_attrs")},
        "method": synthetic_meta["method"],
        "ipc": synthetic_meta["ipc"],
        "distill_model": synthetic_meta["config"]["model"],
        "eval_arch": arch,
        "acc_mean": acc_mean,
        "acc_std": acc_std,
        "n_runs": len(runs),
        "accs": accs,
        "acc_aligned_mean": aligned_mean,
        "acc_aligned_std": aligned_std,
        "acc_conflicting_mean": conflicting_mean,
        "acc_conflicting_std": conflicting_std,
        "acc_per_class_mean": per_class,
        **fairness,
        "train_acc_mean": _stats([r["train_acc"] for r in runs])[0],
        "train_aligned_fraction": synthetic_meta.get("train_aligned_fraction"),
        "test_n": runs[0]["n"],
        "test_n_aligned": runs[0]["n_aligned"],
        "eval_config": asdict(resolved),
        "distill_config": synthetic_meta["config"],
        "synthetic_sha256": synthetic_meta["synthetic_sha256"],
        "dataset_sha256": synthetic_meta["dataset_sha256"],
        "extra": synthetic_meta.get("extra", {}),
        "device": device.type,
        "accel": accel.to_dict(),
        "ddstudy_version": ddstudy.__version__,
    }


def write_metrics(path: str | Path, record: dict) -> Path:
    write_json(path, record)
    return Path(path)
