"""Heavy libraries imported on first use, so reading the grid never loads them.

Why: ``ddstudy params check``, ``ddstudy plan`` and every Snakemake start-up (workflow/rules/common.smk builds the
study) need the registries and the config dataclasses that live beside the methods, models and training loops —
not their computation. Importing torch takes ~1.7 s of CPU here, SciPy, OpenCV and scikit-image another ~0.5 s; a
grid check took 4.2 s of which 0.3 s was ddstudy's own work.

A module on that path writes ``torch = lazy("torch")`` (``nn = lazy("torch.nn")``, ``cv2 = lazy("cv2")``) instead of
the import statement and uses the name as before. The first attribute read imports the real module and copies its
namespace into the stand-in, so later reads are plain dictionary lookups (no per-call cost in the training loops);
names the module defines later (torch's own lazy submodules) are looked up and kept as they are first read.

What cannot be deferred: a class body or decorator that runs at import (``class Net(nn.Module)``,
``@torch.no_grad()``) reads the module at once. Modules that subclass ``nn.Module`` at top level (the networks in
``ddstudy.models``) therefore import torch for real, and the model registry reaches them through factories that
import them when a network is built. ``tests/test_lazy_imports.py`` holds the line: the grid commands import none
of these libraries. The fork server loads them all (:func:`load_all`) before it forks, so its jobs start warm.
"""

from __future__ import annotations

import importlib
import types

_STAND_INS: list[Deferred] = []


class Deferred(types.ModuleType):
    """Stands in for module ``name`` until an attribute is read; then holds the real module's namespace."""

    def __init__(self, name: str):
        super().__init__(name, f"stand-in for {name}, imported on first use (ddstudy.lazy)")
        self.__dict__["_ddstudy_module"] = None
        _STAND_INS.append(self)

    def _load(self) -> types.ModuleType:
        module = self.__dict__["_ddstudy_module"]
        if module is None:
            module = importlib.import_module(self.__name__)
            self.__dict__.update({key: value for key, value in vars(module).items() if not key.startswith("__")})
            self.__dict__["_ddstudy_module"] = module
        return module

    def __getattr__(self, attr: str):  # only names not in the stand-in's namespace yet
        value = getattr(self._load(), attr)
        if not attr.startswith("__"):
            self.__dict__[attr] = value
        return value


def lazy(name: str) -> types.ModuleType:
    """Module ``name``: the module itself if it is imported already, else a stand-in that imports it on first use."""
    import sys

    module = sys.modules.get(name)
    return module if module is not None else Deferred(name)


def load_all() -> None:
    """Import every module a stand-in defers (the fork server, before it forks)."""
    for stand_in in _STAND_INS:
        stand_in._load()
