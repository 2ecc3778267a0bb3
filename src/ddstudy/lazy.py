"""Heavy libraries imported on first use, so reading the grid never loads them.

Why: ``ddstudy params check``, ``ddstudy plan`` and every Snakemake start-up (workflow/rules/common.smk builds the
study) need the registries and the config dataclasses that live beside the methods, models and training loops —
not their computation. Importing torch takes ~1.7 s of CPU here, SciPy, OpenCV and scikit-image another ~0.5 s; a
grid check took 2.2–2.9 s, 0.47 s without them (docs/performance.md).

A module on that path writes ``torch = lazy("torch")`` (``nn = lazy("torch.nn")``, ``cv2 = lazy("cv2")``) instead of
the import statement and uses the name as before. The first attribute read imports the real module and copies its
namespace into the stand-in, which then becomes a plain module (no per-call cost in the training loops); names
the module defines later (torch's own lazy submodules) are found through the module-level ``__getattr__`` hook.

What cannot be deferred: a class body or decorator that runs at import (``class Net(nn.Module)``,
``@torch.no_grad()``) reads the module at once. Modules that subclass ``nn.Module`` at top level (the networks in
``ddstudy.models``) therefore import torch for real, and the model registry reaches them through factories that
import them when a network is built. ``tests/test_lazy_imports.py`` holds the line: the grid commands import none
of these libraries. The fork server loads them all (:func:`load_all`) before it forks, so its jobs start warm.
"""

from __future__ import annotations

import functools
import importlib
import sys
import types

_STAND_INS: list[Deferred] = []


class Deferred(types.ModuleType):
    """Stands in for module ``name`` until an attribute is read; then becomes a plain module holding its namespace."""

    def __init__(self, name: str):
        super().__init__(name, f"stand-in for {name}, imported on first use (ddstudy.lazy)")
        _STAND_INS.append(self)

    def __getattr__(self, attr: str):  # reached only before the first load: afterwards the class is ModuleType
        return getattr(_load(self), attr)


def _load(stand_in: types.ModuleType) -> types.ModuleType:
    """Import the module ``stand_in`` defers, copy its namespace into it and make it a plain module: its attribute
    reads then cost what a module's do (a class-level ``__getattr__`` would slow every hit by ~45 ns here), and
    names the module defines later are found through the module-level ``__getattr__`` hook (PEP 562)."""
    module = importlib.import_module(stand_in.__name__)
    if type(stand_in) is Deferred:
        stand_in.__dict__.update({key: value for key, value in vars(module).items() if not key.startswith("__")})
        stand_in.__dict__["__getattr__"] = functools.partial(getattr, module)
        stand_in.__class__ = types.ModuleType
    return module


def lazy(name: str) -> types.ModuleType:
    """Module ``name``: the module itself if it is imported already, else a stand-in that imports it on first use."""
    module = sys.modules.get(name)
    return module if module is not None else Deferred(name)


def load_all() -> None:
    """Import every module a stand-in defers (the fork server, before it forks)."""
    for stand_in in _STAND_INS:
        _load(stand_in)
