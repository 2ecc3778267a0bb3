"""The bias-kind registry: one line per kind. The CLI's and the params schema's bias choices, the variant builder,
its meta and the sample figures read from here; a third kind is one module defining a ``BiasKind`` + one line."""

from __future__ import annotations

from ddstudy.data.bias_kind import BiasKind
from ddstudy.data.colour import COLOUR
from ddstudy.data.corruptions import CORRUPTION
from ddstudy.data.fairdd_colour import BACKGROUND, BACKGROUND_BINARY, FOREGROUND, FOREGROUND_BINARY
from ddstudy.data.grayscale import GRAYSCALE
from ddstudy.errors import DDStudyError

BIAS_KINDS: dict[str, BiasKind] = {
    kind.name: kind
    for kind in (COLOUR, CORRUPTION, FOREGROUND, BACKGROUND, FOREGROUND_BINARY, BACKGROUND_BINARY, GRAYSCALE)
}
BIASES = (*BIAS_KINDS, "none")  # "none": the clean source


def bias_kind(name: str) -> BiasKind:
    try:
        return BIAS_KINDS[name]
    except KeyError:
        raise DDStudyError(f"unknown bias '{name}'; choose one of: {', '.join(BIASES)}") from None
