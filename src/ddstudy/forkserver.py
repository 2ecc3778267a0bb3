"""A fork server for the ``ddstudy`` command: import torch once, fork each job.

Why: every job of a local Snakemake run is a fresh ``python -m ddstudy …`` process, and a fresh process pays
~2 CPU-seconds of ``import torch`` (and more for matplotlib/pandas in report jobs) before its first line of work —
about a quarter of the demo's CPU time (docs/performance.md). ``ddstudy serve -- snakemake …`` starts one server
that imports the heavy modules once, then runs the command with ``DDSTUDY_FORKSERVER`` naming the server's socket.
Every ``ddstudy`` started under it is a thin client (standard library only): it hands its argv, working folder,
environment and its stdin/stdout/stderr (as file descriptors, ``SCM_RIGHTS``) to the server, which forks; the
child takes them over and runs :func:`ddstudy.cli.main` exactly as the fresh process would have. The client
forwards SIGINT/SIGTERM/SIGHUP to the child and exits with its exit code.

What stays as it was:
- **the computation**: the server never runs a torch operation (before each fork it checks that no thread started
  since its imports), so each child starts from the state a fresh process has after its imports, gets the BLAS and
  OpenMP thread counts its environment asks for, and sets its own seeds and threads as the CLI always does — the
  same bytes (tests/test_pipeline.py: a killed run under the server against an uninterrupted one without it);
- **a crash**: a client killed outright (``kill -9`` of Snakemake's job group) closes its connection, and the
  child, which watches it, kills itself at once — no orphan keeps writing outputs;
- **without the server** (a cluster node, a variable naming a socket that is gone) the command runs in its own
  process as before.

What differs: the job's CPU time and memory belong to the server's child, so a Snakemake ``benchmark:`` file of a
job run under the server records the client's (tiny) ``cpu_time``/``max_rss``; its wall time is the job's.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Iterator

from ddstudy import lazy, malloc

ENV = "DDSTUDY_FORKSERVER"

# What the server imports once: modules whose import runs no torch operation and starts no Python thread. Their
# only native threads are the BLAS pools numpy, scipy and OpenCV start when loaded (OpenBLAS, which stops them
# before a fork and restarts them in the child: pthread_atfork). Checked before every fork: no Python thread
# besides the main one, no native thread beyond those counted when the imports finished.
PRELOAD = (
    "torch",
    "numpy",
    "safetensors.torch",
    "ddstudy.cli",
    "ddstudy.data.build",
    "ddstudy.zoo.train",
    "ddstudy.distill.registry",
    "ddstudy.distill.run",
    "ddstudy.evaluate.protocol",
    "ddstudy.report.study",
    "ddstudy.models.convnet",  # the networks the model registry imports when it builds one
    "ddstudy.models.resnet",
    "ddstudy.models.small",
    "ddstudy.models.vgg",
    "threadpoolctl",
)

_HEADER = struct.Struct("!I")

# The thread counts native libraries read from the environment once, when loaded — in the server, not in the job.
# The server loads them with none of these set (their defaults: one thread per core); a job whose environment sets
# them (Snakemake sets all of them to the rule's ``threads:``) gets those limits applied at run time
# (threadpoolctl), so numpy/scipy's BLAS and OpenMP run with the threads a fresh process would have had — the
# KDE weights' sums, for one, depend on OpenBLAS's thread count. Precedence as each library reads them.
THREAD_VARIABLES = {
    "openblas": ("OPENBLAS_NUM_THREADS", "GOTO_NUM_THREADS", "OMP_NUM_THREADS"),
    "mkl": ("MKL_NUM_THREADS", "OMP_NUM_THREADS"),
    "blis": ("BLIS_NUM_THREADS", "OMP_NUM_THREADS"),
    "openmp": ("OMP_NUM_THREADS",),
}


def _send_message(conn: socket.socket, message: dict, fds: list[int] | None = None) -> None:
    data = json.dumps(message).encode()
    payload = _HEADER.pack(len(data)) + data
    if fds:
        socket.send_fds(conn, [payload], fds)
    else:
        conn.sendall(payload)


def _recv_exact(conn: socket.socket, size: int) -> bytes:
    chunks = b""
    while len(chunks) < size:
        chunk = conn.recv(size - len(chunks))
        if not chunk:
            raise EOFError
        chunks += chunk
    return chunks


def _recv_message(conn: socket.socket, max_fds: int = 0) -> tuple[dict, list[int]]:
    fds: list[int] = []
    if max_fds:
        head, fds, _flags, _addr = socket.recv_fds(conn, _HEADER.size, max_fds)
        if not head:
            raise EOFError
        head += _recv_exact(conn, _HEADER.size - len(head))
    else:
        head = _recv_exact(conn, _HEADER.size)
    (size,) = _HEADER.unpack(head)
    return json.loads(_recv_exact(conn, size)), fds


# --- the client -------------------------------------------------------------------------------------------------


def run_via_server(argv: list[str], address: str | None = None) -> int | None:
    """Run ``ddstudy argv`` in a child of the server at ``address`` (default: ``$DDSTUDY_FORKSERVER``).

    Returns the job's exit code, or None when there is no server to reach (the caller then runs it itself)."""
    address = address or os.environ.get(ENV)
    if not address:
        return None
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        conn.connect(address)
        request = {"argv": argv, "cwd": os.getcwd(), "env": dict(os.environ)}
        _send_message(conn, request, [0, 1, 2])
        started, _ = _recv_message(conn)
    except (OSError, EOFError):
        conn.close()
        return None
    child = int(started["pid"])
    forwarded: list[int] = []

    def forward(signum: int, _frame: object) -> None:
        forwarded.append(signum)
        with contextlib.suppress(ProcessLookupError):
            os.kill(child, signum)

    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, forward)
    try:
        finished, _ = _recv_message(conn)
        return int(finished["rc"])
    except (OSError, EOFError):  # the child died without reporting: killed by a signal
        if forwarded:
            return 128 + forwarded[-1]
        print("ddstudy: error: the job ended without an exit status (killed?)", file=sys.stderr)
        return 1
    finally:
        conn.close()


