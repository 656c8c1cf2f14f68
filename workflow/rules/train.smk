# Stage 4: the four networks (paper Sects. 4-5). hybrid_transfer starts from the trained MLP and CNN.


rule train_network:
    input:
        unpack(training_inputs),
    output:
        # {ratio_dir}: empty for the first train:test ratio (the one-ratio paths), r<a>-<b>/ for
        # each further one (common.smk RATIO_TAGS)
        model="results/models/{ratio_dir}{net}.pt",
        history="results/models/{ratio_dir}{net}_history.csv",
        predictions="results/predictions/{ratio_dir}{net}.parquet",
        pdfs="results/pdfs/{ratio_dir}{net}.hdf5",
    params:
        # this network's settings only: train.threads, gpus, device and the networks list are
        # not params (threads/resources below; the script reads train.device from the config)
        settings=training_settings,
        instrument=config["instrument"],
        seed=config["seed"],
    conda:
        "../envs/photoz.yaml"
    log:
        "logs/train_network/{ratio_dir}{net}.log",
    benchmark:
        "benchmarks/train_network/{ratio_dir}{net}.tsv"
    threads: config["train"]["threads"]
    priority: training_priority
    resources:
        mem_mb=4000,
        runtime=120,
        gpu=config["train"]["gpus"],
    script:
        "../scripts/train_network.py"


# ---- several train:test ratios (catalog.train_test_ratio a list; photoz.catalog.splits). The first
# ratio's networks are train_network's jobs at the one-ratio paths; each further ratio gets its own
# photometry table (the same rows, that ratio's split), which train_network's jobs under
# r<a>-<b>/ read. With one ratio no job of this rule is planned.


rule split_ratio:
    input:
        photometry="results/photometry/photometry.parquet",
        truth="results/catalog/truth.parquet",
    output:
        photometry="results/photometry/r{ratio}/photometry.parquet",
    params:
        ratio=lambda wildcards: wildcards.ratio.replace("-", ":"),
        catalog=split_settings(),
        seed=config["seed"],
    conda:
        "../envs/photoz.yaml"
    log:
        "logs/split_ratio/r{ratio}.log",
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    script:
        "../scripts/split_ratio.py"


# Deep ensembles (train.ensemble_size > 1): members as their own jobs, then one combining job.
# With ensemble_size 1 (the default) nothing is included: the DAG and file names are the above.
if config["train"]["ensemble_size"] > 1:

    include: "ensemble.smk"
