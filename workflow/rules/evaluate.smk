# Stage 5: sigma_NMAD, outlier fraction, MAE and bias beside the paper's table (paper Sect. 6), and
# the same p(z) scores (CRPS, PIT, coverage) for every method that gives a p(z).


rule compute_metrics:
    input:
        predictions=expand("results/predictions/{net}.parquet", net=NETWORKS + PEERS),
        selection="results/photometry/selection.json",
        # p(z) scores of every method with a p(z): the networks' and the RAIL peers' qp files
        pdfs=expand("results/pdfs/{net}.hdf5", net=NETWORKS) + rail_peer_pdfs(),
        # each further train:test ratio's networks, ratio by ratio (none with one ratio)
        ratio_predictions=ratio_predictions(),
        ratio_pdfs=ratio_pdfs(),
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
        methods=NETWORKS + PEERS,
        pdf_methods=NETWORKS + [p for p in PEERS if p in RAIL_PEERS],
        train_test_ratio=RATIOS[0],
        n_bootstrap=config["evaluate"]["n_bootstrap"],
        seed=config["seed"],
        # several ratios only, so that a one-ratio run's params (and reruns) are as before
        **({"further_ratios": RATIOS[1:], "ratio_networks": NETWORKS} if RATIO_TAGS else {}),
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
