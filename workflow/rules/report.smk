# Report: results/ (Markdown tables, study figures, metrics/, the README index) from the metrics JSONs.
import os


rule report:
    """results/: Markdown tables, study figures, metrics/ (DVC metrics, a JSON per row) and the README index."""
    input:
        METRICS_FILES,
        DATASET_FIGURES,
        [f"{TABLES_DIR}/zoo.csv"] + ZOO_FIGURES if STUDY.zoo else [],
        [f"{TABLES_DIR}/bias_study.csv"] if STUDY.evaluations else [],
        [f"{TABLES_DIR}/ptm_study.csv", f"{TABLES_DIR}/ptm_cross_arch.csv"] if STUDY.uses_clom else [],
    output:
        index=f"{RESULTS_DIR}/README.md",
        metrics=directory(f"{RESULTS_DIR}/metrics"),
        tables=report_table_files(STUDY, TABLES_DIR),  # ddstudy.report.catalog.REPORT_TABLES
        figures=report(directory(f"{FIGURES_DIR}/bias"), **in_report("Bias study"), patterns=["{name}.png"]),
        ptm_figures=report(directory(f"{FIGURES_DIR}/ptm"), **in_report("PTM study"), patterns=["{name}.png"]),
        synthetic=report(directory(f"{FIGURES_DIR}/synthetic"), **in_report("Synthetic sets"), patterns=["{name}.png"]),
        debias_figures=report(directory(f"{FIGURES_DIR}/debias"), **in_report("Bias mitigation"), patterns=["{name}.png"]),
    params:
        ddstudy=DDSTUDY,
        grid=STUDY.grid,
        results=lambda wildcards, output: os.path.dirname(output.index),
        metrics=lambda wildcards, input: folder_of(input[: len(METRICS_FILES)], METRICS_DEPTH) or METRICS_DIR,
        synthetic=SYNTHETIC_DIR,
    log:
        "logs/report/report.log",
    resources:
        **job_resources(STUDY, "tables"),
    conda:
        ENV
    shell:
        "{params.ddstudy} report all --grid {params.grid} --results {params.results} --metrics-dir {params.metrics} "
        "--synthetic-dir {params.synthetic} > {log} 2>&1"
