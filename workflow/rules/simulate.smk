# Stage 2: truth table -> seven-band GalSim stamps, one HDF5 shard per job.


rule simulate_images:
    input:
        truth="results/catalog/truth.parquet",
        psf=csst_data_files("psf"),
    output:
        shard="results/images/shard_{shard}.h5",
    params:
        n_shards=config["simulate"]["n_shards"],
        simulate=simulate_settings(),
        instrument=config["instrument"],
        catalog=simulate_catalog(),
        seed=config["seed"],
        data_dir=simulate_data_dir(),
    conda:
        "../envs/photoz.yaml"
    log:
        "logs/simulate_images/shard_{shard}.log",
    benchmark:
        "benchmarks/simulate_images/shard_{shard}.tsv"
    threads: 1
    resources:
        mem_mb=1500,
        runtime=30,
    script:
        "../scripts/simulate_images.py"
