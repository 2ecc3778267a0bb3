"""The KDE sample weights of a biased training set (``debias: kde``; Cui, Wang, Xiong & Hsieh, ICML 2024, arXiv
2406.06609) — made in the zoo stage because they come from a zoo PTM's embedding of the set (rule ``kde_weights``,
``ddstudy debias weights``). The formula and the artifact's loader are in :mod:`ddstudy.debias`; deviations F1–F3
(the embedding is a PTM of our zoo trained on the same biased set, features L2-normalised, bandwidth by the median
heuristic unless set, β = 1 by default) in docs/deviations.md.
"""

from __future__ import annotations

import logging
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch

from ddstudy.data.store import load_variant
from ddstudy.data.tensors import Normalization, to_tensors
from ddstudy.debias import KdeConfig, kde_weights
from ddstudy.device import exact_fp32
from ddstudy.io import save_npz, write_json
from ddstudy.outputs import ArtifactKind, claim_outputs, json_with_keys
from ddstudy.zoo.store import load_ptm

# The KDE weights artifact is two files: <name>.npz (the weights) and <name>.json (its record, mode "kde").
KDE_RECORD = ArtifactKind("KDE weights record", False, json_with_keys("mode", "kde", "weights_sha256"))
KDE_WEIGHTS = ArtifactKind("KDE weights file", False, lambda path: KDE_RECORD.made(path.with_suffix(".json")))

log = logging.getLogger(__name__)


@torch.no_grad()
def embed_features(model: torch.nn.Module, images: torch.Tensor, device: torch.device, chunk: int = 500) -> np.ndarray:
    """L2-normalised ``embed`` features of every image (in chunks, eval mode)."""
    out = []
    for start in range(0, len(images), chunk):
        feats = model.embed(images[start : start + chunk].to(device)).float()
        out.append(torch.nn.functional.normalize(feats, dim=1).cpu())
    return torch.cat(out).numpy()


def compute_kde_weights(
    dataset_dir: str | Path, zoo_root: str | Path, config: KdeConfig, out: str | Path, device="cpu"
) -> dict:
    """The KDE weights of a dataset variant's training set (``<out>.npz`` + ``<out>.json``), from the embedding of
    its own zoo PTM ``config.arch``/init/epoch. Returns the JSON record. Both files are claimed first
    (:func:`ddstudy.outputs.claim_outputs`: new or KDE weights ddstudy made, never an input, one run at a time)."""
    npz, record_json = Path(out).with_suffix(".npz"), Path(out).with_suffix(".json")
    inputs = {"--dataset-dir": dataset_dir, "--zoo-root": zoo_root}
    with claim_outputs([(npz, KDE_WEIGHTS), (record_json, KDE_RECORD)], inputs):
        return _kde_weights_to(dataset_dir, zoo_root, config, npz, record_json, device)


def _kde_weights_to(dataset_dir, zoo_root, config: KdeConfig, npz: Path, record_json: Path, device) -> dict:
    variant = load_variant(dataset_dir)
    dataset = variant.info.name
    model, ptm = load_ptm(zoo_root, dataset, config.arch, config.init, config.epoch, device)
    ptm_norm = Normalization(tuple(ptm["normalization"]["mean"]), tuple(ptm["normalization"]["std"]))
    train = to_tensors(variant.train, ptm_norm)  # the PTM sees images as it was trained
    exact_fp32(device)  # the PTM embeds in fp32 on a GPU too (TF32 is PyTorch's default for its convolutions)
    features = embed_features(model, train.images, torch.device(device))
    labels = variant.train.labels.astype(np.int64)
    weights, density, widths = kde_weights(features, labels, variant.info.num_classes, config.bandwidth, config.beta)
    digest = save_npz(npz, {"weights": weights, "density": density})
    aligned = variant.train.aligned
    record = {
        "dataset": dataset,
        "dataset_sha256": dict(variant.info.sha256),
        "mode": "kde",
        "kde": asdict(config),
        "embedding": {"zoo": dataset, "weights_sha256": ptm["weights_sha256"], "test_acc": ptm["test"]["acc"]},
        "bandwidth_per_class": widths,
        "weights_sha256": digest,
        # How the weights treat the groups (a diagnostic the pipeline never uses): mean weight of each.
        "mean_weight_aligned": float(weights[aligned].mean()) if aligned.any() else None,
        "mean_weight_conflicting": float(weights[~aligned].mean()) if (~aligned).any() else None,
    }
    write_json(record_json, record)
    log.info(
        "%s: KDE weights (%s): mean weight aligned %.3f, conflicting %s",
        dataset,
        config.slug(),
        record["mean_weight_aligned"] or float("nan"),
        record["mean_weight_conflicting"],
    )
    return record
