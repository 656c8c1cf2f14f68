# Deep ensembles (photoz.train.ensemble; included by train.smk only when train.ensemble_size > 1): each
# network trained ensemble_size times, member k with seed seed + k (hybrid_transfer's member k from
# the MLP's and CNN's member k), each a separate job; combine_ensemble then writes the network's
# usual products (results/models/<net>.pt, predictions, pdfs) from the members' mixture.
include: "ensemble_common.smk"


# The network's products come from combine_ensemble, never from a single train_network job.
ruleorder: combine_ensemble > train_network


rule train_member:
    input:
        unpack(member_inputs),
    output:
        model="results/models/{net}_m{member}.pt",
        history="results/models/{net}_m{member}_history.csv",
        predictions="results/members/{net}_m{member}.parquet",
        mixtures="results/members/{net}_m{member}.hdf5",
    wildcard_constraints:
        member=r"\d+",
    params:
        settings=training_settings,
        instrument=config["instrument"],
        seed=config["seed"],  # the run seed: member k trains with seed + k (photoz.train.ensemble.member_seed)
    conda:
        "../envs/photoz.yaml"
    log:
        "logs/train_member/{net}_m{member}.log",
    benchmark:
        "benchmarks/train_member/{net}_m{member}.tsv"
    threads: config["train"]["threads"]
    priority: training_priority
    resources:
        mem_mb=4000,
        runtime=120,
        gpu=config["train"]["gpus"],
    script:
        "../scripts/train_member.py"


rule combine_ensemble:
    input:
        models=member_files("results/models/{net}_m{member}.pt"),
        histories=member_files("results/models/{net}_m{member}_history.csv"),
        predictions=member_files("results/members/{net}_m{member}.parquet"),
        mixtures=member_files("results/members/{net}_m{member}.hdf5"),
    output:
        model="results/models/{net}.pt",
        history="results/models/{net}_history.csv",
        predictions="results/predictions/{net}.parquet",
        pdfs="results/pdfs/{net}.hdf5",
    conda:
        "../envs/photoz.yaml"
    log:
        "logs/combine_ensemble/{net}.log",
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    script:
        "../scripts/combine_ensemble.py"
