"""``ddstudy bench``: every network hot path, its fast path timed against the oracle in the same process.

The oracle is today's straightforward path (:data:`ddstudy.accel.ORACLE`: eager fp32, classes one after another,
networks one at a time) — the computation the equivalence tests hold the fast paths to. Each case prepares its
workload once on real Fashion-MNIST (the reference timing config: ConvNet-128, batch_real 256, 1×28×28), then for
the oracle and each fast path: one warm-up call (compiling happens there; its excess over a steady call is printed
as ``compile_s``), then ``repeats`` timed calls, whose median is the figure. Beside it: the ratio to the oracle,
counted FLOPs per second (``torch.utils.flop_counter`` on the oracle's warm-up call) and the share of the machine's
peak (case ``peak``: a 2048² matmul in fp32 and bf16), CPU-seconds per wall-second (shared machines: a figure at
cpu/wall well below the thread count was disturbed), the process's peak RSS so far, and graphs compiled during the
timed calls (a recompile per fresh network would show here).

Cases (one timed unit each):
  peak   one 2048×2048 matmul, fp32 and bf16 (GFLOP/s of this machine)
  dm     one DM iteration, IPC 10 (fresh network, 10 × 256 real images, DSA)
  dc     one DC iteration, IPC 1 (outer 1: 10 classes of real and synthetic gradients)
  dsa    one DSA iteration, IPC 1
  dc10   DC at IPC 10, one outer step with its 50-epoch inner loop (outer_loop 2: two matching steps, one inner loop)
  idc    one IDC outer iteration, IPC 1, factor 2: 2 matching steps (10 classes of decoded synthetic and real
         gradients each, a network update on 256 real images after each) — the reference has 100 such steps
  eval   one epoch of the 20 evaluation networks on an IPC-10 set with DSA augmentation (all 20 networks)
On CUDA (or with --stacked) the GPU levers are timed alone too: dm/dc/dsa/dc10 with the classes batched into one pass
(path ``batched-*``, eager), eval with the 20 networks stacked into one vmapped network (``stacked-*``) and zoo with
10 inits stacked (seconds per network-step).
  score  test-set accuracy of one network on the 10,000 test images
  zoo    one SGD step of PTM training, batch 256 (images/s = 256 / seconds)
  clom   DM iteration with CLoM (ce, pool ConvNet, AlexNet, VGG11, ResNet18) minus the DM iteration without
"""

from __future__ import annotations

import copy
import itertools
import json
import resource
import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import torch
import torch.nn.functional as F

from ddstudy.accel import ORACLE, Accel, compiled_graphs
from ddstudy.augment import DEFAULT_STRATEGY, diff_augment
from ddstudy.data.sources import SourceOptions, load_source
from ddstudy.data.tensors import Normalization, TensorSplit
from ddstudy.device import resolve_device
from ddstudy.distill.clom import Clom, ClomConfig, LoadedPTM
from ddstudy.distill.dc import GradientMatching
from ddstudy.distill.dm import DistributionMatching
from ddstudy.distill.loop import new_context
from ddstudy.distill.real import RealPool
from ddstudy.distill.registry import method_config, method_spec
from ddstudy.engine import Trainer
from ddstudy.errors import DDStudyError
from ddstudy.metrics import accuracy_report
from ddstudy.models import build_model, check_model_name
from ddstudy.seeding import generator
from ddstudy.sgd import Sgd

CASES = (
    "peak",
    "dm",
    "dc",
    "dsa",
    "dc10",
    "idc",
    "eval",
    "score",
    "zoo",
    "clom",
    "malloc",
    "dccobra",
    "dcfairdd",
    "dmcobra",
)
# Timed only when asked for: dccobra's and dcfairdd's oracles (the reference's G backward passes per class) take a
# minute per call; dmcobra (DM with COBRA's warm-up) is there to set beside the default dm case.
ON_REQUEST = ("dccobra", "dcfairdd", "dmcobra")
DEFAULT_CASES = tuple(case for case in CASES if case not in ON_REQUEST)
# Cases whose fast paths reach the oracle's result with less work (dccobra: one backward of the mean group loss
# instead of one per group; dcfairdd: each group's own forward and backward instead of G backwards through the whole
# batch), so the oracle's FLOP count is not theirs: no GFLOP/s or % of peak on those paths.
OTHER_WORK = ("dccobra", "dcfairdd")
BENCH_GROUPS = 10  # attribute values of the grouped cases' seeded groups (C-FMNIST's colours)
CLOM_POOL = ("ConvNet", "AlexNet", "VGG11", "ResNet18")


