# Evaluation: one job per (synthetic set × evaluation architecture), the bias- and PTM-study tables;
# target `evaluations` (and `distillation`: synthetic sets and their evaluations).


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
        settings=lambda wildcards: job_settings(STUDY, "evaluate", f"{wildcards.dataset}/{wildcards.setname}"),
        timing=lambda wildcards: timing_file(
            BENCHMARKS_DIR, "evaluate", f"{wildcards.dataset}/{wildcards.setname}", wildcards.arch
        ),
    log:
        "logs/evaluate/{dataset}/{setname}/{arch}.log",
    benchmark:
        f"{BENCHMARKS_DIR}/evaluate/{{dataset}}/{{setname}}/{{arch}}.tsv"
    threads: STUDY.threads["evaluate"]
    group:
        "evaluate"
    resources:
        **job_resources(STUDY, "evaluate", gpu=True),
        runtime=lambda wildcards: evaluate_minutes(STUDY, wildcards.dataset, wildcards.setname, wildcards.arch),
    conda:
        ENV
    shell:
        "{params.ddstudy} evaluate {params.settings} --threads {threads} --arch {wildcards.arch} "
        "--synthetic {input.synthetic} --dataset-dir {input.dataset} --timing {params.timing} --out {output} > {log} 2>&1"


if STUDY.evaluations:

    rule bias_table:
        """results/tables/bias_study.csv: every metrics record of the grid, one row each."""
        input:
            METRICS_FILES,
        output:
            report(f"{TABLES_DIR}/bias_study.csv", **in_report("Bias study"), labels={"table": "bias_study"}),
        params:
            ddstudy=DDSTUDY,
            grid=STUDY.grid,
            metrics=lambda wildcards, input: folder_of(input, METRICS_DEPTH),
        log:
            "logs/report/bias_table.log",
        resources:
            **job_resources(STUDY, "tables"),
        conda:
            ENV
        shell:
            "{params.ddstudy} report bias --grid {params.grid} --metrics-dir {params.metrics} --out {output} > {log} 2>&1"


if STUDY.uses_clom:

    rule ptm_table:
        """results/tables/ptm_study.csv (gain over no CLoM) and ptm_cross_arch.csv."""
        input:
            METRICS_FILES,
        output:
            table=report(f"{TABLES_DIR}/ptm_study.csv", **in_report("PTM study"), labels={"table": "ptm_study"}),
            cross=report(f"{TABLES_DIR}/ptm_cross_arch.csv", **in_report("PTM study"), labels={"table": "cross_arch"}),
        params:
            ddstudy=DDSTUDY,
            grid=STUDY.grid,
            metrics=lambda wildcards, input: folder_of(input, METRICS_DEPTH),
        log:
            "logs/report/ptm_table.log",
        resources:
            **job_resources(STUDY, "tables"),
        conda:
            ENV
        shell:
            "{params.ddstudy} report ptm --grid {params.grid} --metrics-dir {params.metrics} --out {output.table} "
            "--cross-arch {output.cross} > {log} 2>&1"


rule evaluations:
    """Target: every evaluation of the grid and the study tables (DVC stage `evaluate`)."""
    input:
        METRICS_FILES,
        [f"{TABLES_DIR}/bias_study.csv"] if STUDY.evaluations else [],
        [f"{TABLES_DIR}/ptm_study.csv", f"{TABLES_DIR}/ptm_cross_arch.csv"] if STUDY.uses_clom else [],


rule distillation:
    """Target: every synthetic set of the grid, its evaluations and the bias-study table."""
    input:
        rules.synthetic_sets.input,
        rules.evaluations.input,
