"""``ddstudy bench data``: dataset-build timings printed as numbers (never asserted in tests).

``ddstudy bench`` (the network cases) lives in :mod:`ddstudy.bench_nets`. ``bench data`` builds one full variant of each
bias kind from Fashion-MNIST (60k train + 10k test) and, in the same process, compares each fast path with a
straightforward one on a subset: the vectorised colouring against a per-image loop shaped like the reference's
``colorize`` calls, and the corruption workers against one process. CPU-seconds per wall-second are printed beside
each figure, since timings on shared machines vary.
"""

from __future__ import annotations

import resource
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from ddstudy.data import colour, corruptions
from ddstudy.data.bias_kind import assign_attributes
from ddstudy.data.build import VariantSpec, build_variant
from ddstudy.data.sources import SourceOptions, load_source


def _cpu_seconds() -> float:
    """CPU time of this process plus its finished children (the corruption workers)."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


def _timed(fn: Callable[[], object]) -> tuple[float, float]:
    wall, cpu = time.perf_counter(), _cpu_seconds()
    fn()
    wall, cpu = time.perf_counter() - wall, _cpu_seconds() - cpu
    return wall, cpu / wall if wall else 0.0


def _colour_per_image(gray: np.ndarray, attrs: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    """The straightforward path: one image at a time, as the reference loops over ``colorize``."""
    std = np.float32(colour.COLOR_JITTER_STD[severity - 1])
    out = np.empty((len(gray), 3, *gray.shape[2:]), dtype=np.uint8)
    for i, (image, attr) in enumerate(zip(gray, attrs, strict=True)):
        rgb = np.clip(colour.LFF_MEAN_COLORS[attr] + rng.standard_normal(3, dtype=np.float32) * std, 0, 1)
        out[i] = (rgb[:, None, None] * image.astype(np.float32)).astype(np.uint8)
    return out


def run_data_bench(n_images: int = 60000, workers: int = 2, fashion_mnist_dir: str | None = None) -> None:
    options = SourceOptions(fashion_mnist_dir=Path(fashion_mnist_dir) if fashion_mnist_dir else None)
    source = load_source("fashion-mnist", options)
    per_class = max(1, n_images // source.num_classes)
    train_per_class = None if per_class * source.num_classes >= len(source.train.labels) else per_class
    print(
        f"data build benchmark: fashion-mnist, {per_class * source.num_classes} train + 10000 test images, "
        f"workers={workers}"
    )
    print(f"{'what':58s} {'seconds':>8s} {'img/s':>8s} {'cpu/wall':>8s}")
    with tempfile.TemporaryDirectory() as tmp:
        for kind in ("color", "corruption"):
            spec = VariantSpec("fashion-mnist", kind, 0.95, 4, train_per_class=train_per_class)
            wall, load = _timed(lambda spec=spec: build_variant(spec, Path(tmp) / spec.name, options, workers, source))
            n = per_class * source.num_classes + len(source.test.labels)
            print(f"{'build ' + spec.name:58s} {wall:8.2f} {n / wall:8.0f} {load:8.2f}")

    subset = source.train.images[:6000]
    attrs = assign_attributes(source.train.labels[:6000], 0.95, source.num_classes)
    fast = _timed(lambda: colour.colorize(subset, attrs, 4, np.random.default_rng(0)))
    slow = _timed(lambda: _colour_per_image(subset, attrs, 4, np.random.default_rng(0)))
    print(f"{'colour 6000 images, vectorised (ours)':58s} {fast[0]:8.3f} {6000 / fast[0]:8.0f} {fast[1]:8.2f}")
    print(f"{'colour 6000 images, per-image loop (reference)':58s} {slow[0]:8.3f} {6000 / slow[0]:8.0f} {slow[1]:8.2f}")
    for w in sorted({1, workers}):
        wall, load = _timed(lambda w=w: corruptions.corrupt_by_attribute(subset, attrs, 4, (0, 0), workers=w))
        print(f"{f'corruption 6000 images, workers={w}':58s} {wall:8.2f} {6000 / wall:8.0f} {load:8.2f}")
    print("targets (issue 3): colour < 10 s, corruption < 120 s per 60k-sample variant on 2 cores")
