# Stage 6: the paper's eight figures (PAPER_SPEC §7) and, when `peers` is set, the networks beside
# the classical peers (issue 14). One rule for all: photoz.plots.registry names each figure's input
# products and the config values it takes (figure_params), so each job gets only what it draws
# from; each is a report item with its own caption (workflow/report/<figure>.rst, rendered by
# figure.rst).

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
        figure=figure_params,
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
