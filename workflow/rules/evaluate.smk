# Stage 5: sigma_NMAD, outlier fraction, MAE and bias beside the paper's table (paper Sect. 6).


rule compute_metrics:
    input:
        predictions=expand("results/predictions/{net}.parquet", net=NETWORKS + PEERS),
        selection="results/photometry/selection.json",
        pdfs=expand("results/pdfs/{net}.hdf5", net=NETWORKS),  # p(z) scores (photoz.pdf)
    output:
        summary="results/metrics/summary.json",
        table="results/metrics/summary.md",
        html=report(
            "results/metrics/summary.html",
            caption="../report/summary.rst",
            category="Metrics",
        ),
        binned="results/metrics/binned.csv",
    params:
        networks=NETWORKS + PEERS,
        train_test_ratio=config["catalog"]["train_test_ratio"],
        n_bootstrap=config["evaluate"]["n_bootstrap"],
        seed=config["seed"],
    conda:
        "../envs/photoz.yaml"
    log:
        "logs/compute_metrics.log",
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    script:
        "../scripts/compute_metrics.py"
