# Zoo stage: one job per PTM (block × init, a block = dataset/arch[/debias-<mode>]; with `vectorize` one per block),
# the KDE sample weights (from a zoo PTM's embedding; read by debias-kde cells and experts), an index per dataset,
# the zoo table and figures.
import os


if not STUDY.accel.vectorize:

    rule zoo_model:
        """Train one PTM with the grid's recipe, keeping checkpoints at the requested epochs (resumes after a crash)."""
        input:
            dataset=lambda wildcards: f"{DATASETS_DIR}/{wildcards.block.split('/')[0]}",
            weights=lambda wildcards: zoo_weights_inputs(STUDY, WEIGHTS_DIR, wildcards.block, [wildcards.init]),
        output:
            directory(f"{ZOO_ROOT}/{{block}}/init{{init}}"),
        wildcard_constraints:
            block=names_regex(sorted({m.block for m in STUDY.zoo})),
            init=r"\d+",
        params:
            ddstudy=DDSTUDY,
            args=lambda wildcards: zoo_train_args(STUDY.zoo_at(wildcards.block, wildcards.init)),
            weights=lambda wildcards, input: f"--sample-weights {input.weights[0]}" if input.weights else "",
            device=STUDY.device,
            accel=ACCEL,
            timing=lambda wildcards: zoo_timing_file(BENCHMARKS_DIR, wildcards.block, [wildcards.init]),
        log:
            "logs/zoo/{block}/init{init}.log",
        benchmark:
            f"{BENCHMARKS_DIR}/zoo/{{block}}/init{{init}}.tsv"
        threads: STUDY.threads["zoo"]
        resources:
            **job_resources(STUDY, "zoo_model", gpu=True),
            runtime=lambda wildcards: zoo_minutes(STUDY, wildcards.block, wildcards.init),
        conda:
            ENV
        shell:
            "{params.ddstudy} zoo train {params.args} --device {params.device} {params.accel} --threads {threads} "
            "--dataset-dir {input.dataset} {params.weights} --timing {params.timing} --out {output} > {log} 2>&1"

else:
    # `vectorize`: the inits of a block train together in one job (stacked networks); one rule per set of inits,
    # its wildcard `block` = dataset/arch[/debias-<mode>].
    for _inits, _blocks in zoo_blocks(STUDY).items():

        rule:
            name:
                inits_rule_name(_inits)
            input:
                dataset=lambda wildcards: f"{DATASETS_DIR}/{wildcards.block.split('/')[0]}",
                weights=lambda wildcards, inits=_inits: zoo_weights_inputs(STUDY, WEIGHTS_DIR, wildcards.block, inits),
            output:
                [directory(f"{ZOO_ROOT}/{{block}}/init{i}") for i in _inits],
            wildcard_constraints:
                block=names_regex(_blocks),
            params:
                ddstudy=DDSTUDY,
                args=lambda wildcards, inits=_inits: zoo_train_args(STUDY.zoo_at(wildcards.block, inits[0]), inits),
                weights=lambda wildcards, input: f"--sample-weights {input.weights[0]}" if input.weights else "",
                device=STUDY.device,
                accel=ACCEL,
                timing=lambda wildcards, inits=_inits: zoo_timing_file(BENCHMARKS_DIR, wildcards.block, inits),
            log:
                "logs/zoo/{block}/inits.log",
            benchmark:
                f"{BENCHMARKS_DIR}/zoo/{{block}}/{zoo_job_name(_inits)}.tsv"
            threads: STUDY.threads["zoo"]
            resources:
                **job_resources(STUDY, "zoo_model", gpu=True),
                runtime=lambda wildcards, inits=_inits: sum(zoo_minutes(STUDY, wildcards.block, i) for i in inits),
            conda:
                ENV
            shell:
                "{params.ddstudy} zoo train {params.args} --device {params.device} {params.accel} "
                "--threads {threads} --dataset-dir {input.dataset} {params.weights} --timing {params.timing} "
                "--out {output} > {log} 2>&1"


