# Stage 3: stamps -> Kron-aperture photometry, SNR selection.


rule measure_photometry:
    input:
        truth="results/catalog/truth.parquet",
        shards=shard_files,
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
        "../scripts/measure_photometry.py"


rule crop_stamps:
    # simulate.keep_full_stamps false: the selected galaxies' central train.image_size pixels.
    input:
        shard=figure_registry.PRODUCT_PATHS["shards"],
        photometry="results/photometry/photometry.parquet",
    output:
        cropped=figure_registry.PRODUCT_PATHS["cropped_shards"],
    params:
        size=config["train"]["image_size"],
        compression=config["simulate"]["compression"],
    conda:
        "../envs/photoz.yaml"
    log:
        "logs/crop_stamps/shard_{shard}.log",
    threads: 1
    resources:
        mem_mb=1500,
        runtime=10,
    script:
        "../scripts/crop_stamps.py"
