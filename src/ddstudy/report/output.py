"""Writing report outputs atomically: figures (PNG) and tables (CSV)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from ddstudy.io import atomic_file  # noqa: E402


def save_figure(fig: plt.Figure, path: str | Path, dpi: int = 110, tight: bool = False) -> Path:
    """Save a figure as PNG atomically and close it (matplotlib's PNG output is byte-stable for a given figure)."""
    path = Path(path)
    with atomic_file(path, "wb") as handle:
        fig.savefig(handle, format="png", dpi=dpi, bbox_inches="tight" if tight else None)
    plt.close(fig)
    return path


def write_csv(frame: pd.DataFrame, path: str | Path) -> Path:
    path = Path(path)
    with atomic_file(path, "w") as handle:
        frame.to_csv(handle, index=False, float_format="%.6g")
    return path
