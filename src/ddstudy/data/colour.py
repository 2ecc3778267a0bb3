"""The colour bias of CMNIST-DD (bias kind ``color``).

Mirrors yaolu-zjut/Biased-DD (``biased_mnist_v1.py``: ``make_attr_labels`` and ``colorize``), which follows LfF
(Nam et al., NeurIPS 2020). A sample of class ``c`` is *bias-aligned* when its attribute equals ``c``.
"""

from __future__ import annotations

import numpy as np

from ddstudy.data.bias_kind import BiasKind
from ddstudy.errors import DDStudyError

# The ten mean colours of LfF's Colored MNIST (``colors.th`` shipped with LfF and with Biased-DD), RGB in [0, 1],
# stored as the float32 values of that file.
LFF_MEAN_COLORS = np.array(
    [
        [0.9836823344230652, 0.31251901388168335, 0.16857534646987915],
        [0.9905296564102173, 0.9156052470207214, 0.35151219367980957],
        [0.6729639768600464, 0.4610704779624939, 0.5798081755638123],
        [0.783251941204071, 0.8315559029579163, 0.6013293862342834],
        [0.08801579475402832, 0.7779633402824402, 0.9818077683448792],
        [0.32139337062835693, 0.9610545635223389, 0.446449875831604],
        [0.024615883827209473, 0.23565047979354858, 0.7586662769317627],
        [0.5552469491958618, 0.10158014297485352, 0.7617631554603577],
        [0.2077232003211975, 0.3929485082626343, 0.018702387809753418],
        [0.8336576223373413, 0.2024092674255371, 0.266943097114563],
    ],
    dtype=np.float32,
)

# Per-image colour jitter σ by severity 1..5 (reference ``colorize``: std_color); larger severity = purer colour.
COLOR_JITTER_STD = (0.05, 0.02, 0.01, 0.005, 0.002)


def colorize(gray: np.ndarray, attrs: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    """Colour bias: ``clamp(mean_colour[a] + N(0, σ²) per image and channel, 0, 1) × grey image``.

    Mirrors the reference ``colorize`` (float32 arithmetic on the 0–255 grey image, then a truncating cast to
    uint8 as ``np.array(...).astype(np.uint8)`` does), vectorised over the batch.
    ``gray`` is uint8 [N, 1, H, W]; the result is uint8 [N, 3, H, W].
    """
    if gray.ndim != 4 or gray.shape[1] != 1:
        raise DDStudyError(
            f"colour bias needs a 1-channel (grey) source, got {gray.shape[1]} channels; use --bias corruption"
        )
    if not 1 <= severity <= len(COLOR_JITTER_STD):
        raise DDStudyError(f"severity {severity} is outside 1..{len(COLOR_JITTER_STD)} for the colour bias")
    std = np.float32(COLOR_JITTER_STD[severity - 1])
    jitter = rng.standard_normal((len(attrs), 3), dtype=np.float32) * std
    colours = np.clip(LFF_MEAN_COLORS[attrs] + jitter, 0.0, 1.0)
    return (colours[:, :, None, None] * gray.astype(np.float32)).astype(np.uint8)


def _apply_colour(images, attrs, severity, seed_words, workers=1, progress=None):
    return colorize(images, attrs, severity, np.random.default_rng(list(seed_words)))


COLOUR = BiasKind(
    name="color",
    max_severity=len(COLOR_JITTER_STD),
    apply=_apply_colour,
    attribute_names=lambda classes: [f"colour{i}" for i in range(classes)],
    meta=lambda severity: {"color_jitter_std": COLOR_JITTER_STD[severity - 1]},
    aligned_examples=lambda images, severity, rng: colorize(images, np.arange(len(images)), severity, rng),
    row_label=lambda name, attr: f"{name} · colour {attr}",
    severity_label=lambda severity: f"severity {severity}\n(σ={COLOR_JITTER_STD[severity - 1]})",
    source_channels=1,
)
