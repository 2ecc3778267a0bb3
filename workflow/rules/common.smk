# Shared by every rule file: the validated, expanded study grid. Python helpers live in ddstudy.workflow.
import os

from snakemake.exceptions import WorkflowError
from snakemake.utils import validate

from ddstudy.study import load_params, study_from_params, validate_params
from ddstudy.distill.registry import DISTILLING
from ddstudy.errors import DDStudyError
from ddstudy.timing import timing_file
from ddstudy.zoo.store import zoo_job_name, zoo_timing_file
from ddstudy.report.catalog import dataset_figure_plan, report_table_files, zoo_figure_path
from ddstudy.report.records import metrics_paths
from ddstudy.workflow import (
    DDSTUDY,
    accel_args,
    build_args,
    distill_minutes,
    evaluate_minutes,
    figure_label,
    folder_of,
    in_report,
    job_resources,
    job_settings,
    names_regex,
    inits_rule_name,
    kde_args,
    kde_ptm_dir,
    weights_inputs,
    zoo_weights_inputs,
    zoo_blocks,
    zoo_minutes,
    zoo_train_args,
)

try:
    for _file in workflow.configfiles:  # Snakemake's YAML keeps the last of a key given twice; ours refuses it
        load_params(_file)
    validate_params(config, source="params.yaml (+ --config)")  # one line naming the key, before anything else
except DDStudyError as err:
    raise WorkflowError(str(err)) from None
# The same schema (generated from the registries: `ddstudy params schema --write`), Snakemake's own check, which
# also fills in the defaults — before the grid is expanded.
validate(config, "../schemas/params.schema.yaml")
try:
    STUDY = study_from_params(config, source="params.yaml (+ --config)")
except DDStudyError as err:
    raise WorkflowError(str(err)) from None

_defaults = getattr(getattr(workflow, "resource_settings", None), "default_resources", None)
for _arg in getattr(_defaults, "args", None) or []:
    _name, _, _value = _arg.partition("=")
    if "$" in os.path.expandvars(_value):  # a profile value whose environment variable is unset (Slurm partition)
        _variable = _value.strip("'\"").lstrip("$").strip("{}")
        raise WorkflowError(f"resource {_name} is {_value}: set it, e.g. `export {_variable}=<name>`, and rerun")

ACCEL = accel_args(STUDY.accel)  # --compile/--no-compile --precision: how networks run in every training job
DATASETS_DIR = "data/datasets"
RESULTS_DIR = STUDY.results_dir  # results/, or the grid's own folder (params `outputs`, e.g. results/repro)
FIGURES_DIR = f"{RESULTS_DIR}/figures"
TABLES_DIR = f"{RESULTS_DIR}/tables"
ZOO_ROOT = STUDY.zoo_dir
SYNTHETIC_DIR = STUDY.synthetic_dir
METRICS_DIR = STUDY.metrics_dir
METRICS_DEPTH = len(METRICS_DIR.split("/"))
# Wall time, CPU time and peak memory of every distillation, evaluation, zoo and KDE weights job (Snakemake's
# benchmark TSVs): kept beside a grid's own outputs (the wall time per cell of docs/reproduction.md), else with the
# logs.
BENCHMARKS_DIR = STUDY.benchmarks_dir
WEIGHTS_DIR = STUDY.weights_dir  # KDE sample weights (debias kde), one file per dataset variant and embedding
ENV = "../../environment.yml"  # used with --use-conda / --sdm conda on GPU nodes
DATASET_FIGURES = sorted(str(p) for p in dataset_figure_plan(STUDY, f"{FIGURES_DIR}/datasets"))
ZOO_FIGURES = [str(zoo_figure_path(f"{FIGURES_DIR}/zoo", d)) for d in STUDY.zoo_datasets]
METRICS_FILES = [str(p) for p in metrics_paths(STUDY, METRICS_DIR)]

