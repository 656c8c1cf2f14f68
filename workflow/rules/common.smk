# Config validation first, then the helpers every stage uses (model: rna-seq-star-deseq2 common.smk).
import sys
from pathlib import Path


sys.path.insert(0, str(Path(workflow.basedir).resolve()))

from photoz import BANDS  # noqa: E402
from photoz.names import NETWORKS as ALL_NETWORKS, PEERS as ALL_PEERS, RAIL_PEERS, wildcard  # noqa: E402
from photoz.train.settings import network_settings  # noqa: E402
from photoz.config import validate_config  # noqa: E402
from photoz.catalog.cosmos import resolve_cosmos_dir  # noqa: E402
from photoz.plots import registry as figure_registry  # noqa: E402
from photoz.catalog.splits import ratio_tag, train_test_ratios  # noqa: E402

validate_config(config, source="config (config/config.yaml + --configfile + --config)")

NETWORKS = list(config["train"]["networks"])
# catalog.train_test_ratio, as a list (photoz.catalog.splits). The first ratio is the truth table's split:
# its products keep the one-ratio paths (results/models/<net>.pt ...), which the figures and the
# peers read. Each further ratio trains and predicts under r<a>-<b>/ (RATIO_TAGS: "1-3" for
# "1:3"); with one ratio there are none, and the DAG and paths are the one-ratio run's.
RATIOS = train_test_ratios(config)
RATIO_TAGS = [ratio_tag(r) for r in RATIOS[1:]]
PEERS = list(config["peers"])
SHARDS = list(range(config["simulate"]["n_shards"]))
# The figures: names, inputs, params and captions come from the one registry (photoz.plots.registry).
FIGURES = list(figure_registry.FIGURES)


wildcard_constraints:
    shard=r"\d+",
    net=wildcard(ALL_NETWORKS),
    figure="|".join(figure_registry.REGISTRY),
    ratio=r"\d+-\d+",
    # train_network's ratio level: empty for the first ratio, r<a>-<b>/ for a further one
    ratio_dir=r"(r\d+-\d+/)?",


#: simulate.keep_full_stamps false: each full shard is temp(), measured and cropped by rule
#: measure_shard right after it is drawn and then deleted; every later stage reads the crops.
KEEP_FULL_STAMPS = bool(config["simulate"]["keep_full_stamps"])


def shard_files(wildcards=None):
    """All full stamp shards of this run (what the photometry, or rule measure_shard, reads)."""
    return expand(figure_registry.PRODUCT_PATHS["shards"], shard=SHARDS)


def photometry_inputs(wildcards):
    """measure_photometry's inputs: the truth table and the full shards, or (simulate.
    keep_full_stamps false) each shard's measurements from rule measure_shard."""
    if KEEP_FULL_STAMPS:
        return {"truth": "results/catalog/truth.parquet", "shards": shard_files()}
    return {"truth": "results/catalog/truth.parquet",
            "measured": expand("results/photometry/shards/measured_{shard}.parquet", shard=SHARDS)}


def stamp_files(wildcards=None):
    """The shards the stages after the photometry read: the full ones, or the cropped ones
    (simulate.keep_full_stamps false, rule measure_shard)."""
    if KEEP_FULL_STAMPS:
        return shard_files()
    return expand(figure_registry.PRODUCT_PATHS["cropped_shards"], shard=SHARDS)


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
        *stamp_files(),
        "results/photometry/photometry.parquet",
        "results/photometry/selection.json",
        *expand("results/models/{net}.pt", net=NETWORKS),
        *expand("results/models/{net}_history.csv", net=NETWORKS),
        *expand("results/predictions/{net}.parquet", net=NETWORKS),
        *expand("results/pdfs/{net}.hdf5", net=NETWORKS),
        *ratio_products(),
        "results/metrics/summary.json",
        "results/metrics/summary.md",
        "results/metrics/summary.html",
        "results/metrics/binned.csv",
        *expand("results/figures/{figure}.{ext}", figure=figure_registry.run_figures(),
                ext=("png", "pdf")),
    ]


def ratio_products():
    """Each further train:test ratio's split, networks, histories, predictions and p(z) (none
    with one ratio)."""
    return [
        *expand("results/photometry/r{ratio}/photometry.parquet", ratio=RATIO_TAGS),
        *expand("results/models/r{ratio}/{net}.pt", ratio=RATIO_TAGS, net=NETWORKS),
        *expand("results/models/r{ratio}/{net}_history.csv", ratio=RATIO_TAGS, net=NETWORKS),
        *ratio_predictions(),
        *ratio_pdfs(),
    ]


def ratio_predictions():
    """Predictions of every network for each further ratio, ratio by ratio (none with one)."""
    return expand("results/predictions/r{ratio}/{net}.parquet", ratio=RATIO_TAGS, net=NETWORKS)


def rail_peer_pdfs():
    """The p(z) files of the run's RAIL peers (rule fit_rail_peer), in the order of PEERS."""
    return [f"results/peers/{p}_pz.hdf5" for p in PEERS if p in RAIL_PEERS]


