"""Each knob once: every settings class round-trips dataclass → Snakemake arguments → CLI → dataclass, and every
field has a flag (a field added without one fails here)."""

import dataclasses
import shlex

import pytest

from ddstudy.accel import Accel
from ddstudy.cli import build_parser
from ddstudy.data.build import VariantSpec
from ddstudy.data.sources import SourceOptions
from ddstudy.distill.clom import ClomConfig
from ddstudy.distill.registry import METHODS, method_config
from ddstudy.evaluate.protocol import EvalConfig
from ddstudy.knobs import flag_fields, from_args, json_schema
from ddstudy.study import ZooModel, load_study
from ddstudy.workflow import accel_args, build_args, clom_args, distill_args, evaluate_args, zoo_train_args
from ddstudy.zoo.train import ZooJob, ZooTrainConfig

PARSER = build_parser()
EAGER = Accel()


def parse(*words) -> object:
    return PARSER.parse_args([str(w) for w in words])


def every_field_is_a_flag(cls) -> None:
    init_fields = {f.name for f in dataclasses.fields(cls) if f.init}
    assert init_fields == {f.name for f in flag_fields(cls)}, cls
    assert all(f.metadata.get("help") for f in flag_fields(cls)), f"{cls.__name__}: a field without help"


def distill_round_trip(config, clom=None, accel=EAGER):
    words = shlex.split(distill_args(config)) + shlex.split(clom_args(clom)) + shlex.split(accel_args(accel))
    args = parse("distill", "--dataset-dir", "d", "--out", "o", *words)
    spec = METHODS[args.method]
    back = spec.config(**from_args(spec.config, args))
    assert back == config and back.to_dict() == config.to_dict()
    if clom is not None:
        assert ClomConfig(**from_args(ClomConfig, args, prefix="clom-")) == clom
    assert Accel(**from_args(Accel, args)) == accel


@pytest.mark.parametrize("grid", ["demo", "paper"])
def test_every_config_of_the_grids_round_trips(grid):
    study = load_study("params.yaml", grid)
    for cell in study.cells:
        distill_round_trip(cell.config, cell.clom, study.accel)
    for entry in study.zoo:
        args = parse("zoo", "train", "--dataset-dir", "d", "--out", "o", *shlex.split(zoo_train_args(entry)))
        assert ZooTrainConfig(**from_args(ZooTrainConfig, args)) == entry.config
        assert args.init == (entry.job.init,) and args.arch == entry.job.arch and args.seed == entry.job.seed
    for method in {c.config.method for c in study.cells}:
        config = study.eval_config(method)
        args = parse("evaluate", "--synthetic", "s", "--dataset-dir", "d", "--arch", "A", "--out", "o",
                     *shlex.split(evaluate_args(config)))  # fmt: skip
        assert EvalConfig(**from_args(EvalConfig, args)) == config
    for spec in study.variants:
        args = parse("data", "build", *shlex.split(build_args(spec, study.sources)))
        assert VariantSpec(**from_args(VariantSpec, args)) == spec


def test_non_default_values_round_trip():
    """Every field away from its default (tuples, None, booleans, floats that :g would round)."""
    for name, spec in METHODS.items():
        every_field_is_a_flag(spec.config)
        changed = {}
        for item in flag_fields(spec.config):
            value = getattr(spec.config(), item.name)
            if item.name in ("ipc", "model", "seed"):
                continue
            if isinstance(value, bool):
                changed[item.name] = not value
            elif isinstance(value, int) and not isinstance(value, bool):
                changed[item.name] = value + 3
            elif isinstance(value, float):
                changed[item.name] = value * 1.2345678901
        config = method_config(name, 10, model="LeNet", seed=7, **changed)
        distill_round_trip(config)
    clom = ClomConfig("cos", "zoo-x", ("ConvNet", "LeNet"), 2, 3, (0.5, 1234.56789), 17, 2, "paper", True)
    distill_round_trip(method_config("dm", 2), clom, Accel(True, "bf16", True))
    for cls in (VariantSpec, ZooTrainConfig, EvalConfig, ClomConfig, Accel):
        every_field_is_a_flag(cls)
    entry = ZooModel(ZooJob("x", "LeNet", 3, 9), ZooTrainConfig(7, 0.02, 0.0, 0.0, 32, (), 0.5, False, (1, 7), "crop"))
    args = parse("zoo", "train", "--dataset-dir", "d", "--out", "o", *shlex.split(zoo_train_args(entry)))
    assert ZooTrainConfig(**from_args(ZooTrainConfig, args)) == entry.config
    spec = VariantSpec("fashion-mnist", "corruption", 0.123456789, 2, 3, "uniform", 7, None)
    args = parse("data", "build", *shlex.split(build_args(spec, SourceOptions())))
    assert VariantSpec(**from_args(VariantSpec, args)) == spec


def test_params_schema_lists_each_method_with_its_own_settings():
    from ddstudy.study.schema import load_schema

    methods = load_schema()["$defs"]["grid"]["properties"]["distill"]["properties"]["methods"]["properties"]
    assert list(methods) == list(METHODS)
    assert "outer_loop" in methods["dc"]["properties"] and "outer_loop" not in methods["dm"]["properties"]
    assert "syn_steps" in methods["mtt"]["properties"] and "batch_real" not in methods["mtt"]["properties"]
    assert json_schema(ClomConfig)["properties"]["distance"]["enum"] == ["ce", "cos"]
