"""How networks run — compiled or eager, fp32 or bf16 — without changing what they compute.

Every stage that trains or scores a network (zoo, distillation, evaluation) takes an :class:`Accel`. Its default,
``Accel()``, is the straightforward path: eager PyTorch in fp32, the computation of the reference code, kept as the
oracle that ``ddstudy bench`` times every fast path against and that the equivalence tests compare with.

* ``compile``: ``torch.compile`` (Inductor) on the network. It pays on the CPU too, because it fuses the first
  block's memory-bound GroupNorm/ReLU/AvgPool (see docs/performance.md). With torch ≥ 2.5 module parameters are
  graph *inputs*, so the fresh network drawn in every distillation iteration reuses the compiled graph (no
  recompile; ``ddstudy bench`` prints the count). Compiled kernels are kept on disk (:func:`compile_cache_dir`),
  so a later job pays seconds, not the first compile. Only first-order graphs are compiled: the synthetic side of
  gradient matching needs ``create_graph=True`` (a double backward Inductor does not compile) and stays eager.
* ``vectorize``: the N networks of one evaluation trained as one stacked network (:mod:`ddstudy.stacked`); a GPU
  lever, slower on a 2-core CPU.
* ``precision``: ``bf16`` runs forwards under ``torch.autocast`` (normalisation, softmax and losses stay fp32, as
  autocast keeps them); parameters, gradients and optimiser state stay fp32. Not the reference computation:
  results agree with fp32 to the tolerance given in docs/performance.md, not bit for bit.

When compiling is impossible here (no C++ compiler, no Triton on a GPU node), :meth:`Accel.resolved` says so in one
log line and falls back to eager.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from ddstudy.device import exact_fp32
from ddstudy.errors import DDStudyError
from ddstudy.knobs import knob
from ddstudy.lazy import lazy

torch = lazy("torch")
nn = lazy("torch.nn")

log = logging.getLogger(__name__)

PRECISIONS = ("fp32", "bf16")
COMPILE_CACHE_ENV = "DDSTUDY_COMPILE_CACHE"
RECOMPILE_LIMIT = 64
# functorch settings every compiled graph of ddstudy is made under. A debias mode takes several real gradients from
# one forward (retain_graph: FairDD's per-group terms, COBRA's group mean, the weighted terms); a backward compiled
# with donated buffers (torch's default, a memory saving only) refuses that, or — served from the on-disk cache,
# whose key does not cover these settings — overwrites the saved activations the next gradient reads and returns
# wrong gradients without a word. Their values name the cache's folder (compile_cache_dir), so kernels compiled
# under other settings, by an older ddstudy or another torch program, are never served to these.
FUNCTORCH_SETTINGS = {"donated_buffer": False}


@dataclass(frozen=True)
class Accel:
    """Execution settings of a job; recorded in every artifact's meta (they can change the last bits)."""

    compile: bool = knob(False, "torch.compile the networks (false: eager, the oracle)")
    precision: str = knob("fp32", "bf16: autocast forwards, fp32 parameters", PRECISIONS)
    vectorize: bool = knob(False, "train the N evaluation networks (and a zoo block's inits) together (vmap; GPUs)")

    def __post_init__(self) -> None:
        if self.precision not in PRECISIONS:
            raise DDStudyError(f"unknown precision '{self.precision}'; choose one of: {', '.join(PRECISIONS)}")

    @property
    def oracle(self) -> bool:
        return not self.compile and self.precision == "fp32" and not self.vectorize

    def resolved(self, device: torch.device) -> Accel:
        """These settings as they can run on ``device`` (compile off, with one log line, where it cannot work); on
        CUDA, fp32 computes in fp32 from here on (:func:`ddstudy.device.exact_fp32`)."""
        exact_fp32(device)
        chosen = self
        if self.compile and not compile_available(device):
            log.warning("torch.compile is not available on %s here; running eager", device.type)
            chosen = replace(self, compile=False)
        log.info("networks run %s on %s%s", chosen.describe(), device, " (the oracle path)" if chosen.oracle else "")
        if chosen.compile:
            log.info("compiled kernels are cached in %s (delete it to recompile)", compile_cache_dir())
        return chosen

    def autocast(self, device: torch.device):
        """The precision context for forwards (a no-op in fp32)."""
        if self.precision == "bf16":
            return torch.autocast(device.type, dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def net(self, module: nn.Module) -> nn.Module:
        """A callable view of ``module`` sharing its parameters: compiled when ``compile`` is on.

        ``.embed`` of the view is compiled too (``torch.compile`` wraps ``forward`` only)."""
        if not self.compile:
            return module
        prepare_compile()
        return _compiled_view()(module)

    def describe(self) -> str:
        return f"{'compiled' if self.compile else 'eager'} {self.precision}" + (" vectorised" if self.vectorize else "")

    def to_dict(self) -> dict:
        return asdict(self)


ORACLE = Accel()  # the straightforward path: eager fp32, the reference computation


@functools.cache
def _compiled_view() -> type:
    """The wrapper class, defined on first use: a class body subclassing ``nn.Module`` would import torch with
    this module (``ddstudy.lazy``)."""

    class CompiledView(nn.Module):
        """``forward`` and ``embed`` of a module, each through ``torch.compile`` (parameters shared, not copied)."""

        def __init__(self, module: nn.Module):
            super().__init__()
            self.module = module
            self._forward = torch.compile(module.forward)
            self._embed = torch.compile(module.embed) if hasattr(module, "embed") else None
            self.train(module.training)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self._forward(x)

        def embed(self, x: torch.Tensor) -> torch.Tensor:
            if self._embed is None:
                raise DDStudyError(f"{type(self.module).__name__} has no embed()")
            return self._embed(x)

    return CompiledView


def prepare_compile() -> Path:
    """The settings every compile of ddstudy runs under, set before it compiles; returns the kernel cache folder.

    One graph per (train/eval mode, input shape, precision, grad mode) of a forward: a job meets a handful, a process
    running every bench case dozens — past Dynamo's default of 8 recompiles it would silently run eager, hence
    :data:`RECOMPILE_LIMIT`. :data:`FUNCTORCH_SETTINGS`: see there."""
    torch._dynamo.config.recompile_limit = max(torch._dynamo.config.recompile_limit, RECOMPILE_LIMIT)
    for name, value in FUNCTORCH_SETTINGS.items():
        setattr(torch._functorch.config, name, value)
    return compile_cache_dir()


def compile_cache_dir() -> Path:
    """Where Inductor keeps compiled kernels across processes: a folder named by :data:`FUNCTORCH_SETTINGS` inside
    ``$DDSTUDY_COMPILE_CACHE``, else the user's ``$TORCHINDUCTOR_CACHE_DIR``, else ``~/.cache/ddstudy/torch-compile``.

    Inductor's own default (``/tmp/torchinductor_<user>``) is not a user's choice: importing torch._dynamo (which
    importing torchvision does) writes it into the environment, and a folder shared with every torch program is
    where kernels compiled under other settings wait. Safe to delete at any time (the next job compiles again)."""
    from torch._inductor.runtime.cache_dir_utils import default_cache_dir

    folder = "functorch-" + "-".join(f"{name}={value}" for name, value in sorted(FUNCTORCH_SETTINGS.items()))
    chosen = os.environ.get(COMPILE_CACHE_ENV)
    users = os.environ.get("TORCHINDUCTOR_CACHE_DIR")
    if users and Path(users).name == folder:  # set here by an earlier call
        users = str(Path(users).parent)
    if not chosen and users and os.path.abspath(users) != os.path.abspath(default_cache_dir()):
        chosen = users
    base = Path(chosen) if chosen else Path.home() / ".cache" / "ddstudy" / "torch-compile"
    path = base / folder
    os.environ["TORCHINDUCTOR_CACHE_DIR"] = str(path)
    return path


_AVAILABLE: dict[str, bool] = {}


def compile_available(device: torch.device) -> bool:
    """Whether ``torch.compile`` works on this device here (tried once per process on a tiny function)."""
    if device.type not in _AVAILABLE:
        prepare_compile()
        try:
            probe = torch.compile(lambda x: torch.relu(x) * 2, dynamic=False)
            _AVAILABLE[device.type] = bool(probe(torch.ones(4, device=device)).sum() == 8)
        except Exception as err:  # noqa: BLE001 — any failure means: run eager
            log.info("torch.compile probe failed on %s: %s", device.type, str(err).splitlines()[0] if str(err) else err)
            _AVAILABLE[device.type] = False
    return _AVAILABLE[device.type]


def compiled_graphs() -> int:
    """Graphs Dynamo has compiled in this process so far (a recompile adds one)."""
    from torch._dynamo.utils import counters

    return int(counters["stats"]["unique_graphs"])
