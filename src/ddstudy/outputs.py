"""Output ownership: a command writes only where it may, replaces only what ddstudy made, one writer at a time.

Every command that writes an artifact claims its output first (:func:`claim_output`), before any expensive work:

1. **Where** (:func:`check_output`, creates nothing): never the current folder, a repository root, the home folder,
   an input of the same command, a folder that holds an input or lies inside one, nor a parent of any of these; a
   name short enough for the staging names derived from it (``.<name>.partial``, ``.<name>.<random>.tmp``) to fit
   the file system's limit; a folder that exists (or can be created) and is writable.
2. **What**: an existing output is replaced only when it is an artifact of the same kind made by ddstudy,
   recognised from its own metadata (:class:`ArtifactKind`); anything else is refused in one line.
3. **Who**: an OS file lock (``fcntl.flock`` on ``.<name>.lock`` beside the output, released by the kernel when the
   process ends, however it ends) makes a second concurrent run on the same output refuse at once, naming the
   process that holds it; the lock file of a dead process never blocks a rerun.

Folders the claim had to create are removed again (when still empty) if the command fails, so a refusal found
later (a bad KDE weights file, a dataset without attributes) leaves nothing behind either.
"""

from __future__ import annotations

import contextlib
import datetime
import errno
import fcntl
import json
import os
import socket
import tempfile
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from ddstudy.errors import DDStudyError

# The longest name we derive from an output's name: atomic writes use ".<name>.<8 random>.tmp" / ".old" (+14),
# staging folders ".<name>.partial" (+9), the lock ".<name>.lock" (+6). Checked up front, so a long name fails
# before the data loads, not at the first checkpoint.
DERIVED_NAME_MARGIN = 16
FIGURE_SOFTWARE = "ddstudy"  # the PNG "Software" text of every figure ddstudy draws: how it knows its own figures


@dataclass(frozen=True)
class ArtifactKind:
    """A kind of artifact a command writes: its name in messages, file or folder, and how to recognise one that
    ddstudy made (from the artifact's own metadata, never from its path)."""

    name: str
    folder: bool
    recognise: Callable[[Path], bool]
    # Subfolders its writer never touches: an input may lie there (a grid's own results folder keeps its synthetic
    # sets and evaluation records beside the report that reads them).
    keeps: tuple[str, ...] = ()

    def made(self, path: Path) -> bool:
        """Whether ``path`` is such an artifact, made by ddstudy (never through a symbolic link)."""
        if path.is_symlink() or path.is_dir() != self.folder:
            return False
        try:
            return bool(self.recognise(path))
        except (OSError, ValueError, UnicodeDecodeError):
            return False

    def replaceable(self, path: Path) -> bool:
        """Whether an output may replace what is at ``path``: such an artifact, or for a folder kind an empty
        folder (nothing there to lose)."""
        if self.folder and path.is_dir() and not path.is_symlink() and not any(path.iterdir()):
            return True
        return self.made(path)