rule kde_weights:
    """The KDE sample weights of one dataset variant's training set, from the embedding of its own zoo PTM (debias
    `kde`; computed once, read by every cell and every debiased MTT expert that uses them)."""
    input:
        dataset=f"{DATASETS_DIR}/{{dataset}}",
        ptm=lambda wildcards: kde_ptm_dir(STUDY, ZOO_ROOT, wildcards.dataset, wildcards.name),
    output:
        npz=f"{WEIGHTS_DIR}/{{dataset}}/{{name}}.npz",
        json=f"{WEIGHTS_DIR}/{{dataset}}/{{name}}.json",
    wildcard_constraints:
        dataset=names_regex(sorted({n.split("/")[0] for n in STUDY.weights_names})),
        name=names_regex(sorted({n.split("/")[1] for n in STUDY.weights_names})),
    params:
        ddstudy=DDSTUDY,
        args=lambda wildcards: kde_args(STUDY, wildcards.dataset, wildcards.name),
        zoo_root=ZOO_ROOT,
        device=STUDY.device,
        timing=lambda wildcards: timing_file(BENCHMARKS_DIR, "weights", f"{wildcards.dataset}/{wildcards.name}"),
    log:
        "logs/weights/{dataset}/{name}.log",
    benchmark:
        f"{BENCHMARKS_DIR}/weights/{{dataset}}/{{name}}.tsv"
    threads: STUDY.threads["distill"]
    resources:
        **job_resources(STUDY, "distill", gpu=True),
    conda:
        ENV
    shell:
        "{params.ddstudy} debias weights {params.args} --zoo-root {params.zoo_root} --device {params.device} "
        "--threads {threads} --dataset-dir {input.dataset} --timing {params.timing} --out {output.npz} > {log} 2>&1"


rule zoo_index:
    """Every checkpoint of one dataset's zoo with its accuracies (zoo/<dataset>/index.json)."""
    input:
        lambda wildcards: [
            f"{ZOO_ROOT}/{m.block}/init{m.job.init}"
            for m in STUDY.zoo
            if m.job.dataset == wildcards.dataset
        ],
    output:
        f"{ZOO_ROOT}/{{dataset}}/index.json",
    wildcard_constraints:
        dataset=names_regex(STUDY.zoo_datasets),
    params:
        ddstudy=DDSTUDY,
        zoo_root=lambda wildcards, output: os.path.dirname(os.path.dirname(output[0])),
    log:
        "logs/zoo/{dataset}/index.log",
    resources:
        **job_resources(STUDY, "tables"),
    conda:
        ENV
    shell:
        "{params.ddstudy} zoo index --zoo-root {params.zoo_root} --dataset {wildcards.dataset} > {log} 2>&1"


if STUDY.zoo:

    rule zoo_report:
        """results/tables/zoo.csv and the PTM accuracy-by-epoch figures."""
        input:
            [f"{ZOO_ROOT}/{d}/index.json" for d in STUDY.zoo_datasets],
        output:
            table=report(f"{TABLES_DIR}/zoo.csv", **in_report("PTM zoo"), labels={"table": "zoo"}),
            figures=[
                report(p, **in_report("PTM zoo"), labels={"figure": figure_label(p)}) for p in ZOO_FIGURES
            ],
        params:
            ddstudy=DDSTUDY,
            grid=STUDY.grid,
            zoo_root=lambda wildcards, input: os.path.dirname(os.path.dirname(input[0])),
            figures=lambda wildcards, output: os.path.dirname(output.figures[0]),
        log:
            "logs/zoo/report.log",
        resources:
            **job_resources(STUDY, "tables"),
        conda:
            ENV
        shell:
            "{params.ddstudy} zoo report --grid {params.grid} --zoo-root {params.zoo_root} "
            "--table {output.table} --figures {params.figures} > {log} 2>&1"


rule zoo:
    """Target: every PTM of the active grid, the KDE weights, the indexes, the table and figures (DVC stage `zoo`)."""
    input:
        [f"{ZOO_ROOT}/{d}/index.json" for d in STUDY.zoo_datasets],
        [f"{WEIGHTS_DIR}/{n}.npz" for n in STUDY.weights_names],
        [f"{TABLES_DIR}/zoo.csv"] + ZOO_FIGURES if STUDY.zoo else [],
