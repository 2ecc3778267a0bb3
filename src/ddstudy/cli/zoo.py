"""``ddstudy zoo train|index|report``: pre-trained model zoos (per-epoch checkpoints) and their accuracy figures."""

from __future__ import annotations

import argparse

from ddstudy.cli.options import (
    accel_of,
    actions,
    add_runtime_flags,
    add_timing_flag,
    leaf,
    report_removed,
    torch_device,
    with_params,
    write_table,
)
from ddstudy.errors import DDStudyError
from ddstudy.knobs import SEED_MAX, add_flags, bounded, comma_list, from_args

COMMANDS = {"zoo": "train and index pre-trained model zoos"}


def train(args: argparse.Namespace) -> int:
    from ddstudy.data.store import load_variant
    from ddstudy.models import check_model_name
    from ddstudy.timing import Segments, check_timing_path, write_timing
    from ddstudy.zoo.train import ZooJob, ZooTrainConfig, train_zoo_models

    config = ZooTrainConfig(**from_args(ZooTrainConfig, args))
    inits = args.init
    if len(inits) != len(args.out):
        raise DDStudyError(f"--init names {len(inits)} init(s) but --out {len(args.out)} folder(s); give one each")
    if len(set(inits)) != len(inits):
        raise DDStudyError(f"--init {','.join(map(str, inits))}: trained together, the inits must be distinct")
    check_model_name(args.arch)
    inputs = {"--dataset-dir": args.dataset_dir, "--sample-weights": args.sample_weights}
    timing = check_timing_path(args.timing, args.out, inputs)
    segments = Segments("epochs")
    dataset = load_variant(args.dataset_dir, verify=False).info.name
    jobs = [ZooJob(dataset, args.arch, init, args.seed) for init in inits]
    runs = train_zoo_models(
        jobs, args.dataset_dir, args.out, config, torch_device(args), accel=accel_of(args),
        weights_path=args.sample_weights, segments=segments,
    )  # fmt: skip
    write_timing(timing, segments)
    for out, job, run in zip(args.out, jobs, runs, strict=True):
        last = run["history"][-1]
        print(
            f"{out}: {job.arch} init{job.init} on {dataset}, {len(run['epochs_saved'])} checkpoints; "
            f"epoch {last['epoch']} train acc {last['train_acc']:.3f}"
            + (f", test acc {last['test']['acc']:.3f}" if last.get("test") else "")
        )
    return 0


def index(args: argparse.Namespace) -> int:
    from ddstudy.zoo.store import write_zoo_index

    print(write_zoo_index(args.zoo_root, args.dataset))
    return 0


def report(args: argparse.Namespace) -> int:
    from ddstudy.io import prune_stale
    from ddstudy.outputs import FIGURE_FOLDER, check_output, claim_output
    from ddstudy.report.catalog import zoo_figure_path
    from ddstudy.report.zoo import plot_zoo_accuracy, zoo_frame
    from ddstudy.study import load_study

    study = load_study(args.params, args.grid)
    zoo_root = args.zoo_root or study.zoo_root
    frame = zoo_frame(zoo_root, list(study.zoo_datasets))
    inputs = {"--zoo-root": zoo_root}
    check_output(args.figures, FIGURE_FOLDER, inputs, "--figures")
    print(write_table(frame, args.table, "zoo", inputs, "--table"))
    with claim_output(args.figures, FIGURE_FOLDER, inputs, "--figures"):
        written = [plot_zoo_accuracy(frame, d, zoo_figure_path(args.figures, d)) for d in study.zoo_datasets]
    for path in written:
        print(path)
    report_removed(prune_stale(args.figures, "*-accuracy-by-epoch.png", written))
    return 0


def register(name: str, parser: argparse.ArgumentParser) -> None:
    from ddstudy.zoo.train import ZooTrainConfig

    zoo = actions(parser)
    trained = leaf(zoo, "train", help="train PTMs (dataset × arch × inits) with per-epoch checkpoints")
    trained.add_argument("--dataset-dir", required=True, help="a built dataset variant folder")
    trained.add_argument("--arch", required=True, help="model registry name (ConvNet, AlexNet, VGG11, ...)")
    trained.add_argument(
        "--init",
        required=True,
        type=comma_list(int, "--init"),
        help="init index (seeds the initial weights), or a comma list trained in one job",
    )
    trained.add_argument(
        "--out", required=True, nargs="+", help="output folder per init (zoo/<dataset>/<arch>/init<i>)"
    )
    trained.add_argument("--seed", type=bounded(int, 0, SEED_MAX), default=42, help="grid seed (default 42)")
    add_flags(trained, ZooTrainConfig)
    trained.add_argument("--sample-weights", help="KDE weights artifact (`ddstudy debias weights`) for --debias kde")
    add_runtime_flags(trained)
    add_timing_flag(trained)
    trained.set_defaults(func=train)
    indexed = leaf(zoo, "index", help="write <zoo-root>/<dataset>/index.json")
    indexed.add_argument("--zoo-root", default="zoo")
    indexed.add_argument("--dataset", required=True)
    indexed.set_defaults(func=index)
    reported = with_params(leaf(zoo, "report", help="zoo.csv and accuracy-by-epoch figures for the grid"))
    reported.add_argument("--zoo-root", help="default: params zoo_root")
    reported.add_argument("--table", default="results/tables/zoo.csv")
    reported.add_argument("--figures", default="results/figures/zoo")
    reported.set_defaults(func=report)
