"""The ``ddstudy`` command line: parse, call a library function, map errors to one line and an exit code.

Exit codes: 0 ok, 2 bad input or missing data (a :class:`DDStudyError`, printed as one line), 130 interrupted.
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import sys
from pathlib import Path

from ddstudy.errors import DDStudyError
from ddstudy.knobs import SEED_MAX, add_flags, bounded, comma_list, from_args

log = logging.getLogger("ddstudy")


def _source_options(args: argparse.Namespace):
    from ddstudy.data.sources import SourceOptions

    return SourceOptions(
        root=Path(args.data_root),
        download=args.download,
        fashion_mnist_dir=Path(args.fashion_mnist_dir) if args.fashion_mnist_dir else None,
    )


def cmd_params_check(args: argparse.Namespace) -> int:
    from ddstudy.params import load_study

    study = load_study(args.params, args.grid)
    print(
        f"{args.params}: valid; grid '{study.grid}' has {len(study.variants)} dataset variants "
        f"({len(study.biased)} biased, {len(study.clean)} clean)"
    )
    return 0


def cmd_params_schema(args: argparse.Namespace) -> int:
    from ddstudy.io import atomic_file
    from ddstudy.params import SCHEMA_HEADER, SCHEMA_PATH, schema_text

    text = schema_text()
    if not args.write:
        sys.stdout.write(text)
        return 0
    if SCHEMA_PATH.is_file() and SCHEMA_PATH.read_text() == text:
        print(f"{SCHEMA_PATH}: up to date")
        return 0
    if not SCHEMA_PATH.parent.is_dir():
        raise DDStudyError(f"{SCHEMA_PATH.parent}: not found; run from the repository root")
    if SCHEMA_PATH.is_file() and not SCHEMA_PATH.read_text().startswith(SCHEMA_HEADER.splitlines()[0]):
        raise DDStudyError(f"{SCHEMA_PATH}: not a schema ddstudy generated; move it away, then run this again")
    with atomic_file(SCHEMA_PATH, "w") as handle:
        handle.write(text)
    print(f"{SCHEMA_PATH}: written")
    return 0


def cmd_plan(args: argparse.Namespace) -> int:
    from ddstudy.cost import plan
    from ddstudy.params import load_study

    study = load_study(args.params, args.grid)
    kind = args.device_kind or study.device_kind
    rows = plan(study, study.cost, kind)
    rate = study.cost.gflops(kind)
    print(f"grid '{study.grid}' on {kind} ({rate:g} GFLOP/s per job, {study.cost.startup_s:g} s start-up per job):")
    print(f"{'stage':10s} {'jobs':>6s} {'PFLOP':>10s} {'compute h':>10s} {'device h':>10s} {'longest limit':>14s}")
    for row in rows:
        print(
            f"{row['stage']:10s} {row['jobs']:6d} {row['pflop']:10.3f} {row['compute_hours']:10.2f} "
            f"{row['device_hours']:10.2f} {row['max_limit_min']:11d} min"
        )
    total = sum(r["device_hours"] for r in rows)
    print(
        f"{'total':10s} {sum(r['jobs'] for r in rows):6d} {sum(r['pflop'] for r in rows):10.3f} {'':10s} {total:10.1f}"
    )
    return 0


def cmd_data_list(args: argparse.Namespace) -> int:
    from ddstudy.params import load_study

    study = load_study(args.params, args.grid)
    chosen = {"all": study.variants, "biased": study.biased, "clean": study.clean}[args.kind]
    for spec in chosen:
        print(spec.name)
    return 0


def cmd_data_build(args: argparse.Namespace) -> int:
    from ddstudy.data.build import VariantSpec, build_variant

    spec = VariantSpec(**from_args(VariantSpec, args))
    out = Path(args.out) if args.out else Path("data/datasets") / spec.name
    meta = build_variant(spec, out, _source_options(args), workers=args.workers)
    train, test = meta["counts"]["train"], meta["counts"]["test"]
    summary = f"{out}: {train['n']} train / {test['n']} test images {meta['image_shape']}"
    if "aligned" in train:
        summary += f"; train aligned {train['aligned_fraction']:.3f}, test aligned {test['aligned_fraction']:.3f}"
    print(summary)
    return 0


def cmd_data_show(args: argparse.Namespace) -> int:
    from ddstudy.data.store import load_variant
    from ddstudy.outputs import FIGURE, claim_output
    from ddstudy.report.samples import plot_variant_samples

    variant = load_variant(args.dir)
    meta = variant.meta
    print(f"{meta['name']}  ({variant.path})")
    for key in ("source", "bias", "ratio", "severity", "seed", "test_attrs", "image_shape"):
        print(f"  {key:12s} {meta.get(key)}")
    for split in ("train", "test"):
        counts = meta["counts"][split]
        line = f"  {split:12s} n={counts['n']}"
        if "aligned" in counts:
            line += (
                f" aligned={counts['aligned']} conflicting={counts['conflicting']} ({counts['aligned_fraction']:.3f})"
            )
        print(line + f" sha256={meta['sha256'][split + '.npz'][:12]}…")
    # Not results/figures/datasets/: that folder is the pipeline's (a DVC output); an ad-hoc look would dirty it.
    png = Path(args.png) if args.png else Path("results/figures/samples") / f"{meta['name']}-samples.png"
    with claim_output(png, FIGURE, {"dir": args.dir}, "--png"):
        plot_variant_samples(variant, png, per_class=args.per_class)
    print(f"  sample grid  {png}")
    return 0


def cmd_data_figures(args: argparse.Namespace) -> int:
    from ddstudy.io import prune_stale
    from ddstudy.outputs import FIGURE_FOLDER, claim_output
    from ddstudy.params import load_study
    from ddstudy.report.samples import write_dataset_figures

    study = load_study(args.params, args.grid)
    with claim_output(args.out, FIGURE_FOLDER, {"--datasets-dir": args.datasets_dir}):
        written = write_dataset_figures(study, args.datasets_dir, args.out)
    for path in written:
        print(path)
    for pattern in ("*-by-ratio.png", "*-by-severity.png"):
        for path in prune_stale(args.out, pattern, written):
            print(f"removed stale {path}", file=sys.stderr)
    return 0


def _fields(cls):
    from ddstudy.knobs import flag_fields

    return flag_fields(cls)


def _variant_settings():
    from ddstudy.data.build import VariantSpec

    return VariantSpec


def _zoo_settings():
    from ddstudy.zoo.train import ZooTrainConfig

    return ZooTrainConfig


def _eval_settings():
    from ddstudy.evaluate.protocol import EvalConfig

    return EvalConfig


def _clom_settings():
    from ddstudy.distill.clom import ClomConfig

    return ClomConfig


def _kde_settings():
    from ddstudy.weighting import KdeConfig

    return KdeConfig


def _methods():
    from ddstudy.distill.registry import METHODS

    return METHODS


def _accel_settings():
    from ddstudy.accel import Accel

    return Accel


def _bench_settings():
    from ddstudy.bench_nets import BenchSettings

    return BenchSettings


def _accel(args: argparse.Namespace):
    cls = _accel_settings()
    return cls(**from_args(cls, args))


def _torch_device(args: argparse.Namespace):
    """Apply ``--threads`` and resolve ``--device`` (auto: CUDA when present) for a training command."""
    from ddstudy.device import Runtime

    return Runtime(**from_args(Runtime, args)).apply()


def _add_runtime_flags(parser: argparse.ArgumentParser, accel: bool = True) -> None:
    """``--device``/``--threads`` (and the accel flags) of every training command, defined once (device.Runtime)."""
    from ddstudy.device import Runtime

    add_flags(parser, Runtime)
    if accel:
        add_flags(parser, _accel_settings())


def cmd_zoo_train(args: argparse.Namespace) -> int:
    from ddstudy.data.store import load_variant
    from ddstudy.models import check_model_name
    from ddstudy.zoo.train import ZooJob, ZooTrainConfig, train_zoo_models

    config = ZooTrainConfig(**from_args(ZooTrainConfig, args))
    inits = args.init
    if len(inits) != len(args.out):
        raise DDStudyError(f"--init names {len(inits)} init(s) but --out {len(args.out)} folder(s); give one each")
    if len(set(inits)) != len(inits):
        raise DDStudyError(f"--init {','.join(map(str, inits))}: trained together, the inits must be distinct")
    check_model_name(args.arch)
    dataset = load_variant(args.dataset_dir, verify=False).meta["name"]
    jobs = [ZooJob(dataset, args.arch, init, args.seed) for init in inits]
    runs = train_zoo_models(
        jobs, args.dataset_dir, args.out, config, _torch_device(args), accel=_accel(args),
        weights_path=args.sample_weights,
    )  # fmt: skip
    for out, job, run in zip(args.out, jobs, runs, strict=True):
        last = run["history"][-1]
        print(
            f"{out}: {job.arch} init{job.init} on {dataset}, {len(run['epochs_saved'])} checkpoints; "
            f"epoch {last['epoch']} train acc {last['train_acc']:.3f}"
            + (f", test acc {last['test']['acc']:.3f}" if last.get("test") else "")
        )
    return 0


def cmd_zoo_index(args: argparse.Namespace) -> int:
    from ddstudy.zoo.store import write_zoo_index

    print(write_zoo_index(args.zoo_root, args.dataset))
    return 0


def cmd_zoo_report(args: argparse.Namespace) -> int:
    from ddstudy.io import prune_stale
    from ddstudy.outputs import FIGURE_FOLDER, check_output, claim_output
    from ddstudy.params import load_study
    from ddstudy.report.zoo import plot_zoo_accuracy, zoo_figure_path, zoo_frame

    study = load_study(args.params, args.grid)
    zoo_root = args.zoo_root or study.zoo_root
    frame = zoo_frame(zoo_root, list(study.zoo_datasets))
    inputs = {"--zoo-root": zoo_root}
    check_output(args.figures, FIGURE_FOLDER, inputs, "--figures")
    print(_write_table(frame, args.table, "zoo", inputs, "--table"))
    with claim_output(args.figures, FIGURE_FOLDER, inputs, "--figures"):
        written = [plot_zoo_accuracy(frame, d, zoo_figure_path(args.figures, d)) for d in study.zoo_datasets]
    for path in written:
        print(path)
    for path in prune_stale(args.figures, "*-accuracy-by-epoch.png", written):
        print(f"removed stale {path}", file=sys.stderr)
    return 0


def cmd_distill(args: argparse.Namespace) -> int:
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
        args.dataset_dir, config, args.out, _torch_device(args), clom, args.zoo_root, _accel(args), args.sample_weights
    )
    loss = meta["loss"]
    print(
        f"{args.out}: {meta['num_images']} images ({meta['cell']})"
        + (f", loss {loss['first']:.4f} → {loss['last']:.4f}" if loss["first"] is not None else "")
    )
    return 0


def cmd_debias_weights(args: argparse.Namespace) -> int:
    from ddstudy.distill.debias import compute_kde_weights
    from ddstudy.weighting import KdeConfig

    config = KdeConfig(**from_args(KdeConfig, args, prefix="kde-"))
    out = Path(args.out).with_suffix(".npz")
    record = compute_kde_weights(args.dataset_dir, args.zoo_root, config, out, _torch_device(args))
    print(
        f"{out}: KDE weights of {record['dataset']} ({config.slug()}); mean weight aligned "
        f"{record['mean_weight_aligned']}, conflicting {record['mean_weight_conflicting']}"
    )
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from ddstudy.distill.run import load_synthetic
    from ddstudy.evaluate.protocol import EvalConfig, evaluate_synthetic, write_metrics
    from ddstudy.evaluate.record import METRICS_FILE
    from ddstudy.outputs import claim_output

    config = EvalConfig(**from_args(EvalConfig, args))
    inputs = {"--synthetic": args.synthetic, "--dataset-dir": args.dataset_dir}
    with claim_output(args.out, METRICS_FILE, inputs) as out:
        images, labels, meta = load_synthetic(args.synthetic, args.dataset_dir)
        finished_runs = out.parent / f".{out.name}.partial"
        record = evaluate_synthetic(
            images, labels, meta, args.dataset_dir, args.arch, config, _torch_device(args), _accel(args), finished_runs
        )
        write_metrics(out, record)
        shutil.rmtree(finished_runs, ignore_errors=True)
    text = (
        f"{args.out}: {record['cell']} × {args.arch}: {100 * record['acc_mean']:.2f} ± {100 * record['acc_std']:.2f} %"
    )
    if record["acc_conflicting_mean"] is not None:
        text += f" (conflicting {100 * record['acc_conflicting_mean']:.2f} %"
        if record["acc_aligned_mean"] is not None:
            text += f", aligned {100 * record['acc_aligned_mean']:.2f} %"
        text += ")"
    print(text + f", n={record['n_runs']}")
    return 0


def _write_table(frame, out: str, name: str, inputs: dict, flag: str = "--out") -> Path:
    """Write a report table to ``out``: new, or a ddstudy table of the same kind (its leading columns), never an
    input; claimed (and locked) before writing."""
    from ddstudy.io import write_csv
    from ddstudy.outputs import claim_output, table_kind

    with claim_output(out, table_kind(name, frame.columns), inputs, flag) as path:
        return write_csv(frame, path)


def cmd_report_bias(args: argparse.Namespace) -> int:
    from ddstudy.params import load_study
    from ddstudy.report.bias import bias_table, metrics_paths, refuse_empty

    study = load_study(args.params, args.grid)
    frame, problems = bias_table(metrics_paths(study, args.metrics_dir))
    refuse_empty(frame.empty, problems, study, args.metrics_dir)
    for problem in problems:
        print(f"ddstudy: warning: {problem}", file=sys.stderr)
    print(_write_table(frame, args.out, "bias", {"--metrics-dir": args.metrics_dir}))
    return 0


def cmd_report_ptm(args: argparse.Namespace) -> int:
    from ddstudy.outputs import check_output, table_kind
    from ddstudy.params import load_study
    from ddstudy.report.bias import metrics_paths, refuse_empty
    from ddstudy.report.ptm import ptm_tables

    study = load_study(args.params, args.grid)
    frame, cross, problems = ptm_tables(metrics_paths(study, args.metrics_dir))
    refuse_empty(frame.empty, problems, study, args.metrics_dir)
    for problem in problems:
        print(f"ddstudy: warning: {problem}", file=sys.stderr)
    inputs = {"--metrics-dir": args.metrics_dir}
    check_output(args.cross_arch, table_kind("cross-architecture", cross.columns), inputs, "--cross-arch")
    print(_write_table(frame, args.out, "PTM study", inputs))
    print(_write_table(cross, args.cross_arch, "cross-architecture", inputs, "--cross-arch"))
    return 0


def cmd_report_compare(args: argparse.Namespace) -> int:
    from ddstudy.report.compare import compare_runs, summary

    frame = compare_runs(args.metrics_a, args.metrics_b)
    if args.out:
        print(_write_table(frame, args.out, "comparison", {"metrics_a": args.metrics_a, "metrics_b": args.metrics_b}))
    print(summary(frame))
    return 0


def cmd_report_all(args: argparse.Namespace) -> int:
    from ddstudy.outputs import claim_output
    from ddstudy.params import load_study
    from ddstudy.report.study import RESULTS_FOLDER, write_report

    study = load_study(args.params, args.grid)
    inputs = {"--metrics-dir": args.metrics_dir, "--synthetic-dir": args.synthetic_dir}
    with claim_output(args.results, RESULTS_FOLDER, inputs, "--results"):
        written, problems = write_report(study, args.results, args.metrics_dir, args.synthetic_dir)
    for problem in problems:
        print(f"ddstudy: warning: {problem}", file=sys.stderr)
    print(f"{len(written)} files written under {args.results} (index: {args.results}/README.md)")
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    from ddstudy.bench import run_data_bench

    run_data_bench(n_images=args.n_images, workers=args.workers, fashion_mnist_dir=args.fashion_mnist_dir)
    return 0


def cmd_bench_nets(args: argparse.Namespace) -> int:
    from ddstudy.bench_nets import BenchSettings, run_bench

    settings = BenchSettings(**from_args(BenchSettings, args))
    run_bench(settings, as_json=args.json, fashion_mnist_dir=args.fashion_mnist_dir)
    return 0


def _add_source_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data-root", default="data/raw", help="torchvision root for mnist/cifar10 (default data/raw)")
    parser.add_argument("--download", action="store_true", help="let torchvision download mnist/cifar10 (internet)")
    parser.add_argument("--fashion-mnist-dir", help="folder with the Fashion-MNIST idx .gz files")


def _version() -> str:
    import ddstudy

    return ddstudy.__version__


class _Parser(argparse.ArgumentParser):
    """Bad flags are one line naming the problem (exit 2), like every other bad input; ``-h`` shows the usage."""

    def error(self, message: str):
        self.exit(2, f"ddstudy: error: {self.prog.removeprefix('ddstudy ')}: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    levels = ["DEBUG", "INFO", "WARNING", "ERROR"]
    parser = _Parser(prog="ddstudy", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    parser.add_argument("--log-level", default="INFO", choices=levels)
    # Leaf commands accept --log-level too (after the subcommand), without overriding the top-level default.
    common = _Parser(add_help=False)
    common.add_argument("--log-level", default=argparse.SUPPRESS, choices=levels, help="logging level (default INFO)")
    commands = parser.add_subparsers(dest="command", required=True)

    def leaf(group, name: str, **kwargs) -> argparse.ArgumentParser:
        return group.add_parser(name, parents=[common], **kwargs)

    def with_params(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
        p.add_argument("--params", default="params.yaml", help="params file (default params.yaml)")
        p.add_argument("--grid", help="grid to use instead of params' `grid`")
        return p

    params = commands.add_parser("params", help="check params.yaml").add_subparsers(dest="action", required=True)
    with_params(leaf(params, "check", help="validate params.yaml")).set_defaults(func=cmd_params_check)
    schema = leaf(
        params, "schema", help="the full params schema (registries filled in); --write updates workflow/schemas"
    )
    schema.add_argument("--write", action="store_true", help="write workflow/schemas/params.schema.yaml (Snakemake's)")
    schema.set_defaults(func=cmd_params_schema)

    plan = with_params(leaf(commands, "plan", help="jobs, FLOPs and estimated device-hours of the grid per stage"))
    plan.add_argument(
        "--device-kind", choices=["cpu", "cuda"], help="default: cpu if params say device: cpu, else cuda"
    )
    plan.set_defaults(func=cmd_plan)

    data = commands.add_parser("data", help="build and inspect dataset variants").add_subparsers(
        dest="action", required=True
    )
    build = leaf(data, "build", help="build one dataset variant (biased or clean)")
    add_flags(build, _variant_settings())
    build.add_argument(
        "--workers", type=bounded(int, 1), default=2, help="processes for the corruption bias (default 2)"
    )
    build.add_argument("--out", help="output folder (default data/datasets/<canonical name>)")
    _add_source_args(build)
    build.set_defaults(func=cmd_data_build)

    show = leaf(data, "show", help="print a variant's meta and write a sample-grid PNG")
    show.add_argument("dir", help="variant folder")
    show.add_argument("--png", help="output PNG (default results/figures/samples/<name>-samples.png, git-ignored)")
    show.add_argument("--per-class", type=bounded(int, 1), default=8)
    show.set_defaults(func=cmd_data_show)

    listing = with_params(leaf(data, "list", help="list the active grid's dataset variants"))
    listing.add_argument("--kind", choices=["all", "biased", "clean"], default="all")
    listing.set_defaults(func=cmd_data_list)

    figures = with_params(leaf(data, "figures", help="sample grids by ratio and by severity for the grid"))
    figures.add_argument("--datasets-dir", default="data/datasets")
    figures.add_argument("--out", default="results/figures/datasets")
    figures.set_defaults(func=cmd_data_figures)

    zoo = commands.add_parser("zoo", help="train and index pre-trained model zoos").add_subparsers(
        dest="action", required=True
    )
    zoo_train = leaf(zoo, "train", help="train PTMs (dataset × arch × inits) with per-epoch checkpoints")
    zoo_train.add_argument("--dataset-dir", required=True, help="a built dataset variant folder")
    zoo_train.add_argument("--arch", required=True, help="model registry name (ConvNet, AlexNet, VGG11, ...)")
    zoo_train.add_argument(
        "--init",
        required=True,
        type=comma_list(int, "--init"),
        help="init index (seeds the initial weights), or a comma list trained in one job",
    )
    zoo_train.add_argument(
        "--out", required=True, nargs="+", help="output folder per init (zoo/<dataset>/<arch>/init<i>)"
    )
    zoo_train.add_argument("--seed", type=bounded(int, 0, SEED_MAX), default=42, help="grid seed (default 42)")
    add_flags(zoo_train, _zoo_settings())
    zoo_train.add_argument("--sample-weights", help="KDE weights artifact (`ddstudy debias weights`) for --debias kde")
    _add_runtime_flags(zoo_train)
    zoo_train.set_defaults(func=cmd_zoo_train)
    zoo_index = leaf(zoo, "index", help="write <zoo-root>/<dataset>/index.json")
    zoo_index.add_argument("--zoo-root", default="zoo")
    zoo_index.add_argument("--dataset", required=True)
    zoo_index.set_defaults(func=cmd_zoo_index)
    zoo_report = with_params(leaf(zoo, "report", help="zoo.csv and accuracy-by-epoch figures for the grid"))
    zoo_report.add_argument("--zoo-root", help="default: params zoo_root")
    zoo_report.add_argument("--table", default="results/tables/zoo.csv")
    zoo_report.add_argument("--figures", default="results/figures/zoo")
    zoo_report.set_defaults(func=cmd_zoo_report)

    distill = leaf(commands, "distill", help="distil one synthetic set (a method of the registry) or select a baseline")
    distill.add_argument("--dataset-dir", required=True, help="a built dataset variant folder")
    methods = _methods()
    distill.add_argument("--method", required=True, choices=list(methods), help="the method (registry order)")
    distill.add_argument("--out", required=True, help="output folder (synthetic/<dataset>/<method>_ipc<ipc>)")
    settings = distill.add_argument_group("method settings (each method takes its own; unset: its reference default)")
    added: set[str] = set()
    for spec in methods.values():  # one flag per setting of any method; the chosen method's class applies defaults
        add_flags(settings, spec.config, omit=added, defaults=False, default_text="the method's reference value")
        added |= {f.name for f in _fields(spec.config)}
    clom = distill.add_argument_group("CLoM (pre-trained model guidance; on when any --clom-* flag is given)")
    add_flags(clom, _clom_settings(), prefix="clom-", defaults=False)
    clom.add_argument("--zoo-root", default="zoo", help="where the PTMs (and MTT's experts) are (default zoo)")
    distill.add_argument("--sample-weights", help="KDE weights artifact (`ddstudy debias weights`) for --debias kde")
    _add_runtime_flags(distill)
    distill.set_defaults(func=cmd_distill)

    debias = commands.add_parser("debias", help="bias mitigation artifacts").add_subparsers(
        dest="action", required=True
    )
    weights = leaf(debias, "weights", help="KDE sample weights of a variant's training set (debias kde)")
    weights.add_argument("--dataset-dir", required=True, help="the biased dataset variant")
    weights.add_argument("--zoo-root", default="zoo", help="where its embedding PTM is (default zoo)")
    weights.add_argument("--out", required=True, help="weights file (.npz; a .json with its record beside it)")
    add_flags(weights, _kde_settings(), prefix="kde-")
    _add_runtime_flags(weights, accel=False)
    weights.set_defaults(func=cmd_debias_weights)

    evaluate = leaf(commands, "evaluate", help="evaluate a synthetic set with fresh networks of one architecture")
    evaluate.add_argument("--synthetic", required=True, help="synthetic set folder")
    evaluate.add_argument("--dataset-dir", required=True, help="the dataset variant it was distilled from")
    evaluate.add_argument("--arch", required=True, help="evaluation architecture")
    evaluate.add_argument("--out", required=True, help="metrics JSON")
    add_flags(evaluate, _eval_settings())
    _add_runtime_flags(evaluate)
    evaluate.set_defaults(func=cmd_evaluate)

    report = commands.add_parser("report", help="aggregate results").add_subparsers(dest="action", required=True)
    report_bias = with_params(leaf(report, "bias", help="results/tables/bias_study.csv from the metrics JSONs"))
    report_bias.add_argument("--metrics-dir", default="metrics")
    report_bias.add_argument("--out", default="results/tables/bias_study.csv")
    report_bias.set_defaults(func=cmd_report_bias)
    report_ptm = with_params(leaf(report, "ptm", help="results/tables/ptm_study.csv and the cross-arch table"))
    report_ptm.add_argument("--metrics-dir", default="metrics")
    report_ptm.add_argument("--out", default="results/tables/ptm_study.csv")
    report_ptm.add_argument("--cross-arch", default="results/tables/ptm_cross_arch.csv")
    report_ptm.set_defaults(func=cmd_report_ptm)
    report_compare = leaf(report, "compare", help="two runs' metrics side by side (e.g. bf16 against fp32)")
    report_compare.add_argument("metrics_a", help="metrics folder of run A (the reference)")
    report_compare.add_argument("metrics_b", help="metrics folder of run B")
    report_compare.add_argument("--out", help="CSV with every cell (optional)")
    report_compare.set_defaults(func=cmd_report_compare)
    report_all = with_params(leaf(report, "all", help="every table, figure, metrics/ and README index"))
    report_all.add_argument("--results", default="results")
    report_all.add_argument("--metrics-dir", default="metrics")
    report_all.add_argument("--synthetic-dir", default="synthetic")
    report_all.set_defaults(func=cmd_report_all)

    bench = commands.add_parser(
        "bench",
        parents=[common],
        help="time every network hot path, fast path against the oracle (or `bench data`: dataset builds)",
        description="Network cases (see ddstudy.bench_nets): the oracle and each fast path in one process.",
    )
    add_flags(bench, _bench_settings())
    bench.add_argument("--json", action="store_true", help="one JSON object per line instead of the table")
    bench.add_argument("--fashion-mnist-dir", help="folder with the Fashion-MNIST idx .gz files")
    bench.set_defaults(func=cmd_bench_nets)
    bench_kinds = bench.add_subparsers(dest="what")
    bench_data = leaf(bench_kinds, "data", help="time building one 60k-sample variant of each bias kind")
    bench_data.add_argument("--n-images", type=bounded(int, 1), default=60000)
    bench_data.add_argument("--workers", type=bounded(int, 1), default=2)
    bench_data.add_argument("--fashion-mnist-dir")
    bench_data.set_defaults(func=cmd_bench)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as stop:  # a bad flag (one line already printed), --help or --version: the exit code
        return stop.code if isinstance(stop.code, int) else 2
    logging.basicConfig(
        level=getattr(logging, args.log_level),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        code = args.func(args)
        sys.stdout.flush()  # a closed pipe shows here, inside the handler below, not at interpreter exit
        return code
    except DDStudyError as err:
        print(f"ddstudy: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("ddstudy: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader went away (`ddstudy data list | head`): stop quietly with the status a shell expects of a
        # program ended by SIGPIPE (128 + 13), and keep Python from complaining about stdout at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141


if __name__ == "__main__":
    sys.exit(main())
