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
