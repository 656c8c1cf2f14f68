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


# Deep ensembles (train.ensemble_size > 1): members as their own jobs, then one combining job.
# With ensemble_size 1 (the default) nothing is included: the DAG and file names are the above.
if config["train"]["ensemble_size"] > 1:

    include: "ensemble.smk"
