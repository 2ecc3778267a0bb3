"""Bias mitigation during distillation: what the real side of a matching step sees, per ``debias`` mode.

* ``none`` — the class's real batch as it is (the reference methods).
* ``fairdd`` — FairDD (Zhou et al., "FairDD: Fair Dataset Distillation via Synchronized Matching"; code
  zqhang/FairDD ``main_DM.py`` / ``main_DC.py``): the real batch of class c is split by attribute and every
  attribute group present contributes its own matching term against the *same* synthetic images of the class —
  DM: Σ_g ‖mean ψ(T_c,g) − mean ψ(S_c)‖²; DC/DSA: Σ_g D(∇θ L(S_c), ∇θ L(T_c,g)) — so the bias-aligned majority no
  longer dominates the class statistic. The groups are those present in the sampled batch, summed (not averaged),
  as the code does; the synthetic side is unchanged.
* ``kde`` — Cui, Wang, Xiong & Hsieh (ICML 2024, "Mitigating Bias in Dataset Distillation", arXiv 2406.06609):
  each real sample is weighted inversely to its kernel-density estimate in an embedding space, so rare
  (bias-conflicting) samples count more; the class statistics become weighted means (DM: Σ w ψ / Σ w; DC/DSA: the
  weighted cross-entropy Σ w CE / Σ w). The weights are an artifact computed once per dataset variant and
  embedding (:func:`compute_kde_weights`). Deviations (docs/deviations.md F1–F3): the embedding is a PTM of our zoo
  trained on the same biased set (the paper trains a supervised-contrastive model); features L2-normalised;
  bandwidth by the median heuristic unless set; β = 1 (inverse density) by default.
* ``oracle`` — group-balanced weights from the true attributes: within a class every attribute group present gets
  the same total weight. The upper bound ``kde`` aims at without attribute labels.

The weights themselves (modes, oracle and KDE formulas, the artifact's loader) live in the base module
:mod:`ddstudy.weighting`, which zoo training shares: MTT matches expert trajectories, not real batches, so its
``debias`` acts where it sees real data — its experts train with the mode's weighted cross-entropy
(:mod:`ddstudy.distill.mtt`, docs/deviations.md F5).
"""

from __future__ import annotations

import logging
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch

from ddstudy.io import save_npz, write_json
from ddstudy.outputs import ArtifactKind, claim_outputs, json_with_keys
from ddstudy.weighting import WEIGHTED, KdeConfig, kde_weights

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
    from ddstudy.data.store import load_variant
    from ddstudy.data.tensors import Normalization, to_tensors
    from ddstudy.zoo.store import load_ptm

    variant = load_variant(dataset_dir)
    dataset = variant.meta["name"]
    model, ptm = load_ptm(zoo_root, dataset, config.arch, config.init, config.epoch, device)
    ptm_norm = Normalization(tuple(ptm["normalization"]["mean"]), tuple(ptm["normalization"]["std"]))
    train = to_tensors(variant.train, ptm_norm)  # the PTM sees images as it was trained
    features = embed_features(model, train.images, torch.device(device))
    labels = variant.train.labels.astype(np.int64)
    weights, density, widths = kde_weights(features, labels, variant.meta["num_classes"], config.bandwidth, config.beta)
    digest = save_npz(npz, {"weights": weights, "density": density})
    aligned = variant.train.attrs == variant.train.labels
    record = {
        "dataset": dataset,
        "dataset_sha256": variant.meta["sha256"],
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


def class_statistic_weights(mode: str, weights: torch.Tensor | None, index: torch.Tensor) -> torch.Tensor | None:
    """The sampled batch's weights for a weighted mode (None otherwise)."""
    if mode not in WEIGHTED:
        return None
    return weights[index.to(weights.device)]


def dm_class_loss(
    embed_real: torch.Tensor, mean_syn: torch.Tensor, mode: str, attrs: torch.Tensor | None, w: torch.Tensor | None
) -> torch.Tensor:
    """DM's term of one class: ‖stat(ψ(T_c)) − mean ψ(S_c)‖² with stat = the mean (``none``), the weighted mean
    (``kde``/``oracle``), or FairDD's sum over the attribute groups present (``fairdd``)."""
    if mode == "none":
        return ((embed_real.mean(0) - mean_syn) ** 2).sum()
    if mode == "fairdd":
        loss = torch.zeros((), device=embed_real.device)
        for group in torch.unique(attrs):
            loss = loss + ((embed_real[attrs == group].mean(0) - mean_syn) ** 2).sum()
        return loss
    w = w.to(embed_real.dtype)
    return (((w[:, None] * embed_real).sum(0) / w.sum() - mean_syn) ** 2).sum()