def json_object(path: Path) -> dict | None:
    """The JSON object in ``path``, None where there is none (missing, unreadable, not JSON, not an object): the
    lenient read for files that may be absent or written by something else — a recogniser's probe, a resume state
    another job may be replacing. Artifacts a command depends on are read with :func:`ddstudy.io.read_json`, which
    refuses in one line instead."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError, UnicodeDecodeError):
        return None
    return data if isinstance(data, dict) else None


def json_with_keys(*keys: str, inside: str | None = None) -> Callable[[Path], bool]:
    """A recogniser: the JSON object at the path (or at ``path/inside`` for a folder) has every one of ``keys``."""

    def recognise(path: Path) -> bool:
        data = json_object(path / inside if inside else path)
        return data is not None and all(key in data for key in keys)

    return recognise


def png_text(path: Path) -> dict[str, str]:
    """The ``tEXt`` chunks of a PNG file (empty for anything that is not a PNG)."""
    texts: dict[str, str] = {}
    with open(path, "rb") as handle:
        if handle.read(8) != b"\x89PNG\r\n\x1a\n":
            return texts
        while header := handle.read(8):
            if len(header) < 8:
                break
            length, kind = int.from_bytes(header[:4], "big"), header[4:]
            if kind == b"IDAT" or kind == b"IEND":
                break  # matplotlib writes its text chunks before the image data
            body = handle.read(length)
            handle.seek(4, os.SEEK_CUR)  # CRC
            if kind == b"tEXt" and b"\0" in body:
                key, value = body.split(b"\0", 1)
                texts[key.decode("latin-1")] = value.decode("latin-1")
    return texts


def is_ddstudy_figure(path: Path) -> bool:
    """A PNG that ddstudy drew (its ``Software`` text, see :data:`FIGURE_SOFTWARE`)."""
    return path.is_file() and png_text(path).get("Software") == FIGURE_SOFTWARE


def csv_starting_with(*columns: str) -> Callable[[Path], bool]:
    """A recogniser: a CSV whose header row begins with ``columns`` (a ddstudy table's leading columns); with no
    columns (a table with nothing in it), only an empty file."""

    def recognise(path: Path) -> bool:
        with open(path, encoding="utf-8") as handle:
            first = handle.readline().rstrip("\r\n")
        if not columns:
            return first == ""
        return first.split(",")[: len(columns)] == list(columns)

    return recognise


def table_kind(name: str, columns) -> ArtifactKind:
    """A CSV table ddstudy writes, recognised by its first four columns (the table about to be written)."""
    return ArtifactKind(f"{name} table", False, csv_starting_with(*list(columns)[:4]))


def _only_pngs(folder: Path) -> bool:
    """A folder of figures: nothing in it but PNG files (and folders of them). Which of them may be overwritten or
    pruned is decided file by file (:func:`is_ddstudy_figure`, in ``io.save_figure`` and ``io.prune_stale``)."""
    for entry in folder.rglob("*"):
        if entry.name.startswith(".") or entry.is_dir():
            continue
        with open(entry, "rb") as handle:
            if handle.read(8) != b"\x89PNG\r\n\x1a\n":
                return False
    return True


FIGURE = ArtifactKind("figure", False, is_ddstudy_figure)
FIGURE_FOLDER = ArtifactKind("figure folder", True, _only_pngs)


def _contains(outer: Path, inner: Path) -> bool:
    return outer == inner or outer in inner.parents


def _repository_roots(start: Path) -> list[Path]:
    return [folder for folder in (start, *start.parents) if (folder / ".git").exists()]


def _nearest_existing(path: Path) -> Path:
    for folder in (path, *path.parents):
        if folder.exists() or folder.is_symlink():
            return folder
    return Path("/")


def _forbidden(path: Path, inputs: Mapping[str, Path], keeps: tuple[str, ...] = ()) -> str | None:
    """Why ``path`` (resolved) may not be an output, or None."""
    cwd = Path.cwd().resolve()
    if path == cwd:
        return "is the current folder"
    if path in cwd.parents:
        return "contains the current folder"
    for root in _repository_roots(cwd):
        if _contains(path, root):
            return f"is or contains the repository {root}"
    if (path / ".git").exists():
        return "is a repository root"
    home = Path.home().resolve()
    if _contains(path, home):
        return "is or contains your home folder"
    for flag, given in inputs.items():
        source = given.resolve()
        if path == source:
            return f"is the {flag} this command reads"
        if path in source.parents and source.relative_to(path).parts[0] not in keeps:
            return f"contains the {flag} this command reads ({given})"
        if source in path.parents and source.is_dir():
            return f"lies inside the {flag} this command reads ({given})"
    return None


def check_output(
    out: str | os.PathLike, kind: ArtifactKind, inputs: Mapping[str, str | os.PathLike | None] | None = None,
    flag: str = "--out",
) -> Path:  # fmt: skip
    """Validate an output path before any work (creating nothing); returns it as given (a :class:`Path`).

    ``inputs`` maps a flag (``--dataset-dir``) to the path this command reads there; missing or None entries are
    skipped. Raises one line naming the problem and what to do."""
    text = os.fspath(out)
    if not text.strip():
        raise DDStudyError(f"{flag} is empty; give a path for the {kind.name}")
    path = Path(text)
    try:
        resolved = path.resolve()
    except (RuntimeError, OSError) as err:  # a symlink loop (RuntimeError before Python 3.13, OSError after)
        raise DDStudyError(f"{flag} {path}: cannot be resolved ({err}); choose a path without a symlink loop") from None
    _check_name_lengths(path, resolved, flag)  # first: a name over the limit fails every later look at the path
    given = {k: Path(v) for k, v in (inputs or {}).items() if v is not None and Path(v).exists()}
    why = _forbidden(resolved, given, kind.keeps)
    if why:
        raise DDStudyError(f"{flag} {path}: {why}; choose a new path for the {kind.name}")
    if path.exists() or path.is_symlink():
        _check_ours(path, kind, flag)
    anchor = _nearest_existing(resolved.parent)
    if not anchor.is_dir():
        raise DDStudyError(f"{flag} {path}: {anchor} is a file, not a folder; choose another path")
    try:  # permission bits do not tell root about read-only mounts or /proc: probe, leaving nothing behind
        fd, probe = tempfile.mkstemp(prefix=".write-probe.", dir=anchor)
        os.close(fd)
        os.unlink(probe)
    except OSError as err:
        raise DDStudyError(
            f"{flag} {path}: cannot write there ({err.strerror} in {anchor}); choose a writable location"
        ) from None
    return path


def _check_name_lengths(path: Path, resolved: Path, flag: str) -> None:
    anchor = _nearest_existing(resolved.parent)
    try:
        name_max = os.pathconf(anchor if anchor.is_dir() else anchor.parent, "PC_NAME_MAX")
        path_max = os.pathconf(anchor if anchor.is_dir() else anchor.parent, "PC_PATH_MAX")
    except (OSError, ValueError):
        name_max, path_max = 255, 4096
    to_create = [p.name for p in (resolved, *resolved.parents) if not _contains(p, anchor)]
    for name in to_create:
        size = len(os.fsencode(name))
        limit = name_max - (DERIVED_NAME_MARGIN if name == resolved.name else 0)
        if size > limit:
            raise DDStudyError(
                f"{flag}: the name '{name[:40]}…' is {size} bytes, over the {limit} this file system allows here "
                f"(its limit {name_max}, less {DERIVED_NAME_MARGIN} for the staging names); choose a shorter name"
            )
    if len(os.fsencode(str(resolved))) + DERIVED_NAME_MARGIN > path_max:
        raise DDStudyError(f"{flag} {path}: the path is too long for this file system; choose a shorter one")


def _check_ours(path: Path, kind: ArtifactKind, flag: str) -> None:
    if not path.is_symlink() and path.is_dir() != kind.folder:
        found, wanted = ("a folder", "file") if path.is_dir() else ("a file", "folder")
        raise DDStudyError(f"{flag} {path}: is {found}, not a {wanted} ({kind.name}); choose another path")
    if not kind.replaceable(path):
        raise DDStudyError(
            f"{flag} {path} exists and is not a {kind.name} made by ddstudy; choose a new path or remove it"
        )


@contextlib.contextmanager
def _created_parents(folder: Path) -> Iterator[None]:
    """``mkdir -p folder``; on failure of the block, remove again what this created (if still empty)."""
    created = [p for p in (folder, *folder.parents) if not (p.exists() or p.is_symlink())]
    folder.mkdir(parents=True, exist_ok=True)
    try:
        yield
    except BaseException:
        for made in created:  # innermost first
            with contextlib.suppress(OSError):
                made.rmdir()
        raise


def lock_path(path: Path) -> Path:
    return path.parent / f".{path.name}.lock"


@contextlib.contextmanager
def exclusive(path: Path, flag: str = "--out") -> Iterator[None]:
    """Hold the OS lock of output ``path`` for the block; refuse at once when another process holds it."""
    target = lock_path(path)
    while True:
        fd = os.open(target, os.O_RDWR | os.O_CREAT, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as err:
            holder = os.pread(fd, 200, 0).decode(errors="replace").strip() or "another process"
            os.close(fd)
            if err.errno not in (errno.EAGAIN, errno.EACCES):
                raise DDStudyError(f"{flag} {path}: cannot lock {target} ({err.strerror})") from None
            raise DDStudyError(
                f"{flag} {path} is being written by another ddstudy run ({holder}); wait for it to end or choose "
                "another path"
            ) from None
        try:  # the holder before us unlinks the file as it finishes: make sure we locked the one at the path
            current = os.stat(target).st_ino
        except FileNotFoundError:
            current = None
        if current == os.fstat(fd).st_ino:
            break
        os.close(fd)
    started = datetime.datetime.now().isoformat(timespec="seconds")
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"pid {os.getpid()} on {socket.gethostname()}, since {started}\n".encode(), 0)
    try:
        yield
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(target)
        os.close(fd)


@contextlib.contextmanager
def claim_output(
    out: str | os.PathLike, kind: ArtifactKind, inputs: Mapping[str, str | os.PathLike | None] | None = None,
    flag: str = "--out",
) -> Iterator[Path]:  # fmt: skip
    """Validate ``out`` (:func:`check_output`), create its parents, hold its lock, re-check under the lock that
    what is there now is still ours, and yield the path. On failure the parents it created are removed again."""
    path = check_output(out, kind, inputs, flag)
    with _created_parents(path.parent), exclusive(path, flag):
        if path.exists() or path.is_symlink():  # another run may have published it meanwhile
            _check_ours(path, kind, flag)
        yield path


@contextlib.contextmanager
def claim_outputs(claims: list[tuple[str | os.PathLike, ArtifactKind]], inputs=None, flag: str = "--out"):
    """:func:`claim_output` for several outputs of one command (every one validated before any is locked)."""
    for out, kind in claims:
        check_output(out, kind, inputs, flag)
    with contextlib.ExitStack() as stack:
        yield [stack.enter_context(claim_output(out, kind, inputs, flag)) for out, kind in claims]
