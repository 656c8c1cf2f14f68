# Stage 4b: classical peer estimators on the networks' photometry, split and flux measurement
# (photoz.peers; peer_settings.flux_type null = photometry.flux_type), scored beside the networks by
# compute_metrics. The RAIL peers also write their p(z) as qp files, scored as the networks' are.


rule fit_peer:
    input:
        photometry="results/photometry/photometry.parquet",
    output:
        predictions="results/predictions/{peer}.parquet",
        model="results/peers/{peer}_model.pkl",
    wildcard_constraints:
        peer=wildcard([p for p in ALL_PEERS if p not in RAIL_PEERS]),
    params:
        settings=lambda wc: config["peer_settings"][wc.peer],
        instrument=config["instrument"],
        flux_type=config["peer_settings"]["flux_type"],
        seed=config["seed"],
    conda:
        "../envs/photoz.yaml"
    log:
        "logs/fit_peer/{peer}.log",
    benchmark:
        "benchmarks/fit_peer/{peer}.tsv"
    threads: config["peer_settings"]["threads"]
    resources:
        mem_mb=2000,
        runtime=30,
    script:
        "../scripts/fit_peer.py"


rule fit_rail_peer:
    input:
        photometry="results/photometry/photometry.parquet",
    output:
        predictions="results/predictions/{peer}.parquet",
        model="results/peers/{peer}_model.pkl",
        pdf="results/peers/{peer}_pz.hdf5",
    wildcard_constraints:
        peer=wildcard(RAIL_PEERS),
    params:
        settings=lambda wc: config["peer_settings"][wc.peer],
        instrument=config["instrument"],
        sed_library=lambda wc: config["catalog"]["sed_library"] if wc.peer == "bpz" else None,
        work_dir=lambda wc: f"results/peers/{wc.peer}_data",
        flux_type=config["peer_settings"]["flux_type"],
        seed=config["seed"],
    conda:
        "../envs/photoz.yaml"
    log:
        "logs/fit_rail_peer/{peer}.log",
    benchmark:
        "benchmarks/fit_rail_peer/{peer}.tsv"
    threads: config["peer_settings"]["threads"]
    resources:
        mem_mb=3000,
        runtime=60,
    script:
        "../scripts/fit_peer.py"
