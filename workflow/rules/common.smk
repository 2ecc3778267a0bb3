# Shared by every rule file: the validated, expanded study grid. Python helpers live in ddstudy.workflow.
from snakemake.exceptions import WorkflowError
from snakemake.utils import validate

from ddstudy.config import study_from_params
from ddstudy.errors import DDStudyError
from ddstudy.report.samples import dataset_figure_plan
from ddstudy.workflow import DDSTUDY, build_args, figure_label, names_regex

try:
    STUDY = study_from_params(config, source="params.yaml (+ --config)")
except DDStudyError as err:
    raise WorkflowError(str(err)) from None
validate(config, "../schemas/params.schema.yaml")  # same schema, Snakemake's own check (fills defaults too)

DATASETS_DIR = "data/datasets"
FIGURES_DIR = "results/figures"
ENV = "../../environment.yml"  # used with --use-conda / --sdm conda on GPU nodes
DATASET_FIGURES = sorted(str(p) for p in dataset_figure_plan(STUDY, f"{FIGURES_DIR}/datasets"))
