"""``ddstudy distill``: one synthetic set of a method of the registry (or a baseline's selection)."""

from __future__ import annotations

import argparse

from ddstudy.cli.options import accel_of, add_runtime_flags, add_timing_flag, torch_device
from ddstudy.errors import DDStudyError
from ddstudy.knobs import add_flags, flag_fields, from_args

COMMANDS = {"distill": "distil one synthetic set (a method of the registry) or select a baseline"}


def distill(args: argparse.Namespace) -> int:
    from ddstudy.distill.clom import ClomConfig
    from ddstudy.distill.registry import METHODS, method_spec
    from ddstudy.distill.run import distill_cell
    from ddstudy.knobs import build, given_flags

    spec = method_spec(args.method)
    values = from_args(spec.config, args)
    foreign = given_flags([m.config for m in METHODS.values()], args) - set(values)
    if foreign:
        name = sorted(foreign)[0].replace("_", "-")
        raise DDStudyError(
            f"--{name} is not a setting of {args.method}; see `ddstudy distill --method {args.method} -h`"
        )
    config = build(spec.config, values, f"{args.method}: ")
    clom = None
    if given_flags([ClomConfig], args, prefix="clom-"):
        clom = ClomConfig(**from_args(ClomConfig, args, prefix="clom-"))
    meta = distill_cell(
        args.dataset_dir, config, args.out, torch_device(args), clom, args.zoo_root, accel_of(args),
        args.sample_weights, args.timing,
    )  # fmt: skip
    loss = meta["loss"]
    print(
        f"{args.out}: {meta['num_images']} images ({meta['cell']})"
        + (f", loss {loss['first']:.4f} → {loss['last']:.4f}" if loss["first"] is not None else "")
    )
    return 0


def register(name: str, parser: argparse.ArgumentParser) -> None:
    from ddstudy.distill.clom import ClomConfig
    from ddstudy.distill.registry import METHODS

    parser.add_argument("--dataset-dir", required=True, help="a built dataset variant folder")
    parser.add_argument("--method", required=True, choices=list(METHODS), help="the method (registry order)")
    parser.add_argument("--out", required=True, help="output folder (synthetic/<dataset>/<method>_ipc<ipc>)")
    settings = parser.add_argument_group("method settings (each method takes its own; unset: its reference default)")
    added: set[str] = set()
    shared: dict[str, list[str]] = {}  # a setting's choices over every method that has it (IDC's init adds 'mix')
    for spec in METHODS.values():
        for item in flag_fields(spec.config):
            values = shared.setdefault(item.name, [])
            values += [v for v in item.metadata.get("choices") or () if v not in values]
    for spec in METHODS.values():  # one flag per setting of any method; the chosen method's class applies defaults
        add_flags(
            settings, spec.config, omit=added, defaults=False, default_text="the method's reference value",
            choices=shared,
        )  # fmt: skip
        added |= {f.name for f in flag_fields(spec.config)}
    clom = parser.add_argument_group("CLoM (pre-trained model guidance; on when any --clom-* flag is given)")
    add_flags(clom, ClomConfig, prefix="clom-", defaults=False)
    clom.add_argument("--zoo-root", default="zoo", help="where the PTMs (and MTT's experts) are (default zoo)")
    parser.add_argument("--sample-weights", help="KDE weights artifact (`ddstudy debias weights`) for --debias kde")
    add_runtime_flags(parser)
    add_timing_flag(parser)
    parser.set_defaults(func=distill)
