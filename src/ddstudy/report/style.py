"""One look per method in every figure: a colour and a marker each, and the accuracy axis drawn alike.

A reader comparing figures should never have to re-learn which colour is DM; so figures take a method's colour
and marker from here instead of from matplotlib's colour cycle (which assigns them by drawing order).
"""

from __future__ import annotations

import re

from ddstudy.distill.registry import METHODS

# method → (colour, marker), from each method's registry entry; the full training set is black everywhere.
METHOD_STYLE: dict[str, tuple[str, str]] = {name: (spec.colour, spec.marker) for name, spec in METHODS.items()}
OTHER = ("tab:brown", "P")
ERROR_BARS = "error bars: std over the evaluation runs (n in the legend)"


def method_style(method: str) -> dict:
    """``color`` and ``marker`` keyword arguments for a method (``dm``, or a label starting with it)."""
    colour, marker = METHOD_STYLE.get(method.split(" ")[0], OTHER)
    return {"color": colour, "marker": marker}


def accuracy_axis(ax, label: str = "test accuracy (%)") -> None:
    """0–100 % on every accuracy axis: a panel with one point must not zoom in until ±0.3 points look large."""
    ax.set_ylim(0, 100)
    ax.set_ylabel(label)


CLOM_SLUG = re.compile(r"^clom-(?P<distance>ce|cos)(?P<paper>-paper)?-(?P<source>.+)-(?P<archs>[^-]+)"
                       r"-i(?P<inits>\d+)-e(?P<epoch>\d+)-a(?P<alphas>.+)$")  # fmt: skip


def clom_setting_text(set_name: str, dataset: str) -> str:
    """A CLoM set's setting in words: 'dc_ipc1_clom-ce-<dataset>-ConvNetW32-i1-e3-a10' → 'CLoM ce, PTMs trained on
    this dataset: ConvNetW32, 1 init, epoch 3, α 10'; a set without CLoM → 'without CLoM'."""
    if "_clom-" not in set_name:
        return "without CLoM"
    slug = "clom-" + set_name.split("_clom-", 1)[1]
    match = CLOM_SLUG.match(slug)
    if match is None:
        return slug
    parts = match.groupdict()
    source = "this dataset" if parts["source"] == dataset else parts["source"]
    inits = f"{parts['inits']} init" + ("s" if parts["inits"] != "1" else "")
    form = " (paper form)" if parts["paper"] else ""
    archs = parts["archs"].replace("+", " + ")
    alphas = parts["alphas"].replace("-", ", ")
    setting = f"{archs}, {inits}, epoch {parts['epoch']}, α {alphas}"
    return f"CLoM {parts['distance']}{form}, PTMs trained on {source}: {setting}"
