"""Distil one cell (dataset variant × method × IPC) into the synthetic-set storage contract.

``synthetic/<dataset>/<method>_ipc<ipc>/`` (``full`` for the whole training set) holds ``synthetic.npz``
(``images`` float32 [N,C,H,W] in the normalised space networks train on, ``labels`` int64, ``indices`` int64 —
the real samples a baseline picked, −1 for distilled images; ``full`` stores indices only), ``meta.json`` (every
setting, the dataset's sha256, iterations done, wall time, loss-curve summary) and ``grid.png``. Work in
progress lives in a sibling ``.<name>.partial/`` folder (checkpoints every ``checkpoint_every`` iterations) and is
moved into place when done.
"""

from __future__ import annotations

import logging
import shutil
import time
from pathlib import Path

import numpy as np

import ddstudy
from ddstudy.accel import ORACLE, Accel
from ddstudy.data.store import load_variant
from ddstudy.data.tensors import Normalization, to_tensors
from ddstudy.debias import KdeConfig, check_weights_flag
from ddstudy.distill.clom import Clom, ClomConfig
from ddstudy.distill.loop import ExtraLoss, run_distillation
from ddstudy.distill.real import RealPool
from ddstudy.distill.registry import check_method_debias, method_spec
from ddstudy.distill.settings import MethodConfig
from ddstudy.errors import DDStudyError
from ddstudy.io import publish_directory, save_npz, sha256_file, write_json
from ddstudy.lazy import lazy
from ddstudy.outputs import ArtifactKind, claim_output, json_with_keys
from ddstudy.timing import Segments, check_timing_path, write_timing

torch = lazy("torch")

log = logging.getLogger(__name__)

SYNTHETIC_ARRAYS = {"images": ("float32", 4), "labels": ("int64", 1), "indices": ("int64", 1)}
# A folder is a synthetic set ddstudy made when its meta.json names the cell and the set's hash.
SYNTHETIC_SET = ArtifactKind("synthetic set", True, json_with_keys("cell", "synthetic_sha256", inside="meta.json"))


def cell_name(dataset: str, method: str, ipc: int, suffix: str = "") -> str:
    """``<dataset>/<method>_ipc<ipc>[<suffix>]`` (``<dataset>/full`` for the whole training set)."""
    return f"{dataset}/full" if method == "full" else f"{dataset}/{method}_ipc{ipc}{suffix}"


def set_suffix(config, clom: ClomConfig | None = None, kde: KdeConfig | None = None) -> str:
    """What a set's name adds to ``<method>_ipc<ipc>``: ``_<debias mode>`` (not for ``none``) with the KDE kernel's
    tag when ``kde`` weights its real batches (:meth:`KdeConfig.kernel_tag`), ``_<CLoM slug>``.
    Seeds come from the name without it: a variant sees the networks, batches and augmentations of the plain cell."""
    debias = getattr(config, "debias", "none")
    mode = f"_{debias}{kde.kernel_tag() if kde is not None else ''}" if debias != "none" else ""
    return mode + (f"_{clom.slug()}" if clom is not None else "")


def set_name(config, clom: ClomConfig | None = None, kde: KdeConfig | None = None) -> str:
    """The synthetic set's folder name under ``synthetic/<dataset>/`` (``full`` for the whole training set)."""
    return cell_name("", config.method, config.ipc, set_suffix(config, clom, kde)).lstrip("/")


def _debias_pool(config, pool: RealPool, variant, sample_weights) -> dict | None:
    """Prepare the real pool for the config's ``debias`` mode (refused before any work when it cannot run);
    returns what the synthetic set's meta records about it (None for ``none``). Methods without real batches
    (MTT: its experts carry the mode) only record it."""
    from ddstudy.debias import prepare

    mode = getattr(config, "debias", "none")
    if method_spec(config.method).debias == "experts":
        return {"mode": mode, "applied_to": "expert trajectories"} if mode != "none" else None
    _, weights, record = prepare(mode, variant.train.labels, variant.train.attrs, variant.info, sample_weights)
    if weights is not None:
        pool.weights = torch.as_tensor(weights, dtype=torch.float32, device=pool.images.device)
    return record


def _summarise(curve: list[float], points: int = 100) -> dict:
    if not curve:
        return {"first": None, "last": None, "min": None, "every": 1, "curve": []}
    every = max(1, int(np.ceil(len(curve) / points)))
    return {"first": curve[0], "last": curve[-1], "min": min(curve), "every": every, "curve": curve[::every]}


