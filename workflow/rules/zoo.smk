# Zoo stage: one job per PTM (dataset × arch × init; with `vectorize` one per dataset × arch), an index per dataset, the zoo table and figures.
import os


if not STUDY.accel.vectorize:

    rule zoo_model:
        """Train one PTM with the grid's recipe, keeping checkpoints at the requested epochs (resumes after a crash)."""
        input:
            f"{DATASETS_DIR}/{{dataset}}",
        output:
            directory(f"{ZOO_ROOT}/{{dataset}}/{{arch}}/init{{init}}"),
        wildcard_constraints:
            dataset=names_regex(STUDY.zoo_datasets),
            arch=names_regex(sorted({m.job.arch for m in STUDY.zoo})),
            init=r"\d+",
        params:
            ddstudy=DDSTUDY,
            args=lambda wildcards: zoo_train_args(STUDY.zoo_model(wildcards.dataset, wildcards.arch, wildcards.init)),
            device=STUDY.device,
            accel=ACCEL,
        log:
            "logs/zoo/{dataset}/{arch}/init{init}.log",
        threads: STUDY.threads["zoo"]
        resources:
            **job_resources(STUDY, "zoo_model", gpu=True),
            runtime=lambda wildcards: zoo_minutes(STUDY, wildcards.dataset, wildcards.arch, wildcards.init),
        conda:
            ENV
        shell:
            "{params.ddstudy} zoo train {params.args} --device {params.device} {params.accel} --threads {threads} "
            "--dataset-dir {input} --out {output} > {log} 2>&1"

else:
    # `vectorize`: the inits of a (dataset, architecture) block train together in one job (stacked networks);
    # one rule per set of inits, its wildcard `block` = dataset/arch.
    for _inits, _blocks in zoo_blocks(STUDY).items():

        rule:
            name:
                inits_rule_name(_inits)
            input:
                lambda wildcards: f"{DATASETS_DIR}/{wildcards.block.split('/')[0]}",
            output:
                [directory(f"{ZOO_ROOT}/{{block}}/init{i}") for i in _inits],
            wildcard_constraints:
                block=names_regex(_blocks),
            params:
                ddstudy=DDSTUDY,
                args=lambda wildcards, inits=_inits: zoo_train_args(
                    STUDY.zoo_model(*wildcards.block.split("/"), inits[0]), inits
                ),
                device=STUDY.device,
                accel=ACCEL,
            log:
                "logs/zoo/{block}/inits.log",
            threads: STUDY.threads["zoo"]
            resources:
                **job_resources(STUDY, "zoo_model", gpu=True),
                runtime=lambda wildcards, inits=_inits: sum(
                    zoo_minutes(STUDY, *wildcards.block.split("/"), i) for i in inits
                ),
            conda:
                ENV
            shell:
                "{params.ddstudy} zoo train {params.args} --device {params.device} {params.accel} "
                "--threads {threads} --dataset-dir {input} --out {output} > {log} 2>&1"


rule zoo_index:
    """Every checkpoint of one dataset's zoo with its accuracies (zoo/<dataset>/index.json)."""
    input:
        lambda wildcards: [
            f"{ZOO_ROOT}/{m.job.dataset}/{m.job.arch}/init{m.job.init}"
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
            table=report(f"{TABLES_DIR}/zoo.csv", category="PTM zoo", labels={"table": "zoo"}),
            figures=[
                report(p, category="PTM zoo", labels={"figure": figure_label(p)}) for p in ZOO_FIGURES
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
    """Target: every PTM of the active grid, the indexes, the table and figures."""
    input:
        [f"{ZOO_ROOT}/{d}/index.json" for d in STUDY.zoo_datasets],
        [f"{TABLES_DIR}/zoo.csv"] + ZOO_FIGURES if STUDY.zoo else [],