@dataclass(frozen=True)
class BenchSettings:
    """What ``ddstudy bench`` measures; defaults are the reference timing configuration."""

    cases: tuple[str, ...] = field(
        default=DEFAULT_CASES, metadata={"help": f"comma-separated cases (on request: {', '.join(ON_REQUEST)})"}
    )
    precisions: tuple[str, ...] = field(default=("fp32", "bf16"), metadata={"help": "fast paths to time"})
    threads: int = field(default=2, metadata={"help": "torch CPU threads"})
    device: str = field(default="auto", metadata={"help": "auto | cpu | cuda[:N]"})
    width: int = field(default=128, metadata={"help": "ConvNet width (128 = ConvNet)"})
    channels: int = field(default=1, metadata={"help": "image channels (grey Fashion-MNIST repeated)"})
    size: int = field(default=28, metadata={"help": "image size (Fashion-MNIST resized)"})
    repeats: int = field(default=5, metadata={"help": "timed calls per path (median)"})
    num_eval: int = field(default=20, metadata={"help": "networks of the eval case"})
    zoo_inits: int = field(default=10, metadata={"help": "inits trained together in the zoo case's stacked path"})
    stacked: bool = field(
        default=False, metadata={"help": "also time the GPU levers (classes batched, stacked eval; always on CUDA)"}
    )

    def __post_init__(self) -> None:
        unknown = [c for c in self.cases if c not in CASES]
        if unknown:
            raise DDStudyError(f"unknown bench case '{unknown[0]}'; choose from: {', '.join(CASES)}")
        for precision in self.precisions:
            Accel(precision=precision)
        if min(self.repeats, self.threads, self.num_eval, self.zoo_inits) < 1:
            raise DDStudyError("--repeats, --threads, --num-eval and --zoo-inits must be ≥ 1")

    @property
    def model(self) -> str:
        name = "ConvNet" if self.width == 128 else f"ConvNetW{self.width}"
        check_model_name(name)
        return name


@dataclass
class Workload:
    """Real Fashion-MNIST in the benchmark's shape, normalised, on the device."""

    pool: RealPool
    test: TensorSplit
    shape: tuple[int, int, int]
    device: torch.device
    model: str

    @staticmethod
    def load(settings: BenchSettings, device: torch.device, fashion_mnist_dir: str | None) -> Workload:
        options = SourceOptions(fashion_mnist_dir=Path(fashion_mnist_dir) if fashion_mnist_dir else None)
        source = load_source("fashion-mnist", options)

        def shaped(images) -> torch.Tensor:
            x = torch.from_numpy(images).repeat(1, settings.channels, 1, 1)
            if settings.size != x.shape[-1]:
                x = F.interpolate(x.float(), size=settings.size, mode="bilinear").round().clamp(0, 255).byte()
            return x

        train_images, test_images = shaped(source.train.images), shaped(source.test.images)
        normalization = Normalization.of(train_images.numpy())

        def split(images, labels) -> TensorSplit:
            labels = torch.from_numpy(labels.astype("int64"))
            return TensorSplit(normalization.apply(images), labels, torch.full_like(labels, -1))

        train = split(train_images, source.train.labels)
        test = split(test_images, source.test.labels)
        pool = RealPool(train, source.num_classes, device, normalization)  # IDC steps in pixel units
        return Workload(pool, test, (settings.channels, settings.size, settings.size), device, settings.model)


Unit = Callable[[], object]


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure(unit: Unit, repeats: int, device: torch.device, count_flops: bool = False) -> dict:
    """Warm-up call (FLOPs counted there when asked), then ``repeats`` timed calls: median seconds and the rest."""
    from torch.utils.flop_counter import FlopCounterMode

    flops = None
    graphs = compiled_graphs()
    started = time.perf_counter()
    if count_flops:
        with FlopCounterMode(display=False) as counter:
            unit()
        flops = counter.get_total_flops()
    else:
        unit()
    _sync(device)
    first = time.perf_counter() - started
    warm_graphs = compiled_graphs()
    times = []
    cpu, wall = time.process_time(), time.perf_counter()
    for _ in range(repeats):
        tick = time.perf_counter()
        unit()
        _sync(device)
        times.append(time.perf_counter() - tick)
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    seconds = statistics.median(times)
    return {
        "seconds": seconds,
        "min_seconds": min(times),
        "first_call_s": first,
        "compile_s": max(0.0, first - seconds) if warm_graphs > graphs else 0.0,
        "graphs_compiled": warm_graphs - graphs,
        "recompiles": compiled_graphs() - warm_graphs,
        "cpu_per_wall": cpu / wall if wall else 0.0,
        "peak_rss_mb": _rss_mb(),
        "flops": flops,
    }


