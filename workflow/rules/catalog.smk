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


FLOW = config["catalog"]["flow"]


rule train_flow:
    output:
        model=FLOW["model"],
        history=str(Path(FLOW["model"]).with_suffix("")) + "_history.csv",
    params:
        flow={k: v for k, v in FLOW.items() if k != "model"},
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
        # source flow only: the trained flow (train_flow writes it once; later runs reuse it)
        [FLOW["model"]] if config["catalog"]["source"] == "flow" else [],
    output:
        truth="results/catalog/truth.parquet",
        report="results/catalog/fit_quality.json",
    params:
        # catalog_settings() less the flow's training keys (train_flow's params: a change retrains
        # the flow, whose new file reruns this job), so they never rerun the dc2 or cosmos source
        catalog={
            **{k: v for k, v in catalog_settings().items() if k != "flow"},
            **({"flow": {"model": FLOW["model"]}} if config["catalog"]["source"] == "flow" else {}),
        },
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
