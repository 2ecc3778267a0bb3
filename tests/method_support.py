"""Test helper: a method's config from settings meant for several methods (e.g. a shared FAST dict)."""

from ddstudy.distill.registry import method_config, method_spec
from ddstudy.knobs import flag_fields


def quick_config(method: str, ipc: int, **settings):
    """``method_config`` keeping only the settings ``method`` has (DM has no inner loop: no ``batch_train``)."""
    names = {f.name for f in flag_fields(method_spec(method).config)}
    return method_config(method, ipc, **{k: v for k, v in settings.items() if k in names})
