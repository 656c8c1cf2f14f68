# Stage 3: stamps -> Kron-aperture photometry, SNR selection.


rule measure_photometry:
    input:
        unpack(photometry_inputs),
    output:
        photometry="results/photometry/photometry.parquet",
        selection="results/photometry/selection.json",
    params:
        photometry=config["photometry"],
        instrument=config["instrument"],
    conda:
        "../envs/photoz.yaml"
    log:
        "logs/measure_photometry.log",
    benchmark:
        "benchmarks/measure_photometry.tsv"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=20,
    script:
        # keep_full_stamps false: the same table from rule measure_shard's per-shard files.
        "../scripts/measure_photometry.py" if KEEP_FULL_STAMPS else "../scripts/combine_photometry.py"



rule measure_shard:
    # simulate.keep_full_stamps false: one shard's photometry and the crop of its selected
    # galaxies (the central train.image_size pixels) right after it is drawn, so that the full
    # shard (temp) is deleted before the next ones are: results/ never holds all full shards.
    input:
        shard=figure_registry.PRODUCT_PATHS["shards"],
    output:
        measured="results/photometry/shards/measured_{shard}.parquet",
        cropped=figure_registry.PRODUCT_PATHS["cropped_shards"],
    params:
        photometry=config["photometry"],
        instrument=config["instrument"],
        size=config["train"]["image_size"],
        compression=config["simulate"]["compression"],
    conda:
        "../envs/photoz.yaml"
    log:
        "logs/measure_shard/shard_{shard}.log",
    benchmark:
        "benchmarks/measure_shard/shard_{shard}.tsv"
    # Before any further simulate_images job, so each full shard lives only until it is measured.
    priority: 10
    threads: 1
    resources:
        mem_mb=1500,
        runtime=10,
    script:
        "../scripts/measure_shard.py"
