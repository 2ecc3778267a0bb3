"""Safe artifact I/O: atomic writes, hashes, and loading that never unpickles.

Every artifact is written to a temporary name in the destination's own directory and renamed into place, so an
interrupted run never leaves a file (or a dataset folder) that looks finished. Arrays are stored as ``.npz`` and
read back with ``allow_pickle=False``; a file that is not a valid archive is reported by path, in one line.

Modes follow the umask, as ``open``/``mkdir`` would give them (files 0644 and folders 0755 under umask 022):
``tempfile`` creates its files 0600 and folders 0700, which on a cluster's shared file system would hide every
artifact from colleagues and from Slurm jobs running as another account.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import shutil
import tempfile
import zipfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ddstudy.errors import DDStudyError
from ddstudy.outputs import FIGURE_SOFTWARE, is_ddstudy_figure

log = logging.getLogger(__name__)


def sha256_file(path: str | os.PathLike, chunk_size: int = 1 << 20) -> str:
    """Hex sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk_size):
            digest.update(block)
    return digest.hexdigest()


def _umask() -> int:
    mask = os.umask(0o022)  # the only way to read it is to set it; put it back at once
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_file(path: str | os.PathLike, mode: str = "wb") -> Iterator[Any]:
    """Open a temporary sibling of ``path`` for writing; rename it over ``path`` only on success."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, 0o666 & ~_umask())
        with os.fdopen(fd, mode) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp_name)
        raise


@contextlib.contextmanager
def atomic_directory(path: str | os.PathLike) -> Iterator[Path]:
    """Build a directory under a temporary sibling name; swap it into place only when the block succeeds.

    An existing ``path`` is replaced as a whole, so readers see either the old complete folder or the new one.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    tmp.chmod(0o777 & ~_umask())
    try:
        yield tmp
        publish_directory(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _canonical_json(data: Any) -> str:
    return json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def write_json(path: str | os.PathLike, data: Any) -> None:
    """Write JSON atomically with sorted keys (same content, same bytes)."""
    with atomic_file(path, "w") as handle:
        handle.write(_canonical_json(data))


def read_json(path: str | os.PathLike) -> Any:
    """Read a JSON file; a missing or malformed file is a one-line :class:`DDStudyError`."""
    path = Path(path)
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise DDStudyError(f"{path}: file not found") from None
    except json.JSONDecodeError as err:
        raise DDStudyError(f"{path}: not valid JSON ({err.msg} at line {err.lineno}); rebuild it") from None


def save_npz(path: str | os.PathLike, arrays: Mapping[str, np.ndarray]) -> str:
    """Save arrays uncompressed and deterministically (fixed zip timestamps); return the file's sha256.

    ``np.savez`` stamps each member with the current time, so identical arrays would give different bytes on
    different days; we write the zip ourselves with a fixed date so that the same seed gives the same sha256.
    """
    with atomic_file(path, "wb") as handle, zipfile.ZipFile(handle, "w", zipfile.ZIP_STORED) as archive:
        for name in sorted(arrays):
            array = np.ascontiguousarray(arrays[name])
            if array.dtype == object:
                raise DDStudyError(f"{path}: array '{name}' has dtype object, which would need pickling")
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_STORED
            with archive.open(info, "w", force_zip64=True) as member:
                np.lib.format.write_array(member, array, allow_pickle=False)
    return sha256_file(path)


def load_npz(path: str | os.PathLike, required: Mapping[str, tuple[str, int]] | None = None) -> dict[str, np.ndarray]:
    """Load every array of an ``.npz`` without unpickling.

    ``required`` maps array name → (dtype, ndim); anything missing or of the wrong type is a one-line error
    naming the file, so a corrupt or foreign file never reaches the training code.
    """
    path = Path(path)
    if not path.is_file():
        raise DDStudyError(f"{path}: file not found; build it first (see `ddstudy data build --help`)")
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {name: archive[name] for name in archive.files}
    except (ValueError, OSError, zipfile.BadZipFile, EOFError, KeyError) as err:
        raise DDStudyError(
            f"{path}: corrupt or not an npz archive ({type(err).__name__}); delete and rebuild it"
        ) from None
    for name, (dtype, ndim) in (required or {}).items():
        if name not in arrays:
            raise DDStudyError(f"{path}: missing array '{name}' (has {sorted(arrays)}); rebuild it")
        array = arrays[name]
        if array.dtype != np.dtype(dtype) or array.ndim != ndim:
            raise DDStudyError(
                f"{path}: array '{name}' is {array.dtype}[{array.ndim}-d], expected {dtype}[{ndim}-d]; rebuild it"
            )
    return arrays


def publish_directory(staging: str | os.PathLike, target: str | os.PathLike) -> None:
    """Move a finished staging folder into place: an old ``target`` (already claimed as ours, see
    :mod:`ddstudy.outputs`) is renamed aside first and removed after, so readers see the old folder or the new one."""
    staging, target = Path(staging), Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    if not target.exists():
        os.replace(staging, target)
        return
    old = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".old", dir=target.parent))
    os.replace(target, old / "previous")
    os.replace(staging, target)
    shutil.rmtree(old, ignore_errors=True)


