"""glibc's allocator, kept from handing large blocks back to the kernel between batches.

Every batch of a ConvNet-128 on 256 images allocates feature maps of ~130 MB (256 × 128 × 32 × 32 floats). glibc
serves blocks above its mmap threshold (128 KiB, raised dynamically up to 32 MiB) with fresh ``mmap`` calls and
returns them with ``munmap`` when freed, so each batch faults every page of them in again, zeroed by the kernel:
measured on one thread, an evaluation spent a quarter of its CPU time in the kernel (3.9 M minor page faults for
40 epochs plus a test pass) — the "40 % system time" of one-thread repro jobs. With the mmap threshold above the
largest batch tensor and the trim threshold above the peak heap, freed blocks are reused in place: 0.2 M faults,
system time 6.2 s → 0.5 s for the same run (``ddstudy bench --cases malloc`` times it). The arithmetic, and so
every output byte, is the same; the cost is that a process keeps its peak heap until it exits.

The settings must be in the environment before the process starts (``mallopt`` caps the threshold at 32 MiB), so
:func:`reexec_tuned` re-executes a ``ddstudy`` command once with them set, and the fork server starts with them.
``DDSTUDY_MALLOC=default`` leaves glibc's defaults (for comparisons); a value the user set already is kept.
"""

from __future__ import annotations

import os
import platform
import sys

OPT_OUT = "DDSTUDY_MALLOC"
TUNABLES = {
    "MALLOC_MMAP_THRESHOLD_": str(1 << 30),  # 1 GiB: above any batch tensor of the grids' networks
    "MALLOC_TRIM_THRESHOLD_": str(1 << 34),  # 16 GiB: never trim the heap's top while the job runs
}


def applies() -> bool:
    return platform.system() == "Linux" and platform.libc_ver()[0] == "glibc"


def tuned_environ(environ: dict[str, str] | None = None) -> dict[str, str]:
    """``environ`` (default ``os.environ``) with the tunables added where unset, unless opted out."""
    environ = dict(os.environ if environ is None else environ)
    if environ.get(OPT_OUT) == "default" or not applies():
        return environ
    return {**TUNABLES, **environ}


def is_tuned(environ: dict[str, str] | None = None) -> bool:
    environ = os.environ if environ is None else environ
    return environ.get(OPT_OUT) == "default" or not applies() or all(key in environ for key in TUNABLES)


def reexec_tuned(argv: list[str]) -> None:
    """Replace this process by ``python -m ddstudy argv`` with the tunables set (no return), unless already tuned.

    Called by the console script before it imports torch, so the cost is one interpreter start (~50 ms)."""
    if is_tuned():
        return
    os.execve(sys.executable, [sys.executable, "-m", "ddstudy", *argv], tuned_environ())