def distill_cell(
    dataset_dir: str | Path,
    config: MethodConfig,
    out_dir: str | Path,
    device: torch.device | str = "cpu",
    clom: ClomConfig | None = None,
    zoo_root: str | Path = "zoo",
    accel: Accel = ORACLE,
    sample_weights: str | Path | None = None,
    timing: str | Path | None = None,
) -> dict:
    """Distil (or select) the synthetic set of one cell and write it to ``out_dir``; returns its meta.

    ``clom`` adds the CLoM loss of PTMs from ``zoo_root`` (distilling methods only); ``accel`` picks compiled / bf16
    paths (recorded in the meta); ``sample_weights``: the KDE weights artifact of a ``debias: kde`` config;
    ``timing``: where to write the job's wall and CPU time over all its segments (:mod:`ddstudy.timing`).
    ``out_dir`` is claimed before anything loads (:func:`ddstudy.outputs.claim_output`): new or a synthetic set,
    never an input; one run at a time.
    """
    spec = method_spec(config.method)
    check_method_debias(config)
    if clom is not None and spec.distils and not spec.takes_clom:
        raise DDStudyError(f"{config.method} takes no CLoM (docs/deviations.md I4); drop the --clom-* options")
    if spec.debias == "real batches":
        check_weights_flag(config.debias, sample_weights)
    elif sample_weights is not None:
        why = " (its experts carry the debias mode)" if spec.debias == "experts" else ""
        raise DDStudyError(f"{config.method} reads no --sample-weights{why}; drop it")
    reads_zoo = clom is not None or spec.uses_zoo
    inputs = {
        "--dataset-dir": dataset_dir,
        "--sample-weights": sample_weights,
        "--zoo-root": zoo_root if reads_zoo else None,
    }
    timing = check_timing_path(timing, out_dir, inputs)
    with claim_output(out_dir, SYNTHETIC_SET, inputs) as out_dir:
        return _distill(dataset_dir, config, out_dir, device, clom, zoo_root, accel, sample_weights, timing)


