# Stage 6: the paper's eight figures (PAPER_SPEC §7), each a report item with its own caption
# (workflow/report/<figure>.rst, passed through params; figure.rst renders it).

rule plot_figure:
    input:
        unpack(figure_inputs),
    output:
        png=report(
            "results/figures/{figure}.png",
            caption="../report/figure.rst",
            category="Figures",
            labels={"figure": "{figure}"},
        ),
        pdf="results/figures/{figure}.pdf",
    params:
        caption=figure_caption,
        instrument=config["instrument"],
        sed_library=config["catalog"]["sed_library"],
        networks=NETWORKS,
        max_epochs=config["train"].get("max_epochs", {}),
        n_bootstrap=config["evaluate"]["n_bootstrap"],
        seed=config["seed"],
    conda:
        "../envs/photoz.yaml"
    log:
        "logs/plot_figure/{figure}.log",
    threads: 1
    resources:
        mem_mb=1500,
        runtime=10,
    script:
        "../scripts/plot_figure.py"
