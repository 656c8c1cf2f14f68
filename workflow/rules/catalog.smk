# Stage 1: source catalogue -> truth table (redshift, SED fit, CSST fluxes, morphology, split).


rule download_cosmos:
    output:
        catalog=cosmos_catalog_file(),
    params:
        directory=lambda wildcards, output: str(Path(output.catalog).parent),
        sample=config["catalog"]["cosmos"]["sample"],
    conda:
        "../envs/photoz.yaml"
    log:
        "logs/download_cosmos.log",
    script:
        "../scripts/download_cosmos.py"


rule download_csst_data:
    output:
        str(Path(config["data_dir"]) / "csst" / "{kind}_galaxyGenius" / "{name}"),
    params:
        relative=lambda wildcards: f"csst/{wildcards.kind}_galaxyGenius/{wildcards.name}",
    wildcard_constraints:
        kind="throughput|psf",
    conda:
        "../envs/photoz.yaml"
    log:
        "logs/download_csst_data/{kind}_{name}.log",
    script:
        "../scripts/download_csst_data.py"


rule prepare_catalog:
    input:
        cosmos_catalog_input,
        csst_data_files("throughput"),
    output:
        truth="results/catalog/truth.parquet",
        report="results/catalog/fit_quality.json",
    params:
        catalog=catalog_settings(),
        instrument=config["instrument"],
        seed=config["seed"],
        data_dir=config["data_dir"] if config["catalog"]["source"] == "cosmos" else None,
    conda:
        "../envs/photoz.yaml"
    log:
        "logs/prepare_catalog.log",
    benchmark:
        "benchmarks/prepare_catalog.tsv"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    script:
        "../scripts/prepare_catalog.py"
