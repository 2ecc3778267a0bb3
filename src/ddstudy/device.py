"""``--device auto``: CUDA when present, the CPU otherwise."""

from __future__ import annotations

from dataclasses import dataclass

from ddstudy.errors import DDStudyError
from ddstudy.knobs import knob
from ddstudy.lazy import lazy

torch = lazy("torch")


def exact_fp32(device: torch.device | str) -> None:
    """Make fp32 mean fp32 on a CUDA device: TensorFloat-32 off for cuDNN convolutions and for matmuls.

    PyTorch runs cuDNN convolutions in TF32 (a 10-bit mantissa) by default on Ampere and later GPUs
    (``torch.backends.cudnn.conv.fp32_precision == "tf32"``), so an "fp32" ConvNet there is not the CPU's fp32, nor
    the published runs' (DC/DSA/DM on pre-Ampere GPUs). The GPU check of 2026-12-04 (H200, docs/performance.md) saw
    it: the compiled and the classes-batched paths left the eager one by up to 7e-4 relative after 3 iterations,
    where the CPU's differ by < 1e-5. Every stage that runs a network calls this through
    :meth:`ddstudy.accel.Accel.resolved` (KDE's embedding directly); process-wide and idempotent; a no-op off CUDA.
    ``precision: bf16`` is unaffected: autocast runs its convolutions in bf16 either way."""
    if torch.device(device).type != "cuda":
        return
    # The flags every torch since 1.7 reads. Not torch >= 2.9's ``cudnn.conv.fp32_precision = "ieee"``: that leaves
    # cuDNN's RNN flag at "tf32", and reading the old ``cudnn.allow_tf32`` (as code inside or outside torch may)
    # then raises "a mix of the legacy and new APIs"; these two setters keep both APIs consistent.
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cuda.matmul.allow_tf32 = False


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