# ------------------------------------------------------------------------------------------------------ cases
def _distill_unit(work: Workload, method: str, ipc: int, accel: Accel, batched: bool | None, **overrides) -> Unit:
    config = method_config(method, ipc, model=work.model, iterations=10**9, batch_real=256, **overrides)
    ctx = new_context(config, f"bench/{method}", work.pool, work.shape, work.device, accel=accel)
    if method == "dm":
        implementation = DistributionMatching(batched)
    elif method in ("dc", "dsa"):
        implementation = GradientMatching(batched)
    else:  # a method without a classes-batched lever: its registry implementation, prepared as a run prepares it
        implementation = method_spec(method).make()
        if hasattr(implementation, "prepare"):
            implementation.prepare(ctx)
    iterations = itertools.count()
    return lambda: implementation.step(ctx, next(iterations))


def _grouped(work: Workload) -> Workload:
    """The workload with a seeded attribute of :data:`BENCH_GROUPS` values per image, as a colour bias gives: a
    debias mode's cost depends on how many groups a class's batch holds, not on what they mean."""
    pool = copy.copy(work.pool)
    draws = torch.randint(0, BENCH_GROUPS, pool.labels.shape, generator=generator("bench-groups"))
    pool.attrs = draws.to(pool.labels.device)
    return replace(work, pool=pool)


def _ipc_set(work: Workload, ipc: int) -> tuple[torch.Tensor, torch.Tensor]:
    chosen = [work.pool.sample_indices(c, ipc, generator("bench-set", c)) for c in range(work.pool.num_classes)]
    index = torch.cat(chosen).to(work.pool.images.device)
    return work.pool.images[index], work.pool.labels[index]


def _eval_unit(work: Workload, accel: Accel, num_eval: int) -> Unit:
    """One epoch of each of ``num_eval`` networks on an IPC-10 set, DSA augmentation, the protocol's optimiser."""
    images, labels = _ipc_set(work, 10)
    channels, size = work.shape[0], work.shape[1]
    runs = []
    for run in range(num_eval):
        net = build_model(work.model, channels, work.pool.num_classes, size, seed=run).to(work.device)
        trainer = Trainer([net], accel)  # what the evaluation trains with (ddstudy.engine)
        optimizer = Sgd(trainer.parameters(), lr=0.01, momentum=0.9, weight_decay=0.0005)
        aug = generator("bench-aug", run)
        runs.append((trainer, optimizer, lambda x, aug=aug: diff_augment(x, DEFAULT_STRATEGY, aug, False)))
    epochs = itertools.count()

    def unit() -> None:
        epoch = next(epochs)
        for run, (trainer, optimizer, augment) in enumerate(runs):
            order = generator("bench-order", run, epoch)
            trainer.epoch(optimizer, images, labels, 256, [order], work.device, [augment])

    return unit


def _stacked_unit(
    work: Workload, accel: Accel, count: int, images, labels, weight_decay: float, name: str, augmented: bool
) -> Unit:
    """``count`` networks stacked into one vmapped network (``accel.vectorize``), one epoch over ``images`` per call,
    each network with its own init, order (``name``) and augmentation draws."""
    channels, size = work.shape[0], work.shape[1]
    nets = [build_model(work.model, channels, work.pool.num_classes, size, seed=i) for i in range(count)]
    trainer = Trainer([net.to(work.device) for net in nets], accel)  # stacked, as the zoo and evaluation stack
    optimizer = Sgd(trainer.parameters(), lr=0.01, momentum=0.9, weight_decay=weight_decay)
    augments = None
    if augmented:
        augs = [generator("bench-aug", i) for i in range(count)]
        augments = [lambda x, g=g: diff_augment(x, DEFAULT_STRATEGY, g, False) for g in augs]
    calls = itertools.count()

    def unit() -> None:
        call = next(calls)
        orders = [generator(name, i, call) for i in range(count)]
        trainer.epoch(optimizer, images, labels, 256, orders, work.device, augments)

    return unit


