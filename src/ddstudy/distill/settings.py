"""The knobs every method shares, as dataclass bases; each method's module derives its own config from them with
only the knobs it reads and the defaults of its reference code (see :mod:`ddstudy.distill.registry`)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import ClassVar

from ddstudy.augment import check_strategy
from ddstudy.debias import DEBIAS_MODES
from ddstudy.errors import DDStudyError
from ddstudy.knobs import check_ranges, knob, seed_knob
from ddstudy.models import check_model_name


@dataclass(frozen=True)
class MethodConfig:
    """What every method has: the set's size, the network it works with, the grid seed."""

    METHOD: ClassVar[str] = ""
    # Lower bounds checked for every field a config has (per-method messages: "dm needs iterations ≥ 1, got 0").
    LOWEST: ClassVar[dict[str, int]] = {"ipc": 1}

    ipc: int = knob(1, "images per class")
    model: str = knob("ConvNet", "network inside distillation (reference ConvNet)")
    seed: int = seed_knob(42, "grid seed; every random choice derives from it and the cell's name")

    @property
    def method(self) -> str:
        return self.METHOD

    def __post_init__(self) -> None:
        check_ranges(self, f"{self.METHOD}: ")
        if self.ipc < 1:
            raise DDStudyError(f"IPC must be ≥ 1 image per class, got {self.ipc}")
        check_model_name(self.model)
        for item in fields(self):
            value = getattr(self, item.name)
            allowed = item.metadata.get("choices")
            if allowed and value not in allowed:
                raise DDStudyError(f"{self.method}: {item.name} must be one of {', '.join(allowed)}, got '{value}'")
            minimum = self.LOWEST.get(item.name)
            if minimum is not None and value is not None and value < minimum:
                note = " (0 would store the initial images)" if item.name == "iterations" else ""
                raise DDStudyError(f"{self.method} needs {item.name} ≥ {minimum}, got {value}{note}")
        if hasattr(self, "dsa_strategy"):
            check_strategy(self.dsa_strategy)

    @property
    def dsa(self) -> bool:
        """Whether DSA's Siamese augmentation is on (methods with a ``dsa_strategy``)."""
        return getattr(self, "dsa_strategy", "none") != "none"

    def to_dict(self) -> dict:
        """Every setting, with the method's name (the synthetic set's meta and the resume fingerprint)."""
        return {"method": self.method, **asdict(self)}


@dataclass(frozen=True)
class DistillingConfig(MethodConfig):
    """What every distilling method has: the outer loop over synthetic-image updates (DC's defaults)."""

    LOWEST: ClassVar[dict[str, int]] = {"ipc": 1, "iterations": 1, "checkpoint_every": 1}

    iterations: int = knob(1000, "updates of the synthetic images")
    lr_img: float = knob(0.1, "learning rate of the synthetic images (SGD)")
    momentum_img: float = knob(0.5, "momentum of the synthetic images' SGD")
    init: str = knob("noise", "initial synthetic images: Gaussian noise or random real images", ("noise", "real"))
    checkpoint_every: int = knob(50, "iterations between resume checkpoints")
    debias: str = knob(
        "none",
        "bias mitigation (ddstudy.debias): of the real batches (DC/DSA/DM), of the experts (MTT)",
        DEBIAS_MODES,
    )

    @property
    def image_lr(self) -> float:
        """The synthetic images' learning rate (a method may derive it, as MTT from its per-IPC table)."""
        return self.lr_img


@dataclass(frozen=True)
class RealBatchConfig(DistillingConfig):
    """Methods that match statistics of real batches each step (DC, DSA, DM; not MTT, which matches trajectories)."""

    LOWEST: ClassVar[dict[str, int]] = {**DistillingConfig.LOWEST, "batch_real": 1}

    batch_real: int = knob(256, "real images per class per step")


KINDS = ("distils", "selects", "full")
# FLOP multipliers of the cost model (:mod:`ddstudy.cost`), in forwards: a backward pass ≈ two forwards (gradients
# w.r.t. activations and weights); DC/DSA's synthetic side adds a backward with create_graph and the matching loss's.
BACKWARD = 2.0
DOUBLE_BACKWARD = 3.0


@dataclass(frozen=True)
class MethodSpec:
    """Everything about one method, in its own module; :mod:`ddstudy.distill.registry` lists the specs, and the CLI
    choices, the params schema's enums, the evaluation defaults, the report order and labels derive from it.

    ``make()`` returns the implementation: for ``distils`` an object with ``step(ctx, iteration) -> loss`` (and
    optionally ``prepare(ctx)``, ``state(ctx)``/``load_state(ctx, tensors)`` for the extra tensors named in
    ``checkpoint_state``, and ``meta(ctx)`` for what the synthetic set's meta records); for ``selects`` and ``full``
    a function ``(pool, config, cell, shape) -> indices`` of the chosen real samples."""

    name: str
    kind: str  # distils | selects | full
    config: type[MethodConfig]
    make: object  # () -> implementation (see above)
    label: str  # what reports call it
    colour: str  # one colour and marker per method in every figure
    marker: str
    eval_augment: str = "none"  # the evaluation's DSA augmentation when params say `augment: auto`
    eval_lr_from: str | None = None  # meta key of a learned step size the evaluation trains with (MTT)
    checkpoint_state: tuple[str, ...] = ()  # tensors its resume state carries beyond the images and their momentum
    cost: object = None  # (config, train images per class, classes, forward FLOPs) -> (FLOPs, extra-loss steps)
    uses_zoo: bool = False  # reads zoo checkpoints (MTT's expert trajectories)
    # Where a debias mode acts ("real batches": the loss calls the mode's real_terms; "experts": MTT's experts
    # train with the mode's batch weights); None: the method takes no mode.
    debias: str | None = None
    takes_clom: bool = True  # False: CLoM is refused by declaration (IDC steps per class on decoded images)
    # (stored images, labels, config dict, normalisation dict) -> the images training sees (IDC's multi-formation)
    decode: object = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise DDStudyError(f"method {self.name}: kind must be one of {', '.join(KINDS)}")
        if self.name != self.config.METHOD:
            raise DDStudyError(f"method {self.name}: its config class says '{self.config.METHOD}'")
        has_field = "debias" in {f.name for f in fields(self.config)}
        if has_field != (self.debias is not None):
            declared = "no place" if has_field else repr(self.debias)
            raise DDStudyError(
                f"method {self.name}: its config {'has' if has_field else 'has no'} a debias setting but its spec "
                f"declares {declared} for it; say where the modes act (or drop the setting), so a mode is never "
                "silently ignored"
            )

    @property
    def distils(self) -> bool:
        return self.kind == "distils"