# --- the server -------------------------------------------------------------------------------------------------


def _native_threads() -> int:
    try:
        return len(os.listdir("/proc/self/task"))
    except OSError:  # not Linux: Python's own count is all there is
        return threading.active_count()


def apply_thread_limits(environment: dict[str, str]) -> dict[str, int]:
    """Limit the loaded BLAS/OpenMP libraries to the thread counts ``environment`` asks for (see
    ``THREAD_VARIABLES``); returns what was applied per library API."""
    from threadpoolctl import ThreadpoolController

    controller, applied = ThreadpoolController(), {}
    for api, names in THREAD_VARIABLES.items():
        value = next((int(environment[name]) for name in names if environment.get(name, "").strip().isdigit()), 0)
        libraries = controller.select(internal_api=api)
        if value > 0 and libraries.lib_controllers:
            libraries.limit(limits=value)
            applied[api] = value
    return applied


def _run_child(conn: socket.socket, request: dict, fds: list[int]) -> None:
    """In the forked child: become the job's process, run the CLI, report the exit code, exit."""
    for target, fd in enumerate(fds[:3]):
        os.dup2(fd, target)
    for fd in fds:
        if fd > 2:
            os.close(fd)
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    apply_thread_limits(request["env"])
    sys.argv = ["ddstudy", *request["argv"]]
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)

    def watch() -> None:  # the client gone (killed outright): end the job as a killed process would end
        try:
            while conn.recv(1):
                pass
        except OSError:
            pass
        os.kill(os.getpid(), signal.SIGKILL)

    threading.Thread(target=watch, daemon=True, name="ddstudy-client-watch").start()
    from ddstudy.cli import main

    try:
        code = main(request["argv"])
    except SystemExit as stop:
        code = stop.code if isinstance(stop.code, int) else (0 if stop.code is None else 1)
    except BaseException:  # as the interpreter would: the traceback on stderr, status 1
        traceback.print_exc()
        code = 1
    try:
        import atexit

        atexit._run_exitfuncs()
        sys.stdout.flush()
        sys.stderr.flush()
    finally:
        try:
            _send_message(conn, {"rc": code})
        finally:
            os._exit(code)