def _stacked_eval_unit(work: Workload, accel: Accel, num_eval: int) -> Unit:
    """The eval case with the ``num_eval`` networks stacked (an IPC-10 set with DSA augmentation, per epoch)."""
    images, labels = _ipc_set(work, 10)
    return _stacked_unit(work, accel, num_eval, images, labels, 0.0005, "bench-order", augmented=True)


def _score_unit(work: Workload, accel: Accel) -> Unit:
    channels, size = work.shape[0], work.shape[1]
    net = accel.net(build_model(work.model, channels, work.pool.num_classes, size, seed=0).to(work.device))
    return lambda: accuracy_report(net, work.test, work.device, work.pool.num_classes, accel)


def _zoo_unit(work: Workload, accel: Accel) -> Unit:
    channels, size = work.shape[0], work.shape[1]
    trainer = Trainer([build_model(work.model, channels, work.pool.num_classes, size, seed=0).to(work.device)], accel)
    optimizer = Sgd(trainer.parameters(), lr=0.01, momentum=0.9, weight_decay=0.005)
    images, labels = work.pool.images[:256], work.pool.labels[:256]
    steps = itertools.count()
    return lambda: trainer.epoch(optimizer, images, labels, 256, [generator("bench-zoo", next(steps))], work.device)


def _stacked_zoo_unit(work: Workload, accel: Accel, inits: int) -> Unit:
    """The zoo case with ``inits`` networks stacked (a zoo block's inits trained together, ``vectorize``): one SGD
    step of each; the bench divides its time by ``inits``, so it reads per network like the oracle."""
    images, labels = work.pool.images[:256], work.pool.labels[:256]
    return _stacked_unit(work, accel, inits, images, labels, 0.005, "bench-zoo", augmented=False)


def _clom_units(work: Workload, accel: Accel) -> tuple[Unit, Unit]:
    """(DM + CLoM, DM alone) on the same iterations; random-init networks stand in for trained PTMs (same cost)."""
    channels, size = work.shape[0], work.shape[1]
    pool = {}
    for arch in CLOM_POOL:
        model = build_model(arch, channels, work.pool.num_classes, size, seed=0).to(work.device).eval()
        model.requires_grad_(False)
        identity = (
            torch.zeros(1, channels, 1, 1, device=work.device),
            torch.ones(1, channels, 1, 1, device=work.device),
        )
        pool[arch] = [LoadedPTM(arch, 0, model, identity)]
    config = ClomConfig(distance="ce", zoo_source="bench", archs=CLOM_POOL, alphas=(1.0,))
    clom = Clom(config, pool, work.pool.num_classes, identity, accel)
    dm = method_config("dm", 10, model=work.model, iterations=10**9, batch_real=256)
    with_clom = new_context(dm, "bench/clom", work.pool, work.shape, work.device, clom, accel)
    without = new_context(dm, "bench/clom", work.pool, work.shape, work.device, None, accel)
    # Warm-up for every PTM of the pool (a run compiles each on its first draw; timed calls should not).
    for (ptm,) in pool.values():
        clom.loss_with(clom.pool[ptm.arch][0], with_clom.images, with_clom.labels, None).backward()
    with_clom.images.grad = None
    method, a, b = DistributionMatching(), itertools.count(), itertools.count()
    return (lambda: method.step(with_clom, next(a))), (lambda: method.step(without, next(b)))


def _peak(settings: BenchSettings, device: torch.device, emit) -> dict[str, float]:
    peaks = {}
    n = 2048
    for precision, dtype in (("fp32", torch.float32), ("bf16", torch.bfloat16)):
        g = torch.Generator().manual_seed(0)
        a = torch.randn(n, n, generator=g).to(device, dtype)
        b = torch.randn(n, n, generator=g).to(device, dtype)
        result = measure(lambda a=a, b=b: a @ b, max(settings.repeats, 5), device)
        peaks[precision] = 2 * n**3 / result["seconds"] / 1e9
        emit({"case": "peak", "path": precision, **result, "gflops": peaks[precision], "flops": 2 * n**3})
    return peaks


