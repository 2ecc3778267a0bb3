# Distillation and evaluation: one job per synthetic set, one per (synthetic set × evaluation architecture),
# and the bias-study table.
import os


rule distill:
    """One synthetic set: DC, DSA or DM distillation (± CLoM), or a random / herding / full-data baseline."""
    input:
        dataset=f"{DATASETS_DIR}/{{dataset}}",
        ptms=lambda wildcards: [
            f"{ZOO_ROOT}/{d}/{a}/init{i}" for d, a, i in STUDY.cell(wildcards.dataset, wildcards.setname).ptm_jobs()
        ],
    output:
        directory(f"{SYNTHETIC_DIR}/{{dataset}}/{{setname}}"),
    wildcard_constraints:
        dataset=names_regex(sorted({c.dataset for c in STUDY.cells})),
        setname=names_regex(sorted({c.set_name for c in STUDY.cells})),
    params:
        ddstudy=DDSTUDY,
        args=lambda wildcards: distill_args(STUDY.cell(wildcards.dataset, wildcards.setname).config),
        clom=lambda wildcards: clom_args(STUDY.cell(wildcards.dataset, wildcards.setname).clom),
        zoo_root=ZOO_ROOT,
        device=STUDY.device,
    log:
        "logs/distill/{dataset}/{setname}.log",
    threads: STUDY.threads["distill"]
    resources:
        gpu=GPUS,
        mem_mb=16000,
        runtime=720,
    conda:
        ENV
    shell:
        "{params.ddstudy} distill {params.args} {params.clom} --zoo-root {params.zoo_root} --device {params.device} "
        "--threads {threads} --dataset-dir {input.dataset} --out {output} > {log} 2>&1"


rule evaluate:
    """Train fresh networks of one architecture on a synthetic set; test on the unbiased test set."""
    input:
        synthetic=f"{SYNTHETIC_DIR}/{{dataset}}/{{setname}}",
        dataset=f"{DATASETS_DIR}/{{dataset}}",
    output:
        f"{METRICS_DIR}/{{dataset}}/{{setname}}/{{arch}}.json",
    wildcard_constraints:
        dataset=names_regex(sorted({c.dataset for c in STUDY.cells})),
        setname=names_regex(sorted({c.set_name for c in STUDY.cells})),
        arch=names_regex(sorted({arch for _, arch in STUDY.evaluations})),
    params:
        ddstudy=DDSTUDY,
        args=lambda wildcards: evaluate_args(STUDY.eval_config(STUDY.cell(wildcards.dataset, wildcards.setname).config.method)),
        device=STUDY.device,
    log:
        "logs/evaluate/{dataset}/{setname}/{arch}.log",
    threads: STUDY.threads["evaluate"]
    group:
        "evaluate"
    resources:
        gpu=GPUS,
        mem_mb=8000,
        runtime=240,
    conda:
        ENV
    shell:
        "{params.ddstudy} evaluate {params.args} --device {params.device} --threads {threads} --arch {wildcards.arch} "
        "--synthetic {input.synthetic} --dataset-dir {input.dataset} --out {output} > {log} 2>&1"


if STUDY.evaluations:

    rule bias_table:
        """results/tables/bias_study.csv: every metrics record of the grid, one row each."""
        input:
            METRICS_FILES,
        output:
            report(f"{TABLES_DIR}/bias_study.csv", category="Bias study", labels={"table": "bias_study"}),
        params:
            ddstudy=DDSTUDY,
            grid=STUDY.grid,
            metrics=lambda wildcards, input: os.path.commonpath([os.path.dirname(p) for p in input]).split(os.sep)[0],
        log:
            "logs/report/bias_table.log",
        conda:
            ENV
        shell:
            "{params.ddstudy} report bias --grid {params.grid} --metrics-dir {params.metrics} --out {output} > {log} 2>&1"


if any(c.clom for c in STUDY.cells):

    rule ptm_table:
        """results/tables/ptm_study.csv (gain over no CLoM) and ptm_cross_arch.csv."""
        input:
            METRICS_FILES,
        output:
            table=report(f"{TABLES_DIR}/ptm_study.csv", category="PTM study", labels={"table": "ptm_study"}),
            cross=report(f"{TABLES_DIR}/ptm_cross_arch.csv", category="PTM study", labels={"table": "cross_arch"}),
        params:
            ddstudy=DDSTUDY,
            grid=STUDY.grid,
            metrics=lambda wildcards, input: os.path.commonpath([os.path.dirname(p) for p in input]).split(os.sep)[0],
        log:
            "logs/report/ptm_table.log",
        conda:
            ENV
        shell:
            "{params.ddstudy} report ptm --grid {params.grid} --metrics-dir {params.metrics} --out {output.table} "
            "--cross-arch {output.cross} > {log} 2>&1"


rule synthetic_sets:
    """Target: every synthetic set of the grid (DVC stage `distill`)."""
    input:
        [f"{SYNTHETIC_DIR}/{c.name}" for c in STUDY.cells],


rule evaluations:
    """Target: every evaluation of the grid and the study tables (DVC stage `evaluate`)."""
    input:
        METRICS_FILES,
        [f"{TABLES_DIR}/bias_study.csv"] if STUDY.evaluations else [],
        [f"{TABLES_DIR}/ptm_study.csv", f"{TABLES_DIR}/ptm_cross_arch.csv"] if any(c.clom for c in STUDY.cells) else [],


rule distillation:
    """Target: every synthetic set of the grid, its evaluations and the bias-study table."""
    input:
        rules.synthetic_sets.input,
        rules.evaluations.input,


rule report:
    """results/: Markdown tables, study figures, metrics.json (DVC metrics) and the README index."""
    input:
        METRICS_FILES,
        DATASET_FIGURES,
        [f"{TABLES_DIR}/zoo.csv"] + ZOO_FIGURES if STUDY.zoo else [],
        [f"{TABLES_DIR}/bias_study.csv"] if STUDY.evaluations else [],
        [f"{TABLES_DIR}/ptm_study.csv", f"{TABLES_DIR}/ptm_cross_arch.csv"] if any(c.clom for c in STUDY.cells) else [],
    output:
        index="results/README.md",
        metrics="results/metrics.json",
        tables=[f"{TABLES_DIR}/bias_study.md"]
        + ([f"{TABLES_DIR}/ptm_study.md"] if any(c.clom for c in STUDY.cells) else [])
        + ([f"{TABLES_DIR}/zoo.md"] if STUDY.zoo else []),
        figures=directory(f"{FIGURES_DIR}/bias"),
        ptm_figures=directory(f"{FIGURES_DIR}/ptm"),
        synthetic=directory(f"{FIGURES_DIR}/synthetic"),
    params:
        ddstudy=DDSTUDY,
        grid=STUDY.grid,
        results=lambda wildcards, output: os.path.dirname(output.index),
        metrics=lambda wildcards, input: input[0].split(os.sep)[0] if METRICS_FILES else "metrics",
        synthetic=SYNTHETIC_DIR,
    log:
        "logs/report/report.log",
    conda:
        ENV
    shell:
        "{params.ddstudy} report all --grid {params.grid} --results {params.results} --metrics-dir {params.metrics} "
        "--synthetic-dir {params.synthetic} > {log} 2>&1"