def prune_stale(folder: str | os.PathLike, pattern: str, keep: list[str | os.PathLike]) -> list[Path]:
    """Delete figures matching ``pattern`` in ``folder`` that are not in ``keep`` (e.g. the figures of a grid that
    is no longer active), so an output folder holds exactly what the current run produced. Only figures ddstudy
    drew are deleted (:func:`ddstudy.outputs.is_ddstudy_figure`); anything else is left where it is, with a warning."""
    keep_set = {Path(p).resolve() for p in keep}
    removed = []
    for path in Path(folder).glob(pattern):
        if path.resolve() in keep_set:
            continue
        if not is_ddstudy_figure(path):
            log.warning("%s: left in place (matches %s but is not a figure ddstudy drew)", path, pattern)
            continue
        path.unlink()
        removed.append(path)
    return removed


def save_tensors(path: Path, tensors: dict, metadata: dict[str, str] | None = None) -> str:
    """Write torch tensors as safetensors atomically; return the file's sha256 (torch imported here: this module
    serves the data stage too, which needs no torch)."""
    from safetensors.torch import save as save_safetensors

    blob = save_safetensors({k: v.detach().cpu().contiguous() for k, v in tensors.items()}, metadata=metadata)
    with atomic_file(path, "wb") as handle:
        handle.write(blob)
    return sha256_file(path)


def load_tensors(path: Path, expected_sha256: str | None = None) -> dict:
    """Tensors of a safetensors file (never unpickles), checked against ``expected_sha256`` when given."""
    from safetensors import SafetensorError
    from safetensors.torch import load as load_safetensors

    if not path.is_file():
        raise DDStudyError(f"{path}: checkpoint not found")
    if expected_sha256 is not None and sha256_file(path) != expected_sha256:
        raise DDStudyError(f"{path}: sha256 differs from its JSON (tampered or corrupt); retrain or re-pull it")
    try:
        return load_safetensors(path.read_bytes())
    except (SafetensorError, ValueError) as err:
        raise DDStudyError(f"{path}: not a readable safetensors file ({err}); retrain or re-pull it") from None


def save_figure(fig, path: str | Path, dpi: int = 110, tight: bool = False) -> Path:
    """Save a matplotlib figure as PNG atomically and close it (matplotlib's PNG output is byte-stable for a given
    figure). The PNG's ``Software`` text says ddstudy: that is how a later run knows the file is its own to replace
    or prune; an existing file at ``path`` that ddstudy did not draw is refused, never overwritten."""
    import matplotlib.pyplot as plt

    path = Path(path)
    if path.exists() and not is_ddstudy_figure(path):
        plt.close(fig)
        raise DDStudyError(f"{path} exists and is not a figure made by ddstudy; choose a new path or remove it")
    with atomic_file(path, "wb") as handle:
        fig.savefig(
            handle, format="png", dpi=dpi, bbox_inches="tight" if tight else None,
            metadata={"Software": FIGURE_SOFTWARE},
        )  # fmt: skip
    plt.close(fig)
    return path


def write_csv(frame, path: str | Path) -> Path:
    """A pandas frame as CSV, atomically (floats to 6 significant digits: stable bytes across runs)."""
    path = Path(path)
    with atomic_file(path, "w") as handle:
        frame.to_csv(handle, index=False, float_format="%.6g")
    return path