def ratio_pdfs():
    """The p(z) of every network for each further ratio, ratio by ratio as ratio_predictions."""
    return expand("results/pdfs/r{ratio}/{net}.hdf5", ratio=RATIO_TAGS, net=NETWORKS)


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
    """Photometry always; stamps for the image networks; the trained MLP and CNN for hybrid_transfer.

    A further train:test ratio (``ratio_dir`` r<a>-<b>/) reads its own photometry table (its
    split, rule split_ratio) and starts hybrid_transfer from its own MLP and CNN.
    """
    rdir = wildcards.ratio_dir
    inputs = {"photometry": f"results/photometry/{rdir}photometry.parquet"}
    if wildcards.net != "mlp":
        inputs["shards"] = stamp_files()
    if wildcards.net == "hybrid_transfer":
        inputs["mlp"] = f"results/models/{rdir}mlp.pt"
        inputs["cnn"] = f"results/models/{rdir}cnn.pt"
    return inputs


def figure_inputs(wildcards):
    """The files one figure is drawn from (photoz.plots.registry)."""
    return figure_registry.figure_inputs(wildcards.figure, NETWORKS, SHARDS,
                                        cropped=not KEEP_FULL_STAMPS, peers=PEERS)


def figure_params(wildcards):
    """Only the config values one figure takes, so an edit reruns only the figures that use it."""
    return figure_registry.figure_params(wildcards.figure, config, NETWORKS)


def figure_caption(wildcards):
    """The figure's caption text, from its registry caption file (the figure's name if absent)."""
    path = Path(workflow.basedir) / figure_registry.REGISTRY[wildcards.figure].caption
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


# ---- each rule's params: only the settings its job reads. Snakemake reruns a job whose params
# changed (--rerun-triggers params, the default), so a whole config section as params would rerun
# it for an unrelated edit. Machine settings (train.threads, train.gpus, train.device,
# peer_settings.threads) are never params: they go through threads/resources or the job reads
# them from the config, so changing them reruns nothing (tests/test_workflow.py checks).


def catalog_settings():
    """The ``catalog`` keys prepare_catalog reads (photoz.catalog.build_truth_table).

    ``cosmos.sample`` only tells download_cosmos what to fetch, and ``cosmos`` is read only for
    the cosmos source. ``emission_lines`` and ``template_mixing`` are left out when off, and
    ``galaxy_model`` and ``components`` with the one-Sersic model (photoz.catalog reads them as
    off / ``sersic`` when absent), so a results/ made before the key existed is not remade. Of a list of train:test ratios only the first (the truth table's split): adding a
    ratio remakes no catalogue, nor the stamps and photometry after it.
    """
    cat = dict(config["catalog"])
    cat["train_test_ratio"] = RATIOS[0]  # the truth table's split; further ratios: split_ratio
    for key in ("emission_lines", "template_mixing"):
        if not cat.get(key, False):
            cat.pop(key, None)  # off = the SEDs before the key existed: no rerun
    if cat.get("galaxy_model", "sersic") == "sersic":
        cat.pop("galaxy_model", None)
        cat.pop("components", None)
    cosmos = cat.pop("cosmos")
    if cat["source"] == "cosmos":
        cat["cosmos"] = {k: v for k, v in cosmos.items() if k != "sample"}
    return cat


def split_settings():
    """The ``catalog`` keys the split of a further ratio reads (photoz.catalog.splits): the truth table's
    ratio (the first), ``test_size`` and ``validation_fraction``."""
    cat = config["catalog"]
    return {"train_test_ratio": RATIOS[0], "test_size": cat["test_size"],
            "validation_fraction": cat["validation_fraction"]}


def uses_real_images():
    """Whether the stamps are drawn from COSMOS HST images (catalog cosmos, use_real_images)."""
    return config["catalog"]["source"] == "cosmos" and config["catalog"]["cosmos"]["use_real_images"]


def simulate_settings():
    """The ``simulate`` keys a shard's drawing reads (``n_shards`` is its own param;
    ``keep_full_stamps`` only decides what is kept after the photometry).

    ``compression: none`` is left out (photoz.simulate reads an absent key as none): the same
    stamps as before the key existed, so an existing results/ is not re-simulated.
    """
    sim = {k: v for k, v in config["simulate"].items() if k not in ("n_shards", "keep_full_stamps")}
    if sim.get("compression") == "none":
        sim.pop("compression")
    return sim


def simulate_catalog():
    """What simulate_images reads of ``catalog``: where the real-image catalogue is, if used."""
    if not uses_real_images():
        return None
    cosmos = config["catalog"]["cosmos"]
    return {"cosmos": {k: cosmos[k] for k in ("dir", "file_name", "use_real_images")}}


def simulate_data_dir():
    """``data_dir`` where simulate_images reads from it (CSST PSF images, a relative COSMOS dir)."""
    return config["data_dir"] if config["simulate"]["psf"] == "images" or uses_real_images() else None


def training_settings(wildcards):
    """One network's training settings (photoz.train.settings.network_settings): without the
    ``networks`` list and the machine settings, so trimming the list or changing the threads
    retrains nothing."""
    return network_settings(config["train"], wildcards.net)
