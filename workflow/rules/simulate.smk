# Stage 2: truth table -> seven-band GalSim stamps, one HDF5 shard per job.


rule simulate_images:
    input:
        truth="results/catalog/truth.parquet",
        psf=csst_data_files("psf"),
    output:
        # Deleted once rule measure_shard has read it when simulate.keep_full_stamps is false.
        shard=(lambda f: f if KEEP_FULL_STAMPS else temp(f))(figure_registry.PRODUCT_PATHS["shards"]),
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
