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


# The networks beside the classical peers (issue 14; photoz.plots_peers), drawn when `peers` is set.
rule plot_peer_comparison:
    input:
        summary="results/metrics/summary.json",
        binned="results/metrics/binned.csv",
    output:
        png=report(
            "results/figures/peers_comparison.png",
            caption="../report/peers_comparison.rst",
            category="Figures",
            labels={"figure": "peers_comparison"},
        ),
        pdf="results/figures/peers_comparison.pdf",
    conda:
        "../envs/photoz.yaml"
    log:
        "logs/plot_peer_comparison.log",
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    script:
        "../scripts/plot_peers.py"
