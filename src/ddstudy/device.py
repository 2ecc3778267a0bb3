"""``--device auto``: CUDA when present, the CPU otherwise."""

from __future__ import annotations

from dataclasses import dataclass

from ddstudy.errors import DDStudyError
from ddstudy.knobs import knob
from ddstudy.lazy import lazy

torch = lazy("torch")


def resolve_device(name: str = "auto") -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise DDStudyError(f"device '{name}' requested but CUDA is not available; use --device auto or cpu")
    try:
        return torch.device(name)
    except RuntimeError:
        raise DDStudyError(f"unknown device '{name}'; use auto, cpu, cuda or cuda:N") from None


@dataclass(frozen=True)
class Runtime:
    """Where a training command runs: the device and the CPU threads (the params schema's ``threads`` block takes
    its range from here, so the command line and params.yaml accept the same values)."""

    device: str = knob("auto", "auto (CUDA when present) | cpu | cuda[:N]")
    threads: int | None = knob(None, "torch CPU threads (unset: torch's default)", minimum=1)

    def apply(self) -> torch.device:
        """Set the thread count and resolve the device."""
        if self.threads:
            torch.set_num_threads(self.threads)
        return resolve_device(self.device)
