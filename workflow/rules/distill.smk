# Distillation: one job per synthetic set (a method of the registry: DC, DSA, DM, MTT ± CLoM ± debias, or a
# baseline); target `synthetic_sets`.


rule distill:
    """One synthetic set: DC, DSA, DM or MTT distillation (± CLoM, ± debias), or a random / herding / full baseline."""
    input:
        dataset=f"{DATASETS_DIR}/{{dataset}}",
        ptms=lambda wildcards: [
            f"{ZOO_ROOT}/{b}/init{i}" for b, i in STUDY.cell(wildcards.dataset, wildcards.setname).ptm_jobs()
        ],
        weights=lambda wildcards: weights_inputs(STUDY, WEIGHTS_DIR, wildcards.dataset, wildcards.setname),
    output:
        directory(f"{SYNTHETIC_DIR}/{{dataset}}/{{setname}}"),
    wildcard_constraints:
        dataset=names_regex(sorted({c.dataset for c in STUDY.cells})),
        setname=names_regex(sorted({c.set_name for c in STUDY.cells if c.config.method in DISTILLING})),
    params:
        ddstudy=DDSTUDY,
        settings=lambda wildcards: job_settings(STUDY, "distill", f"{wildcards.dataset}/{wildcards.setname}"),
        zoo_root=ZOO_ROOT,
        weights=lambda wildcards, input: f"--sample-weights {input.weights[0]}" if input.weights else "",
        timing=lambda wildcards: timing_file(BENCHMARKS_DIR, "distill", f"{wildcards.dataset}/{wildcards.setname}"),
    log:
        "logs/distill/{dataset}/{setname}.log",
    benchmark:
        f"{BENCHMARKS_DIR}/distill/{{dataset}}/{{setname}}.tsv"
    threads: STUDY.threads["distill"]
    resources:
        **job_resources(STUDY, "distill", gpu=True),
        runtime=lambda wildcards: distill_minutes(STUDY, wildcards.dataset, wildcards.setname),
    conda:
        ENV
    shell:
        "{params.ddstudy} distill {params.settings} --zoo-root {params.zoo_root} --threads {threads} "
        "--dataset-dir {input.dataset} {params.weights} --timing {params.timing} --out {output} > {log} 2>&1"


use rule distill as select with:
    """A random / herding / full-data baseline: a selection of real images, no GPU needed."""
    wildcard_constraints:
        dataset=names_regex(sorted({c.dataset for c in STUDY.cells})),
        setname=names_regex(sorted({c.set_name for c in STUDY.cells if c.config.method not in DISTILLING})),
    resources:
        **job_resources(STUDY, "select"),
        runtime=lambda wildcards: distill_minutes(STUDY, wildcards.dataset, wildcards.setname),


rule synthetic_sets:
    """Target: every synthetic set of the grid (DVC stage `distill`)."""
    input:
        [f"{SYNTHETIC_DIR}/{c.name}" for c in STUDY.cells],
