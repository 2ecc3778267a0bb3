"""One look per method in every figure: a colour and a marker each, and the accuracy axis drawn alike.

A reader comparing figures should never have to re-learn which colour is DM; so figures take a method's colour
and marker from here instead of from matplotlib's colour cycle (which assigns them by drawing order).
"""

from __future__ import annotations

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


def clom_setting_text(row, dataset: str) -> str:
    """A CLoM set's setting in words, from its PTM-study columns (the record's CLoM setting, never its name):
    'CLoM ce, PTMs trained on this dataset: ConvNetW32, 1 init, epoch 3, α 10'; a set without CLoM → 'without
    CLoM'."""
    distance = row.clom_distance
    if distance == "none":
        return "without CLoM"
    source = "this dataset" if row.zoo_source == dataset else row.zoo_source
    inits = f"{int(row.zoo_inits)} init" + ("s" if int(row.zoo_inits) != 1 else "")
    form = " (paper form)" if distance.endswith("-paper") else ""
    archs = row.zoo_archs.replace("+", " + ")
    alphas = row.clom_alpha.replace("+", ", ")
    setting = f"{archs}, {inits}, epoch {int(row.zoo_epoch)}, α {alphas}"
    return f"CLoM {distance.removesuffix('-paper')}{form}, PTMs trained on {source}: {setting}"