# case → unit(workload, accel, settings, batched); ``batched``: classes in one pass (None: the method's own rule).
UNITS: dict[str, Callable[[Workload, Accel, BenchSettings, bool | None], Unit]] = {
    "dm": lambda w, a, s, b: _distill_unit(w, "dm", 10, a, b),
    "dc": lambda w, a, s, b: _distill_unit(w, "dc", 1, a, b),
    "dsa": lambda w, a, s, b: _distill_unit(w, "dsa", 1, a, b),
    "dc10": lambda w, a, s, b: _distill_unit(w, "dc", 10, a, b, outer_loop=2, inner_loop=50),
    # IDC IPC 1 with 2 matching steps per network (the reference's 100 make one unit minutes long on a CPU)
    "idc": lambda w, a, s, b: _distill_unit(w, "idc", 1, a, b, inner_loop=2, n_data=256),
    # DC IPC 1 with COBRA's target: the oracle takes one backward per group of a class's batch, the fast paths one
    "dccobra": lambda w, a, s, b: _distill_unit(_grouped(w), "dc", 1, a, b, debias="cobra"),
    # DC IPC 1 with FairDD's terms: the oracle takes one backward per group through the whole batch, the fast paths
    # a forward and a backward of each group's own images (no layer mixes a batch's images)
    "dcfairdd": lambda w, a, s, b: _distill_unit(_grouped(w), "dc", 1, a, b, debias="fairdd"),
    # DM IPC 10 with COBRA: each iteration first warms the embedding network up for 10 epochs on the synthetic set
    "dmcobra": lambda w, a, s, b: _distill_unit(_grouped(w), "dm", 10, a, b, debias="cobra"),
    "eval": lambda w, a, s, b: (_stacked_eval_unit if a.vectorize else _eval_unit)(w, a, s.num_eval),
    "score": lambda w, a, s, b: _score_unit(w, a),
    "zoo": lambda w, a, s, b: _stacked_zoo_unit(w, a, s.zoo_inits) if a.vectorize else _zoo_unit(w, a),
}
BATCHABLE = ("dm", "dc", "dsa", "dc10")


def paths(settings: BenchSettings, case: str, device: torch.device) -> list[tuple[str, Accel, bool | None]]:
    """The oracle first (classes one by one, networks one by one), then the compiled fast path in each requested
    precision; on CUDA, or with ``--stacked``, also the GPU levers alone: classes batched (eager, for dm/dc/dsa/dc10)
    and the evaluation networks stacked."""
    chosen = [("oracle", ORACLE, False)]
    chosen += [(f"fast-{p}", Accel(compile=True, precision=p), None) for p in settings.precisions]
    if settings.stacked or device.type == "cuda":
        if case in BATCHABLE:
            chosen += [(f"batched-{p}", Accel(precision=p), True) for p in settings.precisions]
        if case in ("eval", "zoo"):
            chosen += [(f"stacked-{p}", Accel(precision=p, vectorize=True), None) for p in settings.precisions]
    return chosen


MALLOC_STEPS = 12  # forward + backward steps of the malloc case's probe (after 2 untimed)