def _distill(dataset_dir, config, out_dir: Path, device, clom, zoo_root, accel, sample_weights, timing) -> dict:
    started = time.perf_counter()
    segments = Segments("iterations")
    device = torch.device(device)
    staging = out_dir.parent / f".{out_dir.name}.partial"
    variant = load_variant(dataset_dir)
    dataset = variant.info.name
    # Seeds come from the cell without its suffixes: a CLoM or debias run sees the same networks, real batches and
    # augmentations as the plain run (paired comparison; α = 0 reproduces it bit for bit).
    seed_cell = cell = cell_name(dataset, config.method, config.ipc)
    shape = variant.info.image_shape
    normalization = Normalization.of_variant(variant.info, variant.train.images)
    pool = RealPool(to_tensors(variant.train, normalization), variant.info.num_classes, device, normalization)
    spec = method_spec(config.method)
    if spec.kind == "selects" or getattr(config, "init", None) == "real":
        pool.check_ipc(config.ipc)  # refused here, before anything is loaded or compiled
    accel = accel.resolved(device)
    extra_loss: ExtraLoss | None = None
    extra_meta: dict | None = None
    debias = _debias_pool(config, pool, variant, sample_weights)
    cell = cell_name(dataset, config.method, config.ipc, set_suffix(config, clom, KdeConfig.of_record(debias)))
    if debias:
        extra_meta = {"debias": debias}
    if clom is not None:
        if not spec.distils:
            raise DDStudyError(f"CLoM guides distillation, not the '{config.method}' baseline")
        extra_meta = (extra_meta or {}) | {"clom": clom.to_dict()}
        if clom.active:
            extra_loss = Clom.from_zoo(clom, zoo_root, variant.info.num_classes, shape, normalization, device, accel)

    result = None
    if spec.distils:
        result = run_distillation(
            spec.make(),
            config,
            seed_cell,
            pool,
            shape,
            device,
            staging / "ckpt",
            dict(variant.info.sha256),
            extra_loss,
            extra_meta,
            accel=accel,
            zoo_root=Path(zoo_root),
            state_keys=spec.checkpoint_state,
            segments=segments,
            label=cell,
        )
        images, labels = result.images.numpy(), result.labels.numpy()
        indices = np.full(len(labels), -1, dtype=np.int64)
    else:
        chosen = spec.make()(pool, config, seed_cell, shape)
        indices = chosen.numpy().astype(np.int64)
        labels = variant.train.labels[indices]
        images = pool.images[chosen.to(device)].cpu().numpy() if spec.kind != "full" else np.zeros((0, *shape))

    staging.mkdir(parents=True, exist_ok=True)
    digest = save_npz(
        staging / "synthetic.npz",
        {"images": images.astype(np.float32), "labels": labels.astype(np.int64), "indices": indices},
    )
    if len(images):
        from ddstudy.distill.image_grid import plot_synthetic_grid  # matplotlib only where a figure is drawn

        plot_synthetic_grid(images, labels, normalization, list(variant.info.class_names), cell, staging / "grid.png")
    meta = {
        "cell": cell,
        "dataset": dataset,
        "dataset_sha256": dict(variant.info.sha256),
        "dataset_meta": {k: variant.meta.get(k) for k in ("source", "bias", "ratio", "severity", "test_attrs")},
        "train_aligned_fraction": variant.meta["counts"]["train"].get("aligned_fraction"),
        "method": config.method,
        "ipc": config.ipc if config.method != "full" else None,
        "config": config.to_dict(),
        "normalization": normalization.to_dict(),
        "image_shape": list(shape),
        "num_classes": variant.info.num_classes,
        "num_images": int(len(labels)),
        "iterations_done": result.iterations_done if result else 0,
        "resumed_from": result.resumed_from if result else None,
        "loss": _summarise(result.loss_curve if result else []),
        "extra_loss": _summarise(result.extra_curve if result else []),
        "extra": (extra_meta or {}) | (result.method_meta if result else {}),
        "synthetic_sha256": digest,
        "device": device.type,
        "accel": accel.to_dict(),
        "ddstudy_version": ddstudy.__version__,
    }
    write_json(staging / "meta.json", meta)
    if (staging / "ckpt").exists():
        shutil.rmtree(staging / "ckpt")
    publish_directory(staging, out_dir)
    write_timing(timing, segments, result.iterations_done if result else 0)
    # Timings stay in the log: a versioned artifact is the same bytes for the same seed (DVC hashes agree).
    log.info("%s: %d images in %.1f s (%s)", cell, len(labels), time.perf_counter() - started, accel.describe())
    return meta


def load_synthetic(
    folder: str | Path, dataset_dir: str | Path | None = None
) -> tuple[torch.Tensor, torch.Tensor, dict]:
    """(images, labels, meta) of a synthetic set; ``full`` sets are materialised from the dataset variant."""
    from ddstudy.io import load_npz, read_json

    folder = Path(folder)
    if not SYNTHETIC_SET.made(folder):
        raise DDStudyError(
            f"{folder}: not a synthetic set (no meta.json naming its cell and hash); make it with `ddstudy distill`"
        )
    meta = read_json(folder / "meta.json")
    if not (folder / "synthetic.npz").is_file():
        raise DDStudyError(f"{folder}/synthetic.npz is missing; re-run the distillation")
    if sha256_file(folder / "synthetic.npz") != meta["synthetic_sha256"]:
        raise DDStudyError(f"{folder}/synthetic.npz: sha256 differs from meta.json; re-run the distillation")
    arrays = load_npz(folder / "synthetic.npz", SYNTHETIC_ARRAYS)
    images, labels = torch.from_numpy(arrays["images"]), torch.from_numpy(arrays["labels"])
    if len(images) == 0 and len(labels):
        if dataset_dir is None:
            raise DDStudyError(f"{folder} stores indices only (full training set); pass the dataset folder")
        variant = load_variant(dataset_dir)
        if dict(variant.info.sha256) != meta["dataset_sha256"]:
            raise DDStudyError(f"{dataset_dir} is not the dataset {folder} was selected from (sha256 differs)")
        normalization = Normalization(tuple(meta["normalization"]["mean"]), tuple(meta["normalization"]["std"]))
        images = normalization.apply(variant.train.images[arrays["indices"]])
    decode = method_spec(meta["method"]).decode
    if decode is not None:  # a parameterised set (IDC): the images training sees
        images, labels = decode(images, labels, meta["config"], meta.get("normalization"))
    return images, labels, meta
