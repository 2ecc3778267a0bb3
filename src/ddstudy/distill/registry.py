"""The method registry: one line per method. Everything else — the CLI's ``--method`` choices and flags, the params
schema's method names, the evaluation defaults, the report order, labels, colours and markers — is read from here.

Adding a method = one module with its config dataclass, implementation and ``MethodSpec`` + one line below
(+ params for the grid); docs/architecture.md walks through it.
"""

from __future__ import annotations

from ddstudy.distill import baselines, dc, dm, idc, mtt
from ddstudy.distill.settings import MethodConfig, MethodSpec
from ddstudy.errors import DDStudyError

# Report order is this order.
METHODS: dict[str, MethodSpec] = {
    spec.name: spec
    for spec in (
        dc.DC,
        dc.DSA,
        dm.DM,
        mtt.MTT,
        idc.IDC,
        baselines.RANDOM,
        baselines.HERDING,
        baselines.FULL,
    )
}
DISTILLING = tuple(name for name, spec in METHODS.items() if spec.distils)
GUIDABLE = tuple(name for name in DISTILLING if METHODS[name].takes_clom)  # methods CLoM can guide
DEBIASABLE = tuple(name for name, spec in METHODS.items() if spec.debias)  # methods that take a debias mode


def method_spec(name: str) -> MethodSpec:
    try:
        return METHODS[name]
    except KeyError:
        raise DDStudyError(f"unknown method '{name}'; choose one of: {', '.join(METHODS)}") from None


def method_config(method: str, ipc: int, **settings) -> MethodConfig:
    """``method``'s config: its reference defaults, then ``settings`` (None values ignored); a setting the method
    does not have is one line naming the method's settings."""
    from ddstudy.knobs import build

    values = {"ipc": ipc, **{k: v for k, v in settings.items() if v is not None}}
    config = build(method_spec(method).config, values, f"{method}: ")
    check_method_debias(config)
    return config


def check_method_debias(config: MethodConfig) -> None:
    """The config's debias mode can act where its method takes modes (real batches, experts), else one line."""
    from ddstudy.debias import check_acts_on

    spec = method_spec(config.method)
    if spec.debias is not None:
        check_acts_on(config.debias, spec.debias, config.method)