def malloc_probe(steps: int = MALLOC_STEPS, batch: int = 256, width: int = 128) -> None:
    """One thread, a ConvNet on 3×32×32 batches (the repro grid's C-FMNIST shape): forward and backward as a DM
    or evaluation step allocates them. Prints wall, user, system time and minor page faults as JSON."""
    torch.set_num_threads(1)
    net = build_model("ConvNet" if width == 128 else f"ConvNetW{width}", 3, 10, 32, seed=0)
    images = torch.randn(batch, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    for step in range(steps + 2):
        if step == 2:
            before, started = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
        net.zero_grad(set_to_none=True)
        F.cross_entropy(net(images), torch.arange(batch) % 10).backward()
    after, wall = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter() - started
    print(
        json.dumps(
            {
                "wall_s": wall / steps,
                "user_s": (after.ru_utime - before.ru_utime) / steps,
                "sys_s": (after.ru_stime - before.ru_stime) / steps,
                "minflt": (after.ru_minflt - before.ru_minflt) / steps,
            }
        )
    )


def _malloc_case(settings: BenchSettings, emit) -> None:
    """glibc's defaults (the straightforward path) against ``ddstudy.malloc``'s tunables, each in a process of its
    own (the tunables act at process start), alternated ``repeats`` times; medians per step."""
    import os
    import subprocess
    import sys

    from ddstudy import malloc

    plain = {k: v for k, v in os.environ.items() if k not in malloc.TUNABLES} | {malloc.OPT_OUT: "default"}
    tuned = malloc.tuned_environ({k: v for k, v in os.environ.items() if k != malloc.OPT_OUT})
    code = f"from ddstudy.bench_nets import malloc_probe; malloc_probe(width={settings.width})"
    samples: dict[str, list[dict]] = {"oracle": [], "tuned": []}
    for _ in range(settings.repeats):
        for path, env in (("oracle", plain), ("tuned", tuned)):
            out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
            samples[path].append(json.loads(out.stdout.strip().splitlines()[-1]))
    oracle_seconds = None
    for path, runs in samples.items():
        median = {key: statistics.median(run[key] for run in runs) for key in runs[0]}
        seconds = median["wall_s"]
        oracle_seconds = oracle_seconds or seconds
        emit(
            {
                "case": "malloc",
                "path": path,
                "seconds": seconds,
                "speedup": oracle_seconds / seconds if path != "oracle" else None,
                "compile_s": 0.0,
                "cpu_per_wall": (median["user_s"] + median["sys_s"]) / seconds,
                "sys_share": median["sys_s"] / (median["user_s"] + median["sys_s"]),
                "minflt_per_step": median["minflt"],
                "peak_rss_mb": 0.0,
                "recompiles": 0,
                "threads": 1,
                "image_shape": [3, 32, 32],
            }
        )


def run_bench(settings: BenchSettings, as_json: bool = False, fashion_mnist_dir: str | None = None) -> list[dict]:
    """Run the cases; print one table row (or JSON object) per case × path as it is measured; return the rows."""
    torch.set_num_threads(settings.threads)
    device = resolve_device(settings.device)
    rows: list[dict] = []
    header = (
        f"{'case':6s} {'path':10s} {'s/unit':>8s} {'vs oracle':>9s} {'compile s':>9s} {'GFLOP/s':>8s} "
        f"{'% peak':>6s} {'cpu/wall':>8s} {'RSS MB':>7s} {'recomp':>6s}"
    )
    context = {"device": str(device), "threads": torch.get_num_threads(), "model": settings.model}
    context |= {"image_shape": [settings.channels, settings.size, settings.size], "torch": torch.__version__}
    if not as_json:
        print(f"ddstudy bench: {json.dumps(context)}; median of {settings.repeats} timed calls after one warm-up")
        print(header)

    def emit(row: dict) -> None:
        row = {**context, **row}
        rows.append(row)
        if as_json:
            print(json.dumps(row), flush=True)
            return
        ratio = f"{row['speedup']:.2f}×" if row.get("speedup") else ""
        gflops = f"{row['gflops']:.0f}" if row.get("gflops") else ""
        share = f"{100 * row['peak_share']:.0f}" if row.get("peak_share") else ""
        print(
            f"{row['case']:6s} {row['path']:10s} {row['seconds']:8.3f} {ratio:>9s} {row['compile_s']:9.1f} "
            f"{gflops:>8s} {share:>6s} {row['cpu_per_wall']:8.2f} {row['peak_rss_mb']:7.0f} {row['recompiles']:6d}",
            flush=True,
        )

    peaks = _peak(settings, device, emit) if "peak" in settings.cases else {}
    if "malloc" in settings.cases and device.type == "cpu":
        _malloc_case(settings, emit)
    needs_data = [c for c in settings.cases if c not in ("peak", "malloc")]
    work = Workload.load(settings, device, fashion_mnist_dir) if needs_data else None
    for case in needs_data:
        oracle_seconds = flops = None
        for path, accel, batched in paths(settings, case, device):
            accel = accel.resolved(device)
            if case == "clom":
                with_unit, without_unit = _clom_units(work, accel)
                plus = measure(with_unit, settings.repeats, device)
                base = measure(without_unit, settings.repeats, device)
                result = {**plus, "seconds": max(0.0, plus["seconds"] - base["seconds"]), "dm_seconds": base["seconds"]}
                result["compile_s"] = plus["compile_s"] + base["compile_s"]
            else:
                unit = UNITS[case](work, accel, settings, batched)
                result = measure(unit, settings.repeats, device, count_flops=path == "oracle")
                if case == "zoo" and accel.vectorize:  # per network, as the oracle's one network
                    result["seconds"] /= settings.zoo_inits
                    result["min_seconds"] /= settings.zoo_inits
            if path == "oracle":
                oracle_seconds, flops = result["seconds"], result["flops"]
            row = {"case": case, "path": path, "accel": asdict(accel), **result, "flops": flops}
            if oracle_seconds and result["seconds"]:
                row["speedup"] = oracle_seconds / result["seconds"]
            if flops and result["seconds"] and case != "clom" and (path == "oracle" or case not in OTHER_WORK):
                row["gflops"] = flops / result["seconds"] / 1e9
                peak = peaks.get(accel.precision)
                row["peak_share"] = row["gflops"] / peak if peak else None
            emit(row)
    return rows
