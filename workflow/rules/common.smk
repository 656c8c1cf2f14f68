# Config validation first, then the helpers every stage uses (model: rna-seq-star-deseq2 common.smk).
import sys
from pathlib import Path


sys.path.insert(0, str(Path(workflow.basedir).resolve()))

from photoz import BANDS  # noqa: E402
from photoz.config import validate_config  # noqa: E402
from photoz.cosmos import resolve_cosmos_dir  # noqa: E402

validate_config(config, source="config (config/config.yaml + --configfile + --config)")

NETWORKS = list(config["train"]["networks"])
PEERS = list(config["peers"])
SHARDS = list(range(config["simulate"]["n_shards"]))
FIGURES = [
    "fig1_throughputs",
    "fig2_redshift_distribution",
    "fig3_example_stamps",
    "fig4_aperture_fluxes",
    "fig5_architectures",
    "fig6_training_history",
    "fig7_zphot_vs_zspec",
    "fig8_outlier_fraction",
]


wildcard_constraints:
    shard=r"\d+",
    net="|".join(["mlp", "cnn", "hybrid", "hybrid_transfer"]),
    figure="|".join(FIGURES),


def shard_files(wildcards=None):
    """All stamp shards of this run."""
    return expand("results/images/shard_{shard}.h5", shard=SHARDS)


def all_targets():
    """Every stage product, so that a plain rerun remakes any one that is missing.

    Asking only for the metrics and figures let Snakemake call a run complete after a deleted
    shard (as a corrupt shard's error message suggests) or a model lost to a kill during
    ``--forcerun train_network``: their consumers exist, so "Nothing to be done". The downloads
    are inputs (data_dir), not products.
    """
    return [
        "results/catalog/truth.parquet",
        "results/catalog/fit_quality.json",
        *shard_files(),
        "results/photometry/photometry.parquet",
        "results/photometry/selection.json",
        *expand("results/models/{net}.pt", net=NETWORKS),
        *expand("results/models/{net}_history.csv", net=NETWORKS),
        *expand("results/predictions/{net}.parquet", net=NETWORKS),
        *expand("results/pdfs/{net}.hdf5", net=NETWORKS),
        "results/metrics/summary.json",
        "results/metrics/summary.md",
        "results/metrics/summary.html",
        "results/metrics/binned.csv",
        *expand("results/figures/{figure}.png", figure=FIGURES),
        *expand("results/figures/{figure}.pdf", figure=FIGURES),
        *(["results/figures/peers_comparison.png", "results/figures/peers_comparison.pdf"] if PEERS else []),
        "results/figures/pdf_calibration.png",
        "results/figures/pdf_calibration.pdf",
    ]


def cosmos_catalog_input(wildcards):
    """The COSMOS catalogue, declared only while it is absent, so that download_cosmos fetches it.

    An existing catalogue is never declared: Snakemake deletes a job's outputs before running it,
    and a rerun of download_cosmos must never be able to touch real data (data_dir is read-only
    input). The catalogue stage reads the file from the config either way.
    """
    if config["catalog"]["source"] != "cosmos":
        return []
    path = cosmos_catalog_file()
    return [] if Path(path).exists() else [path]


def cosmos_catalog_file():
    """The COSMOS catalogue file: ``catalog.cosmos.dir`` as given or under ``data_dir``."""
    cosmos = config["catalog"]["cosmos"]
    return str(resolve_cosmos_dir(cosmos["dir"], config["data_dir"]) / cosmos["file_name"])


#: Scheduling order of the trainings on a few cores: the MLP and CNN first (hybrid_transfer needs
#: both), the end-to-end hybrid when a core frees. Measured on 2 cores: Snakemake's own choice
#: (hybrid and CNN first, MLP last) left one core idle for 98 s before hybrid_transfer could start.
TRAINING_PRIORITY = {"mlp": 3, "cnn": 2, "hybrid_transfer": 1, "hybrid": 0}


def training_priority(wildcards):
    """Snakemake priority of one train_network job (TRAINING_PRIORITY)."""
    return TRAINING_PRIORITY.get(wildcards.net, 0)


def training_inputs(wildcards):
    """Photometry always; stamps for the image networks; the trained MLP and CNN for hybrid_transfer."""
    inputs = {"photometry": "results/photometry/photometry.parquet"}
    if wildcards.net != "mlp":
        inputs["shards"] = shard_files()
    if wildcards.net == "hybrid_transfer":
        inputs["mlp"] = "results/models/mlp.pt"
        inputs["cnn"] = "results/models/cnn.pt"
    return inputs


FIGURE_INPUTS = {
    "fig1_throughputs": lambda: {},
    "fig2_redshift_distribution": lambda: {"photometry": "results/photometry/photometry.parquet"},
    "fig3_example_stamps": lambda: {
        "photometry": "results/photometry/photometry.parquet",
        "truth": "results/catalog/truth.parquet",
        "shards": shard_files(),
    },
    "fig4_aperture_fluxes": lambda: {
        "photometry": "results/photometry/photometry.parquet",
        "truth": "results/catalog/truth.parquet",
        "shards": shard_files(),
    },
    "fig5_architectures": lambda: {},
    "fig6_training_history": lambda: {
        "histories": expand("results/models/{net}_history.csv", net=NETWORKS)
    },
    "fig7_zphot_vs_zspec": lambda: {
        "predictions": expand("results/predictions/{net}.parquet", net=NETWORKS)
    },
    "fig8_outlier_fraction": lambda: {
        "predictions": expand("results/predictions/{net}.parquet", net=NETWORKS)
    },
}


def figure_inputs(wildcards):
    """The files one figure is drawn from."""
    return FIGURE_INPUTS[wildcards.figure]()


def figure_caption(wildcards):
    """The figure's caption text, from workflow/report/<figure>.rst (the figure's name if absent)."""
    path = Path(workflow.basedir) / "workflow" / "report" / f"{wildcards.figure}.rst"
    return path.read_text() if path.is_file() else wildcards.figure


def csst_data_files(kind):
    """Files of ``data_dir`` the config reads (kind: throughput or psf) that are absent.

    Only absent files are declared, so download_csst_data fetches them and never reruns over (and
    so deletes) data that exist: Snakemake removes a job's outputs before running it.
    """
    root = Path(config["data_dir"]) / "csst" / f"{kind}_galaxyGenius"
    if kind == "throughput":
        used = Path(config["instrument"]["throughput"]) == root
        names = [f"{band}.fil" for band in BANDS]
    else:
        used = config["simulate"]["psf"] == "images" and not config["simulate"]["psf_dir"]
        names = [f"{band}.npy" for band in BANDS]
    return [str(root / n) for n in names if not (root / n).exists()] if used else []
