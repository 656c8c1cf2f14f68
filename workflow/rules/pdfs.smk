# Issue 13: the p(z) calibration figure (photoz.plots_pdf): PIT histograms and QQ of the networks,
# example p(z) with the true z. The p(z) files come from train_network; their scores are in summary.json.


rule plot_pdf_calibration:
    input:
        pdfs=expand("results/pdfs/{net}.hdf5", net=NETWORKS),
    output:
        # Not yet a report() item: the lead registers it with the figure registry (caption ready in
        # workflow/report/pdf_calibration.rst), where tests/test_workflow.py lists the report's figures.
        png="results/figures/pdf_calibration.png",
        pdf="results/figures/pdf_calibration.pdf",
    params:
        networks=NETWORKS,
    conda:
        "../envs/photoz.yaml"
    log:
        "logs/plot_pdf_calibration.log",
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    script:
        "../scripts/plot_pdf_calibration.py"
