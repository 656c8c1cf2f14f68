# Stage 1: source catalogue -> truth table (redshift, SED fit, CSST fluxes, morphology, split).
# Source flow: train_flow fits the DC2 flow once (cached); prepare_catalog samples from it.


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


def flow_model_input(wildcards):
    """The trained flow, an input of prepare_catalog for source flow only."""
    return [config["catalog"]["flow"]["model"]] if config["catalog"]["source"] == "flow" else []


def prepare_catalog_settings():
    """catalog_settings() without the flow's training keys; only the model path, for source flow.

    Training settings are train_flow's params (a change retrains the flow, and the newer flow
    reruns prepare_catalog), so they never rerun prepare_catalog for the dc2 or cosmos source.
    """
    cat = catalog_settings()
    flow = cat.pop("flow", {})
    if cat["source"] == "flow":
        cat["flow"] = {"model": flow["model"]}
    return cat


rule train_flow:
    output:
        model=config["catalog"]["flow"]["model"],
        history=str(Path(config["catalog"]["flow"]["model"]).with_suffix("")) + "_history.csv",
    params:
        flow={k: v for k, v in config["catalog"]["flow"].items() if k != "model"},
    conda:
        "../envs/photoz.yaml"
    log:
        "logs/train_flow.log",
    benchmark:
        "benchmarks/train_flow.tsv"
    threads: 1
    resources:
        mem_mb=3000,
        runtime=30,
    script:
        "../scripts/train_flow.py"


rule prepare_catalog:
    input:
        cosmos_catalog_input,
        csst_data_files("throughput"),
        flow_model_input,
    output:
        truth="results/catalog/truth.parquet",
        report="results/catalog/fit_quality.json",
    params:
        catalog=prepare_catalog_settings(),
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
