# Data stage: one job per dataset variant (biased or clean) + sample-grid figures.
import os


rule biased_dataset:
    """One biased variant (CMNIST-DD colour or CCIFAR10-DD corruption bias) at one ratio and severity."""
    output:
        directory(f"{DATASETS_DIR}/{{variant}}"),
    wildcard_constraints:
        variant=names_regex(v.name for v in STUDY.biased),
    params:
        ddstudy=DDSTUDY,
        args=lambda wildcards: build_args(STUDY.variant(wildcards.variant), STUDY.sources),
    log:
        "logs/data/{variant}.log",
    threads: STUDY.workers
    resources:
        **job_resources(STUDY, "biased_dataset"),
        runtime=30,
    conda:
        ENV
    shell:
        "{params.ddstudy} data build {params.args} --workers {threads} --out {output} > {log} 2>&1"


rule clean_dataset:
    """A clean source in the same storage format (attrs = -1), for the unbiased baselines."""
    output:
        directory(f"{DATASETS_DIR}/{{variant}}"),
    wildcard_constraints:
        variant=names_regex(v.name for v in STUDY.clean),
    params:
        ddstudy=DDSTUDY,
        args=lambda wildcards: build_args(STUDY.variant(wildcards.variant), STUDY.sources),
    log:
        "logs/data/{variant}.log",
    resources:
        **job_resources(STUDY, "clean_dataset"),
        runtime=15,
    conda:
        ENV
    shell:
        "{params.ddstudy} data build {params.args} --out {output} > {log} 2>&1"


if DATASET_FIGURES:  # a grid without biased variants has no sample figures

    rule dataset_figures:
        """Sample grids: rows = classes, columns = bias-aligned ratio; and the aligned attribute by severity."""
        input:
            expand(f"{DATASETS_DIR}/{{variant}}", variant=[v.name for v in STUDY.biased]),
        output:
            [report(path, **in_report("Datasets"), labels={"figure": figure_label(path)}) for path in DATASET_FIGURES],
        params:
            ddstudy=DDSTUDY,
            grid=STUDY.grid,
            datasets=lambda wildcards, input: os.path.dirname(input[0]),
            out=lambda wildcards, output: os.path.dirname(output[0]),
        log:
            "logs/data/figures.log",
        resources:
            **job_resources(STUDY, "figures"),
            runtime=15,
        conda:
            ENV
        shell:
            "{params.ddstudy} data figures --grid {params.grid} --datasets-dir {params.datasets} "
            "--out {params.out} > {log} 2>&1"


rule datasets:
    """Target: every dataset variant of the active grid and its figures."""
    input:
        expand(f"{DATASETS_DIR}/{{variant}}", variant=[v.name for v in STUDY.variants]),
        DATASET_FIGURES,