def serve(address: str, preload: tuple[str, ...] = PRELOAD, ready: int | None = None) -> None:
    """Import ``preload``, listen on ``address`` and fork a child per request until SIGTERM."""
    for name in preload:
        importlib.import_module(name)
    lazy.load_all()  # what the modules defer to first use (torch.nn, SciPy, OpenCV, …): loaded once, here
    native_threads = _native_threads()
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(address)
    os.chmod(address, 0o600)
    listener.listen(64)
    listener.settimeout(0.5)
    stopping: list[int] = []
    signal.signal(signal.SIGTERM, lambda signum, _frame: stopping.append(signum))
    if ready is not None:
        os.write(ready, b"ready\n")
        os.close(ready)
    parent = os.getppid()
    while not stopping and os.getppid() == parent:  # ``ddstudy serve`` gone (even by kill -9): stop too
        try:
            while os.waitpid(-1, os.WNOHANG)[0]:
                pass
        except ChildProcessError:
            pass
        try:
            conn, _ = listener.accept()
        except TimeoutError:
            continue
        except OSError:
            if stopping:
                break
            raise
        conn.settimeout(None)
        try:
            request, fds = _recv_message(conn, max_fds=3)
        except (OSError, EOFError, ValueError):
            conn.close()
            continue
        if threading.active_count() != 1 or _native_threads() > native_threads:  # a fork could deadlock the child
            print("ddstudy serve: a thread started in the server; running jobs in their own processes", file=sys.stderr)
            for fd in fds:
                os.close(fd)
            conn.close()
            continue
        pid = os.fork()
        if pid == 0:
            listener.close()
            try:
                _run_child(conn, request, fds)
            finally:
                os._exit(1)
        for fd in fds:
            os.close(fd)
        with contextlib.suppress(OSError):
            _send_message(conn, {"pid": pid})
        conn.close()
    listener.close()


@contextlib.contextmanager
def running_server(preload: tuple[str, ...] = PRELOAD) -> Iterator[str | None]:
    """A server in its own process for the duration of the block: yields its socket's path (None if it failed to
    start — the jobs then run in their own processes), stops it and removes the socket afterwards."""
    folder = tempfile.mkdtemp(prefix="ddstudy-serve-")
    address = os.path.join(folder, "socket")
    read_end, write_end = os.pipe()
    unset = {name for names in THREAD_VARIABLES.values() for name in names}
    server = subprocess.Popen(
        [sys.executable, "-m", "ddstudy.forkserver", address, str(write_end), *preload],
        pass_fds=[write_end],
        stdin=subprocess.DEVNULL,
        # libraries at their defaults; glibc's allocator tuned (ddstudy.malloc): the jobs fork from this process
        env=malloc.tuned_environ({key: value for key, value in os.environ.items() if key not in unset}),
    )
    os.close(write_end)
    with os.fdopen(read_end) as ready:
        started = ready.readline().strip() == "ready"
    try:
        yield address if started else None
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        if os.path.exists(address):
            os.unlink(address)
        os.rmdir(folder)


def _reachable(address: str | None) -> bool:
    if not address:
        return False
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        try:
            probe.connect(address)
        except OSError:
            return False
    return True


def run_with_server(command: list[str], preload: tuple[str, ...] = PRELOAD) -> int:
    """``ddstudy serve -- command``: start a server, run ``command`` with ``$DDSTUDY_FORKSERVER`` set, stop it.
    Under a server already (``dvc repro``'s stages inside ``make``, the tests), ``command`` uses that one."""
    started = time.perf_counter()
    with contextlib.ExitStack() as stack:
        address = os.environ.get(ENV)
        if not _reachable(address):
            address = stack.enter_context(running_server(preload))
            if address is not None:
                print(f"ddstudy serve: server ready in {time.perf_counter() - started:.1f} s", file=sys.stderr)
        if address is None:
            print("ddstudy serve: the server did not start; the jobs run in their own processes", file=sys.stderr)
            environment = dict(os.environ)
        else:
            environment = {**os.environ, ENV: address}
        try:
            return subprocess.call(command, env=environment)
        except FileNotFoundError:
            print(f"ddstudy serve: command not found: {command[0]}", file=sys.stderr)
            return 127
        except KeyboardInterrupt:
            return 130


if __name__ == "__main__":  # python -m ddstudy.forkserver ADDRESS READY_FD [MODULE ...]
    serve(sys.argv[1], tuple(sys.argv[3:]), ready=int(sys.argv[2]))
