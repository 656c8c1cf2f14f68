# Stage 4: the four networks (paper Sects. 4-5). hybrid_transfer starts from the trained MLP and CNN.


rule train_network:
    input:
        unpack(training_inputs),
    output:
        model="results/models/{net}.pt",
        history="results/models/{net}_history.csv",
        predictions="results/predictions/{net}.parquet",
        pdfs="results/pdfs/{net}.hdf5",
    params:
        # this network's settings only: train.threads, gpus, device and the networks list are
        # not params (threads/resources below; the script reads train.device from the config)
        settings=training_settings,
        instrument=config["instrument"],
        seed=config["seed"],
    conda:
        "../envs/photoz.yaml"
    log:
        "logs/train_network/{net}.log",
    benchmark:
        "benchmarks/train_network/{net}.tsv"
    threads: config["train"]["threads"]
    priority: training_priority
    resources:
        mem_mb=4000,
        runtime=120,
        gpu=config["train"]["gpus"],
    script:
        "../scripts/train_network.py"


# ---- several train:test ratios (catalog.train_test_ratio a list; photoz.splits). The first
# ratio's networks are train_network's above, at the one-ratio paths; each further ratio gets its
# own photometry table (the same rows, that ratio's split) and the same trainings under r<a>-<b>/.
# With one ratio no job of these rules is planned.


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


use rule train_network as train_network_ratio with:
    input:
        unpack(ratio_training_inputs),
    output:
        model="results/models/r{ratio}/{net}.pt",
        history="results/models/r{ratio}/{net}_history.csv",
        predictions="results/predictions/r{ratio}/{net}.parquet",
        pdfs="results/pdfs/r{ratio}/{net}.hdf5",
    log:
        "logs/train_network/r{ratio}/{net}.log",
    benchmark:
        "benchmarks/train_network/r{ratio}/{net}.tsv"
