"""Each knob defined once: a settings dataclass field carries its default, its one-line help and its choices; the
command-line flags, their parsing and the Snakemake arguments that rebuild an instance are derived from it.

``knob(default, help)`` declares a field. :func:`add_flags` turns every field of a class into ``--field-name``
(booleans ``--x/--no-x``, tuples comma-separated); :func:`from_args` reads them back; :func:`to_args` writes an
instance as the flags that rebuild it (what a Snakemake rule passes). ``to_args`` → parse → ``from_args`` gives the
instance back (tests/test_knobs.py round-trips every settings class of the pipeline).
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import types
import typing
from collections.abc import Iterable
from dataclasses import MISSING, field

from ddstudy.errors import DDStudyError

SEED_MAX = 2**63 - 1  # every seed is a non-negative 63-bit integer (what ddstudy.seeding.derive_seed makes)


def knob(
    default=MISSING,
    help: str = "",  # noqa: A002
    choices: Iterable[str] | None = None,
    flag: bool = True,
    minimum: float | None = None,
    maximum: float | None = None,
):
    """A settings field: its default, a one-line help for ``--help``, for strings the allowed values, for numbers
    the allowed range (checked by the CLI's parser, written into the params schema, and by :func:`check_ranges`).
    ``flag=False``: not a command-line knob (set by the program, e.g. a method's name)."""
    metadata = {
        "help": help, "choices": tuple(choices) if choices else None, "flag": flag, "minimum": minimum,
        "maximum": maximum,
    }  # fmt: skip
    return field(default=default, metadata=metadata)


def seed_knob(default: int, help: str):  # noqa: A002
    """A seed field: a non-negative integer the random generators accept (0 … 2⁶³−1)."""
    return knob(default, help, minimum=0, maximum=SEED_MAX)


def range_text(minimum, maximum) -> str:
    if minimum is not None and maximum is not None:
        return f"in [{minimum:g}, {maximum:g}]" if maximum < 1e15 else f"in [{minimum:g}, 2^63-1]"
    return f"≥ {minimum:g}" if minimum is not None else f"≤ {maximum:g}"


def out_of_range(value, minimum, maximum) -> bool:
    return (minimum is not None and value < minimum) or (maximum is not None and value > maximum)


def range_problem(value, minimum, maximum) -> str | None:
    """What a number must be when it is not acceptable (NaN passes every comparison, so it is named first)."""
    if not math.isfinite(value):
        return "a finite number"
    return range_text(minimum, maximum) if out_of_range(value, minimum, maximum) else None


def bounded(kind: type, minimum=None, maximum=None):
    """An argparse ``type``: a number of ``kind`` within [minimum, maximum], else one line saying the range."""

    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {kind.__name__}, got '{text}'") from None
        problem = range_problem(value, minimum, maximum)
        if problem:
            raise argparse.ArgumentTypeError(f"must be {problem}, got {text}")
        return value

    return parse


def check_ranges(instance, where: str = "") -> None:
    """Refuse a settings instance whose numeric fields lie outside their knob's range (library callers and params
    meet the same bounds as the command line); NaN is refused for every float field."""
    for item in dataclasses.fields(instance):
        low, high = item.metadata.get("minimum"), item.metadata.get("maximum")
        value = getattr(instance, item.name)
        for v in value if isinstance(value, tuple) else (value,):
            if isinstance(v, bool) or not isinstance(v, int | float):
                continue
            problem = range_problem(v, low, high)
            if problem:
                raise DDStudyError(f"{where}{item.name} must be {problem}, got {v}")


def flag_fields(cls) -> list[dataclasses.Field]:
    return [f for f in dataclasses.fields(cls) if f.metadata.get("flag", True)]


def _kind(cls, item: dataclasses.Field) -> tuple[type, bool, bool]:
    """(element type, optional, tuple) of a field from its resolved annotation."""
    hint = typing.get_type_hints(cls)[item.name]
    optional = False
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        optional, hint = True, args[0]
    if typing.get_origin(hint) is tuple:
        return typing.get_args(hint)[0], optional, True
    return hint, optional, False


def flag_name(name: str, prefix: str = "") -> str:
    return f"--{prefix}{name.replace('_', '-')}"


def comma_list(kind: type, flag: str, minimum=None, maximum=None):
    """An argparse ``type``: ``1,2,3`` → a tuple of ``kind`` (each within the range when one is given); anything
    else one line naming what was expected."""

    def parse(text: str) -> tuple:
        try:
            values = tuple(kind(v.strip()) for v in text.split(",") if v.strip())
        except ValueError:
            what = {int: "integers", float: "numbers"}.get(kind, "values")
            raise argparse.ArgumentTypeError(f"expected comma-separated {what}, got '{text}'") from None
        for value in values if kind in (int, float) else ():
            problem = range_problem(value, minimum, maximum)
            if problem:
                raise argparse.ArgumentTypeError(f"must be {problem}, got {value}")
        return values

    return parse


def _shown(value) -> str:
    if isinstance(value, tuple):
        return ",".join(map(str, value)) or "none"
    return str(value)


def add_flags(
    parser,
    cls,
    prefix: str = "",
    omit: Iterable[str] = (),
    defaults: bool = True,
    default_text: str | None = None,
    choices: dict[str, Iterable[str]] | None = None,
) -> None:
    """One flag per field of ``cls``. ``defaults=False``: flags not given are absent from the namespace (the
    class's own default applies when the instance is built — for per-method classes sharing a flag).
    ``choices``: per field, the values the flag accepts when several classes share it (their union; each class
    checks its own when built)."""
    omit = set(omit)
    for item in flag_fields(cls):
        if item.name in omit:
            continue
        flag = flag_name(item.name, prefix)
        kind, optional, is_tuple = _kind(cls, item)
        has_default = item.default is not MISSING
        shown = default_text or (_shown(item.default) if has_default else None)
        text = item.metadata.get("help", "") + (f" (default {shown})" if shown is not None else "")
        kwargs: dict = {"help": text, "dest": f"{prefix.replace('-', '_')}{item.name}"}
        if defaults and has_default:
            kwargs["default"] = item.default
        else:
            kwargs["default"] = argparse.SUPPRESS
            kwargs["required"] = defaults and not has_default
        if kind is bool:
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, **kwargs)
            continue
        low, high = item.metadata.get("minimum"), item.metadata.get("maximum")
        if is_tuple:
            kwargs["type"] = comma_list(kind, flag, low, high)
        elif kind in (int, float):
            kwargs["type"] = bounded(kind, low, high)
        if item.metadata.get("choices") and not is_tuple:
            kwargs["choices"] = tuple((choices or {}).get(item.name) or item.metadata["choices"])
        if optional or (not defaults and kind is not str):  # a flag shared by classes: one may take None
            kwargs["help"] += "; 'none' for unset" if optional and kind is not str else ""
            base = kwargs.get("type", str)
            kwargs["type"] = lambda text, base=base: None if text == "none" else base(text)
        parser.add_argument(flag, **kwargs)


def from_args(cls, args: argparse.Namespace, prefix: str = "", omit: Iterable[str] = ()) -> dict:
    """The field values given on the command line (every flag field when ``add_flags`` set defaults)."""
    omit = set(omit)
    dest = prefix.replace("-", "_")
    values = {}
    for item in flag_fields(cls):
        if item.name not in omit and hasattr(args, dest + item.name):
            values[item.name] = getattr(args, dest + item.name)
    return values


def given_flags(classes: Iterable[type], args: argparse.Namespace, prefix: str = "") -> set[str]:
    """Names of the fields of any of ``classes`` present in ``args`` (for flags added with ``defaults=False``)."""
    dest = prefix.replace("-", "_")
    return {f.name for cls in classes for f in flag_fields(cls) if hasattr(args, dest + f.name)}


def to_args(instance, prefix: str = "", omit: Iterable[str] = ()) -> list[str]:
    """The flags that rebuild ``instance`` through :func:`add_flags` + :func:`from_args`: every flag field explicit
    (so a job's log shows all of its settings); ``None`` as ``none``, tuples comma-joined."""
    omit = set(omit)
    args: list[str] = []
    for item in flag_fields(type(instance)):
        if item.name in omit:
            continue
        value = getattr(instance, item.name)
        flag = flag_name(item.name, prefix)
        if isinstance(value, bool):
            args.append(flag if value else f"--no-{prefix}{item.name.replace('_', '-')}")
        elif value is None:
            args += [flag, "none"]
        elif isinstance(value, tuple):
            args += [flag, ",".join(str(v) for v in value)]
        else:
            args += [flag, str(value)]
    return args


def build(cls, values: dict, where: str = ""):
    """``cls(**values)`` with an unknown setting named in one line (a dataclass raises a bare TypeError)."""
    known = {f.name for f in dataclasses.fields(cls) if f.init}
    unknown = sorted(set(values) - known)
    if unknown:
        settings = ", ".join(sorted(f.name for f in flag_fields(cls)))
        raise DDStudyError(f"{where}'{unknown[0]}' is not a setting here; the settings are: {settings}")
    return cls(**values)


def json_schema(cls, omit: Iterable[str] = ()) -> dict:
    """The JSON schema of a settings class as a params block: one property per flag field, typed, with its help as
    the description and its choices as an enum (params and the CLI accept the same settings)."""
    omit = set(omit)
    names = {int: "integer", float: "number", str: "string", bool: "boolean"}
    properties = {}
    for item in flag_fields(cls):
        if item.name in omit:
            continue
        kind, optional, is_tuple = _kind(cls, item)
        entry: dict = {"type": names.get(kind, "string")}
        for bound in ("minimum", "maximum"):
            if item.metadata.get(bound) is not None:
                entry[bound] = item.metadata[bound]
        if item.metadata.get("choices"):
            entry = {"enum": list(item.metadata["choices"])}
        if is_tuple:
            entry = {"type": "array", "items": entry}
        if optional:
            entry = {"anyOf": [entry, {"type": "null"}]}
        default = item.default
        shown = f" (default {_shown(default)})" if default is not MISSING else ""
        entry["description"] = item.metadata.get("help", "") + shown
        properties[item.name] = entry
    return {"type": "object", "additionalProperties": False, "properties": properties}
