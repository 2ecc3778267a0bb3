"""``--device auto``: CUDA when present, the CPU otherwise."""

from __future__ import annotations

import torch

from ddstudy.errors import DDStudyError


def resolve_device(name: str = "auto") -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise DDStudyError(f"device '{name}' requested but CUDA is not available; use --device auto or cpu")
    try:
        return torch.device(name)
    except RuntimeError:
        raise DDStudyError(f"unknown device '{name}'; use auto, cpu, cuda or cuda:N") from None
