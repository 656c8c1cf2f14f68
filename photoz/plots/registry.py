"""The figure registry: every figure's name, input products, parameters, caption and drawing function.

One table, :data:`REGISTRY`, says for each figure which products of the run it is drawn from
(:data:`PRODUCT_PATHS`), which config values it takes (:data:`CONFIG_PARAMS`), its caption file and
the function that draws it. The workflow reads nothing else: ``workflow/rules/common.smk`` takes
the figure names and each figure's input files from :func:`figure_inputs`, ``plots.smk`` gives
each figure job only :func:`figure_params` (so an edit of ``evaluate.n_bootstrap`` or of the
instrument reruns only the figures drawn from it), and ``workflow/scripts/plot_figure.py`` turns
the job's files and parameters into the drawing function's arguments with :func:`figure_kwargs`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import matplotlib
from matplotlib.figure import Figure
from tqdm import tqdm

from photoz.errors import PhotozConfigError
from photoz.names import RAIL_PEERS
from photoz.plots.architecture import fig5_architectures
from photoz.plots.outliers import fig8_outlier_fraction
from photoz.plots.pdf import plot_pdf_calibration
from photoz.plots.peers import plot_peer_comparison
from photoz.plots.results import fig6_training_history, fig7_zphot_vs_zspec
from photoz.plots.sample import fig1_throughputs, fig2_redshift_distribution
from photoz.plots.stamps import fig3_example_stamps, fig4_aperture_fluxes
from photoz.plots.style import _RC, _need, _save

#: The products figures are drawn from: input name -> path in the run directory (as the stages'
#: rules write them; docs/outputs.md). ``{shard}``, ``{net}`` and ``{peer}`` are expanded over
#: the run's shards, networks and RAIL peers (the peers with a p(z)).
PRODUCT_PATHS: dict[str, str] = {
    "photometry": "results/photometry/photometry.parquet",
    "truth": "results/catalog/truth.parquet",
    "shards": "results/images/shard_{shard}.h5",
    # simulate.keep_full_stamps false: the selected galaxies' network-sized centres (rule measure_shard)
    "cropped_shards": "results/images/cropped_{shard}.h5",
    "histories": "results/models/{net}_history.csv",
    "predictions": "results/predictions/{net}.parquet",
    "summary": "results/metrics/summary.json",
    "binned": "results/metrics/binned.csv",
    "pdfs": "results/pdfs/{net}.hdf5",
    "peer_pdfs": "results/peers/{peer}_pz.hdf5",
}
#: Inputs with one file per network: the drawing function takes them as a dict network -> path.
PER_NETWORK: frozenset[str] = frozenset({"histories", "predictions", "pdfs"})
#: Inputs with one file per RAIL peer of the run (none without peers): a dict peer -> path.
PER_PEER: frozenset[str] = frozenset({"peer_pdfs"})

#: The config values figures take: keyword argument -> how to read it from the validated config.
CONFIG_PARAMS: dict[str, Callable[[Mapping], object]] = {
    "instrument_cfg": lambda config: dict(config["instrument"]),
    "sed_library": lambda config: config["catalog"]["sed_library"],
    "emission_lines": lambda config: bool(config["catalog"]["emission_lines"]),
    "max_epochs": lambda config: dict(config["train"].get("max_epochs", {})),
}


@dataclass(frozen=True)
class FigureSpec:
    """One figure: how it is drawn and from what.

    Attributes
    ----------
    name : str
        File stem of ``results/figures/<name>.{png,pdf}`` and of its caption
        ``workflow/report/<name>.rst``.
    draw : callable
        Returns the ``matplotlib.figure.Figure``; takes the inputs and params below as keywords.
    inputs : tuple of str
        Required inputs, keys of :data:`PRODUCT_PATHS`.
    params : tuple of str
        Config values it takes, keys of :data:`CONFIG_PARAMS`.
    paper : bool
        One of the paper's eight figures (PAPER_SPEC §7); the others are the p(z) calibration and
        the comparison with the peers (:func:`run_figures`).
    paper_style : bool
        Draw under the paper figures' rc settings (:data:`photoz.plots.style._RC`).
    """

    name: str
    draw: Callable[..., Figure]
    inputs: tuple[str, ...] = ()
    params: tuple[str, ...] = ()
    paper: bool = True
    paper_style: bool = True

    @property
    def caption(self) -> str:
        """The caption file, relative to the repository root."""
        return f"workflow/report/{self.name}.rst"


#: Every figure, the paper's eight in its order (PAPER_SPEC §7), then the peers' comparison.
REGISTRY: dict[str, FigureSpec] = {
    spec.name: spec
    for spec in (
        FigureSpec("fig1_throughputs", fig1_throughputs, params=("instrument_cfg",)),
        FigureSpec("fig2_redshift_distribution", fig2_redshift_distribution, ("photometry",)),
        FigureSpec("fig3_example_stamps", fig3_example_stamps, ("photometry", "shards", "truth")),
        FigureSpec("fig4_aperture_fluxes", fig4_aperture_fluxes, ("photometry", "truth", "shards"),
                   params=("instrument_cfg", "sed_library", "emission_lines")),
        FigureSpec("fig5_architectures", fig5_architectures),
        FigureSpec("fig6_training_history", fig6_training_history, ("histories",),
                   params=("max_epochs",)),
        FigureSpec("fig7_zphot_vs_zspec", fig7_zphot_vs_zspec, ("predictions",)),
        FigureSpec("fig8_outlier_fraction", fig8_outlier_fraction, ("binned",)),
        FigureSpec("peers_comparison", plot_peer_comparison, ("summary", "binned"), paper=False,
                   paper_style=False),
        FigureSpec("pdf_calibration", plot_pdf_calibration, ("pdfs", "peer_pdfs"), paper=False,
                   paper_style=False),
    )
}
#: The paper's figures, in its order (PAPER_SPEC §7).
FIGURES: tuple[str, ...] = tuple(name for name, spec in REGISTRY.items() if spec.paper)


def _spec(name: str) -> FigureSpec:
    if name not in REGISTRY:
        raise PhotozConfigError(f"unknown figure {name!r}; choose one of {list(REGISTRY)}")
    return REGISTRY[name]


def run_figures() -> list[str]:
    """The figures every run draws: the paper's eight, the p(z) calibration (issue 13) and the
    comparison of the methods (issue 29: with peers or without, the networks' sigma_NMAD and
    outliers with their errors; the peers join it when ``peers`` is set)."""
    return [*FIGURES, "pdf_calibration", "peers_comparison"]


def _rail(peers: Sequence[str]) -> list[str]:
    """The peers of ``peers`` that give a p(z) (:data:`photoz.names.RAIL_PEERS`), in order."""
    return [p for p in peers if p in RAIL_PEERS]


def figure_inputs(name: str, networks: Sequence[str], shards: Sequence[int],
                  cropped: bool = False, peers: Sequence[str] = ()) -> dict:
    """The files one figure is drawn from, for a Snakemake ``input:`` (``unpack``).

    Parameters
    ----------
    name : str
        A key of :data:`REGISTRY`.
    networks : sequence of str
        The run's networks (``train.networks``), in order.
    shards : sequence of int
        The run's shard numbers.
    cropped : bool
        Read the cropped shards (``simulate.keep_full_stamps: false``) instead of the full ones.
    peers : sequence of str
        The run's peers (``peers``); the per-peer inputs are those of its RAIL peers.

    Returns
    -------
    dict of str to str or list of str
        Input name -> path; per-shard, per-network and per-peer inputs as lists, in the given
        order.
    """
    out: dict[str, str | list[str]] = {}
    for key in _spec(name).inputs:
        pattern = PRODUCT_PATHS[key]
        if key == "shards":
            pattern = PRODUCT_PATHS["cropped_shards"] if cropped else pattern
            out[key] = [pattern.format(shard=s) for s in shards]
        elif key in PER_NETWORK:
            out[key] = [pattern.format(net=n) for n in networks]
        elif key in PER_PEER:
            out[key] = [pattern.format(peer=p) for p in _rail(peers)]
        else:
            out[key] = pattern
    return out


def figure_params(name: str, config: Mapping, networks: Sequence[str] = ()) -> dict:
    """The config values one figure takes, and nothing else (a Snakemake ``params:`` value).

    Parameters
    ----------
    name : str
        A key of :data:`REGISTRY`.
    config : mapping
        The validated run config.
    networks : sequence of str
        The run's networks; included (as ``networks``) only for figures with per-network inputs,
        to pair each file with its network. Likewise the RAIL peers of ``config["peers"]`` (as
        ``peers``) for figures with per-peer inputs.

    Returns
    -------
    dict
    """
    spec = _spec(name)
    out = {key: CONFIG_PARAMS[key](config) for key in spec.params}
    if PER_NETWORK & set(spec.inputs):
        out["networks"] = list(networks)
    if PER_PEER & set(spec.inputs):
        out["peers"] = _rail(config.get("peers", []))
    return out


def figure_kwargs(name: str, inputs: Mapping, params: Mapping) -> dict:
    """The drawing function's keyword arguments from a job's input files and params.

    Parameters
    ----------
    name : str
        A key of :data:`REGISTRY`.
    inputs : mapping
        Input name -> path or list of paths (as :func:`figure_inputs`).
    params : mapping
        As :func:`figure_params`.

    Returns
    -------
    dict
        Per-network (per-peer) inputs as dict network (peer) -> path; shards as a list; other
        paths as str.

    Raises
    ------
    PhotozConfigError
        When a per-network (per-peer) input does not hold one file per network (RAIL peer).
    """
    spec = _spec(name)
    kwargs = {key: value for key, value in params.items() if key not in ("networks", "peers")}
    for key in spec.inputs:
        value = inputs[key]
        if key in PER_NETWORK | PER_PEER:
            who = "networks" if key in PER_NETWORK else "peers"
            files, names = list(value), list(params.get(who, ()))
            if len(files) != len(names):
                raise PhotozConfigError(
                    f"figure {name}: {len(files)} {key} files for {who} {names}; "
                    f"give one per {who[:-1]}"
                )
            kwargs[key] = dict(zip(names, files, strict=True))
        elif key == "shards":
            kwargs[key] = [str(v) for v in value]
        else:
            kwargs[key] = str(value)
    return kwargs


def make_figure(name: str, **inputs) -> Figure:
    """Build one figure of :data:`REGISTRY` and return it (see :func:`plot_figure` for inputs).

    Raises
    ------
    PhotozConfigError
        For an unknown figure name or a missing required input.
    """
    spec = _spec(name)
    for key in spec.inputs:
        _need(inputs, name, key)
    with matplotlib.rc_context(_RC if spec.paper_style else {}):
        return spec.draw(**inputs)


def plot_figure(name: str, out_png, out_pdf, **inputs) -> None:
    """Draw one figure and write it as PNG and PDF (atomically).

    Parameters
    ----------
    name : str
        A key of :data:`REGISTRY`.
    out_png, out_pdf : path
        Outputs; directories are created.
    **inputs
        The drawing function's arguments (:func:`figure_kwargs` builds them for a workflow
        job). By figure: ``fig1_throughputs``: ``instrument_cfg`` (dict);
        ``fig2_redshift_distribution``: ``photometry`` (path);
        ``fig3_example_stamps``: ``photometry``, ``shards`` (list of paths), ``truth``;
        ``fig4_aperture_fluxes``: ``photometry``, ``truth``, ``shards``, ``instrument_cfg``,
        ``sed_library`` (default "cosmos"), ``emission_lines`` (default False); ``fig5_architectures``: none (optionally
        ``build_model``); ``fig6_training_history``: ``histories`` (dict net -> csv), optionally
        ``max_epochs`` (dict net -> int); ``fig7_zphot_vs_zspec``: ``predictions`` (dict net ->
        parquet); ``fig8_outlier_fraction``: ``binned`` (``results/metrics/binned.csv``);
        ``peers_comparison``: ``summary``, ``binned``; ``pdf_calibration``: ``pdfs`` (dict net ->
        ``results/pdfs/<net>.hdf5``), ``peer_pdfs`` (dict RAIL peer ->
        ``results/peers/<peer>_pz.hdf5``; may be empty).

    Raises
    ------
    PhotozConfigError
        Unknown figure or missing input.
    PhotozDataError
        Unreadable or malformed input file (the message names file and column).
    """
    spec = _spec(name)
    with tqdm(total=3, desc=name, unit="step", disable=None) as bar:
        with matplotlib.rc_context(_RC if spec.paper_style else {}):
            fig = make_figure(name, **inputs)
            bar.update()
            # the peers' comparison keeps matplotlib's defaults but the paper figures' 150 dpi
            _save(fig, out_png, "png", dpi=None if spec.paper_style else 150)
            bar.update()
            _save(fig, out_pdf, "pdf")
            bar.update()
