# ddstudy workflow. Grid and every setting: params.yaml (validated against workflow/schemas/params.schema.yaml).
#   snakemake --cores 2                      # the active grid (params.yaml `grid`, demo by default)
#   snakemake --cores 2 --config grid=paper  # the papers' grid
#   snakemake -n --config grid=paper         # plan only
from snakemake.utils import min_version

min_version("9.0")


configfile: "params.yaml"


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/zoo.smk"
include: "workflow/rules/distill.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/report.smk"


rule all:
    default_target: True
    input:
        rules.datasets.input,
        rules.zoo.input,
        rules.distillation.input,
        rules.report.output,
