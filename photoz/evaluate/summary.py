"""The metrics stage's files: summary.json, summary.md, summary.html and binned.csv.

:func:`write_summary` scores every network's (and peer's) test-set predictions with the pure
metrics of :mod:`photoz.evaluate.metrics` beside the paper's Table 2 (:mod:`photoz.paper`), the p(z)
of every method that gives one (the networks' and the RAIL peers' qp files) with the one scorer of
:mod:`photoz.evaluate.pdfscores`, names the flux measurement each method read (``input_flux``,
from its predictions table's metadata), and writes the table as JSON, Markdown and HTML, and the
metrics per redshift bin as ``binned.csv``, the file Fig. 8 and the peers' comparison are drawn
from (:func:`photoz.products.evaluate.read_binned`).
"""

from __future__ import annotations

import html
import os
from collections.abc import Mapping

import numpy as np
import pandas as pd
from tqdm import tqdm

from photoz.errors import PhotozConfigError
from photoz.evaluate.metrics import (
    binned_metrics,
    bootstrap_metrics,
    point_metrics,
    redshift_bin_edges,
)
from photoz.evaluate.pdfscores import score_file
from photoz.io import write_text
from photoz.names import LABELS, METHODS, NETWORKS
from photoz.paper import PAPER_N_SELECTED, PAPER_RESULTS, PAPER_SPLIT_SIZES, paper_row
from photoz.products.evaluate import write_binned, write_summary_json
from photoz.products.photometry import read_selection
from photoz.products.train import prediction_metadata, read_predictions


def _fmt(value: float | None, kind: str) -> str:
    if value is None or not np.isfinite(value):
        return "—"
    if kind == "percent":
        return f"{100 * value:.2f}%"
    if kind == "signed":
        return f"{value:+.4f}"
    return f"{value:.4f}"


def _fmt_err(value: float, err: float | None, kind: str) -> str:
    text = _fmt(value, kind)
    if err is None or not np.isfinite(err) or text == "—":
        return text
    if kind == "percent":
        return f"{text} ± {100 * err:.2f}"
    return f"{text} ± {err:.4f}"


#: The cells of the paper's Table 2 beside ours (:func:`_paper_cells`), in both tables.
_PAPER_HEADER = ("n_test", "sigma_NMAD", "paper", "outlier fraction", "paper", "MAE", "paper")
#: The p(z) scores of every method that gives a p(z) (:mod:`photoz.evaluate.pdfscores`).
_PDF_HEADER = ("CRPS", "PIT KS", "coverage 68", "coverage 95")
_TABLE_HEADER = (
    "network",
    "input flux",
    "n_test",
    "sigma_NMAD",
    "paper",
    "outlier fraction",
    "paper",
    "MAE",
    "paper",
    "bias",
    "sigma_MAD (RAIL)",
    "sigma_IQR (RAIL)",
    "outliers (RAIL)",
    *_PDF_HEADER,
)
_TABLE_NOTE = (
    "input flux: the flux measurement the method read (matched: matched-filter fluxes; kron: the "
    "Kron aperture's; none: stamps only). "
    "sigma_NMAD = 1.48 median(|dz - median(dz)| / (1 + z)); outlier: |dz| / (1 + z) > 0.15; "
    "MAE = mean(|dz| / (1 + z)); bias = median(dz / (1 + z)); RAIL outliers: "
    "|dz| / (1 + z) > max(0.06, 3 sigma_IQR). The paper gives MAE only for 30k. "
    "CRPS (in z), the KS statistic of the PIT against U(0, 1) and the fraction of true redshifts "
    "in the central 68% and 95% of the p(z), from every method's p(z) file by one scorer "
    "(photoz.evaluate.pdfscores; the networks' p(z) truncated at z = 0); — : no p(z)."
)


def _intro(summary: Mapping, paper_row: str | None, train_test_ratio: str) -> str:
    compared = (f"compared with Zhou et al. 2022 (MNRAS 512, 4593), Table 2, {paper_row} training "
                f"galaxies" if paper_row else
                "the paper (Zhou et al. 2022, MNRAS 512, 4593, Table 2) has no run with this ratio")
    return (
        f"Train:test ratio {train_test_ratio}; {compared}. Selected galaxies: {summary['n_selected']} "
        f"(paper: about {PAPER_N_SELECTED:,}). Errors are bootstrap standard deviations of the test set."
    )


#: Header of the table of every train:test ratio (:func:`ratio_rows`), several ratios only.
_RATIO_HEADER = ("train:test", "paper row", "network", "n_train", "paper n_train",
                 *_PAPER_HEADER)
_RATIO_TITLE = "Every train:test ratio beside the paper's Table 2"
_RATIO_NOTE = (
    "One seeded permutation of the catalogue is cut for every ratio (photoz.catalog.splits): the test "
    "sets are nested (the 3:1 test galaxies are among the 1:1 and 1:3 ones) and every training "
    "set holds the smaller ones; validation is catalog.validation_fraction of each training part "
    "(n_train counts the selected training galaxies without it). Peers and the figures use the "
    "first ratio, the table above."
)


def _paper_cells(m: Mapping, p: Mapping) -> list[str]:
    """n_test and our sigma_NMAD, outlier fraction and MAE (with bootstrap errors), each beside
    the paper's: the cells both tables share (``_PAPER_HEADER``)."""
    return [
        str(m["n_test"]),
        _fmt_err(m["sigma_nmad"], m.get("sigma_nmad_err"), "plain"),
        _fmt(p.get("sigma_nmad"), "plain"),
        _fmt_err(m["outlier_fraction"], m.get("outlier_fraction_err"), "percent"),
        _fmt(p.get("outlier_fraction"), "percent"),
        _fmt_err(m["mae"], m.get("mae_err"), "plain"),
        _fmt(p.get("mae"), "plain"),
    ]


def summary_rows(summary: Mapping, paper_row: str) -> list[list[str]]:
    """The summary table's formatted cells, one row per network (header: ``_TABLE_HEADER``).

    Parameters
    ----------
    summary : mapping
        As returned by :func:`write_summary` (network -> metrics, plus ``n_selected``).
    paper_row : str or None
        ``"30k"``, ``"20k"`` or ``"10k"`` (key of :data:`PAPER_RESULTS`); None: no paper values.

    Returns
    -------
    list of list of str
    """
    paper = PAPER_RESULTS.get(paper_row, {})
    labels = dict(LABELS)
    rows = []
    for net in METHODS:
        if net not in summary:
            continue
        m = summary[net]
        p = paper.get(net, {})
        rows.append(
            [
                labels[net],
                _input_flux_cell(m.get("input_flux")),
                *_paper_cells(m, p),
                _fmt_err(m["bias"], m.get("bias_err"), "signed"),
                _fmt(m["sigma_mad"], "plain"),
                _fmt(m["sigma_iqr"], "plain"),
                _fmt(m["outlier_rate_rail"], "percent"),
                _fmt(m.get("crps"), "plain"),
                _fmt(m.get("pit_ks"), "plain"),
                _fmt(m.get("coverage_68"), "plain"),
                _fmt(m.get("coverage_95"), "plain"),
            ]
        )
    return rows


def _input_flux_cell(flux: str | None) -> str:
    """The table's cell of ``input_flux``: ``matched``, ``kron``, ``none (stamps)``, or — when a
    predictions table does not say (written before issue 29)."""
    if flux is None:
        return "—"
    return "none (stamps)" if flux == "none" else str(flux)


def ratio_rows(summary: Mapping) -> list[list[str]]:
    """The cells of the table of every train:test ratio (header ``_RATIO_HEADER``).

    Parameters
    ----------
    summary : mapping
        As returned by :func:`write_summary`; its ``ratios`` (ratio -> row) are tabulated, one
        line per ratio and network, the paper's Table 2 values beside ours. No ``ratios``: [].

    Returns
    -------
    list of list of str
    """
    labels = dict(LABELS)
    rows = []
    for ratio, row in summary.get("ratios", {}).items():
        paper = PAPER_RESULTS.get(row["paper_row"], {})
        size = PAPER_SPLIT_SIZES.get(row["paper_row"], {})
        for net in METHODS:
            if net not in row:
                continue
            m, p = row[net], paper.get(net, {})
            rows.append([
                ratio,
                row["paper_row"] or "—",
                labels[net],
                str(m["n_train"]),
                f"{size['train']:,}" if size else "—",
                *_paper_cells(m, p),
            ])
    return rows


def summary_markdown(summary: Mapping, paper_row: str | None, train_test_ratio: str) -> str:
    """The summary table in Markdown: our metrics beside the paper's for the same split.

    Parameters
    ----------
    summary : mapping
        As returned by :func:`write_summary` (network -> metrics, plus ``n_selected``).
    paper_row : str or None
        ``"30k"``, ``"20k"`` or ``"10k"`` (key of :data:`PAPER_RESULTS`); None: no paper values.
    train_test_ratio : str
        The run's (first) ratio, for the heading. A summary with ``ratios`` gets a second table,
        every ratio beside the paper's row (:func:`ratio_rows`).

    Returns
    -------
    str
    """
    lines = [
        "# Photo-z metrics on the test set",
        "",
        _intro(summary, paper_row, train_test_ratio),
        "",
        "| " + " | ".join(_TABLE_HEADER) + " |",
        "|---|" + "---:|" * (len(_TABLE_HEADER) - 1),
    ]
    lines += ["| " + " | ".join(r) + " |" for r in summary_rows(summary, paper_row)]
    lines += ["", _TABLE_NOTE, ""]
    if summary.get("ratios"):
        lines += [
            f"## {_RATIO_TITLE}",
            "",
            "| " + " | ".join(_RATIO_HEADER) + " |",
            "|---|---|---|" + "---:|" * (len(_RATIO_HEADER) - 3),
        ]
        lines += ["| " + " | ".join(r) + " |" for r in ratio_rows(summary)]
        lines += ["", _RATIO_NOTE, ""]
    return "\n".join(lines)


def summary_html(summary: Mapping, paper_row: str | None, train_test_ratio: str) -> str:
    """The same table as :func:`summary_markdown`, as a standalone HTML page.

    Snakemake's report shows HTML results inline (Markdown only as a download), so this is the
    form to wrap in ``report(...)``.

    Returns
    -------
    str
    """
    table = pd.DataFrame(summary_rows(summary, paper_row), columns=list(_TABLE_HEADER))
    body = table.to_html(index=False, escape=True, border=0, classes="summary")
    extra = ""
    if summary.get("ratios"):
        rows = pd.DataFrame(ratio_rows(summary), columns=list(_RATIO_HEADER))
        extra = (f"<h3>{html.escape(_RATIO_TITLE)}</h3>\n"
                 f"{rows.to_html(index=False, escape=True, border=0, classes='summary')}\n"
                 f"<p>{html.escape(_RATIO_NOTE)}</p>\n")
    return (
        '<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>Photo-z metrics</title>'
        "<style>body{font-family:sans-serif;font-size:14px}"
        "table.summary{border-collapse:collapse}"
        "table.summary td,table.summary th{padding:3px 8px;border-bottom:1px solid #ccc;"
        "text-align:right}table.summary td:first-child{text-align:left}</style></head><body>\n"
        f"<h3>Photo-z metrics on the test set</h3>\n<p>{html.escape(_intro(summary, paper_row, train_test_ratio))}</p>\n"
        f"{body}\n<p>{html.escape(_TABLE_NOTE)}</p>\n{extra}</body></html>\n"
    )


def _score(path: str | os.PathLike, rng: np.random.Generator, n_bootstrap: int,
           pdf_path: str | os.PathLike | None = None) -> dict:
    """Test-set metrics of one predictions file: point, bootstrap errors, the flux it read
    (``input_flux``: ``matched``, ``kron``, ``none`` for stamps only; None if its metadata does
    not say) and, given its p(z) file, the p(z) scores
    (:func:`photoz.evaluate.pdfscores.score_file`)."""
    df = read_predictions(path, split="test")
    zp, zt = df["z_pred"].to_numpy(), df["z_true"].to_numpy()
    metrics = point_metrics(zp, zt)
    metrics["n_test"] = metrics.pop("n")
    metrics.update(bootstrap_metrics(zp, zt, n_bootstrap=n_bootstrap, seed=rng))
    metrics["input_flux"] = prediction_metadata(path).get("input_flux")
    if pdf_path is not None:
        # crps, pit_ks, coverage ...: the p(z) of the test galaxies, matched by object_id
        metrics.update(score_file(pdf_path, df["object_id"].to_numpy(), zt))
    return metrics


def _split_counts(path: str | os.PathLike) -> dict[str, int]:
    """Selected galaxies of one predictions file in the train and validation splits."""
    split = read_predictions(path, split=None)["split"].astype(str)
    return {"n_train": int((split == "train").sum()),
            "n_validation": int((split == "validation").sum())}


def _binned(path: str | os.PathLike, name: str, rng: np.random.Generator, n_bootstrap: int
            ) -> list[pd.DataFrame]:
    """One method's metrics in bins of 0.5 of z_pred and of z_true (``binned.csv``'s rows)."""
    df = read_predictions(path, split="test")
    zp, zt = df["z_pred"].to_numpy(), df["z_true"].to_numpy()
    edges = redshift_bin_edges(max(float(zt.max()), float(zp.max()), 0.0), 0.5)
    out = []
    for by in ("z_pred", "z_true"):
        table = binned_metrics(zp, zt, by=by, edges=edges, n_bootstrap=n_bootstrap, seed=rng)
        table.insert(0, "network", name)
        out.append(table)
    return out


def _first_ratio(summary: dict, predictions: Mapping, pdfs: Mapping, seed: int,
                 n_bootstrap: int) -> list[pd.DataFrame]:
    """Score every method of the first ratio into ``summary``; return its ``binned.csv`` rows.

    Child i of a SeedSequence does not depend on how many are spawned: the networks' bootstrap
    streams are the same with or without peers.
    """
    seeds = np.random.SeedSequence(seed).spawn(len(METHODS))
    binned = []
    for net in tqdm([n for n in METHODS if n in predictions], desc="metrics", unit="method",
                    disable=None):
        rng = np.random.default_rng(seeds[METHODS.index(net)])
        summary[net] = _score(predictions[net], rng, n_bootstrap, pdfs.get(net))
        binned += _binned(predictions[net], net, rng, n_bootstrap)
    return binned


def _further_ratios(summary: dict, ratio: str, predictions: Mapping, further: Mapping,
                    further_pdfs: Mapping, seed: int, n_bootstrap: int) -> dict:
    """``summary.json``'s ``ratios``: every ratio's networks with their split counts."""
    networks = [n for n in NETWORKS if n in predictions]
    rows = {ratio: {"paper_row": summary["paper_row"],
                    **{n: {**summary[n], **_split_counts(predictions[n])} for n in networks}}}
    for k, (other, preds) in enumerate(further.items(), start=1):
        streams = np.random.SeedSequence([int(seed), k]).spawn(len(METHODS))
        pdfs = further_pdfs.get(other, {})
        rows[other] = {"paper_row": paper_row(other)}
        for net in [n for n in METHODS if n in preds]:
            rng = np.random.default_rng(streams[METHODS.index(net)])
            rows[other][net] = {**_score(preds[net], rng, n_bootstrap, pdfs.get(net)),
                                **_split_counts(preds[net])}
    return rows


def _check_names(ratio: str, predictions: Mapping, further: Mapping, pdfs: Mapping,
                 further_pdfs: Mapping) -> None:
    """Every method known, every p(z) file a method's, the first ratio not repeated."""
    named = [*predictions, *(n for p in further.values() for n in p)]
    unknown = sorted(set(named) - set(METHODS))
    if unknown:
        raise PhotozConfigError(
            f"metrics.predictions: unknown network(s) {unknown}; known {list(METHODS)}"
        )
    for where, files, preds in [("pdfs", pdfs, predictions),
                                *((f"ratio_pdfs[{r!r}]", p, further.get(r, {}))
                                  for r, p in further_pdfs.items())]:
        stray = sorted(set(files) - set(preds))
        if stray:
            raise PhotozConfigError(f"metrics.{where}: p(z) files of {stray}, which have no "
                                    f"predictions table")
    if ratio in further:
        raise PhotozConfigError(f"metrics.ratio_predictions: {ratio!r} is the first ratio "
                                f"(train_test_ratio) too; list each ratio once")


def write_summary(
    predictions: Mapping[str, str | os.PathLike],
    selection_path: str | os.PathLike,
    out_json: str | os.PathLike,
    out_md: str | os.PathLike,
    out_binned_csv: str | os.PathLike,
    train_test_ratio: str,
    n_bootstrap: int = 200,
    seed: int = 0,
    out_html: str | os.PathLike | None = None,
    ratio_predictions: Mapping[str, Mapping[str, str | os.PathLike]] | None = None,
    pdfs: Mapping[str, str | os.PathLike] | None = None,
    ratio_pdfs: Mapping[str, Mapping[str, str | os.PathLike]] | None = None,
) -> dict:
    """Compute the test-set metrics of every method and write summary.json, .md, .html, binned.csv.

    Parameters
    ----------
    predictions : mapping of str to path
        Method (:data:`photoz.names.METHODS`) -> ``results/predictions/<name>.parquet``;
        metrics use the rows with split == "test".
    selection_path : path
        ``results/photometry/selection.json``; its ``n_selected`` is copied to the summary.
    out_json, out_md, out_binned_csv, out_html : path
        Outputs (written atomically, :mod:`photoz.products.evaluate`): ``summary.json`` (method
        -> ``sigma_nmad, outlier_fraction, mae, bias, n_test``, the RAIL forms, bootstrap errors
        ``<metric>_err``, ``input_flux`` (:func:`_score`) and, for a method in ``pdfs``, the
        p(z) scores ``crps, pit_ks, coverage_68, coverage_95 ...``), ``summary.md``,
        ``binned.csv`` (:func:`binned_metrics` by z_true and by z_pred, bins of 0.5) and,
        optionally, ``summary.html`` (what the report shows).
    train_test_ratio : str
        The run's (first) ratio, e.g. ``"3:1"``: picks the paper's row
        (:func:`photoz.paper.paper_row`; another ratio's paper columns read "—").
    n_bootstrap : int
        Bootstrap resamplings of the test set for the errors.
    seed : int
        Seed of the bootstrap; each method uses its own stream spawned from it.
    ratio_predictions : mapping, optional
        Further train:test ratios (:mod:`photoz.catalog.splits`): ratio (``"1:3"``) -> network ->
        ``results/predictions/r1-3/<net>.parquet``. summary.json then holds ``ratios``: ratio ->
        {``paper_row``, network -> the metrics above plus ``n_train``, ``n_validation``};
        summary.md and .html get a second table (:func:`ratio_rows`). Further ratio k
        bootstraps with streams spawned from ``SeedSequence([seed, k])``.
    pdfs, ratio_pdfs : mapping, optional
        The p(z) files of the first ratio's methods (method -> path: the networks'
        ``results/pdfs/<net>.hdf5`` and the RAIL peers' ``results/peers/<peer>_pz.hdf5``) and of
        each further ratio's networks (ratio -> network -> path), as the rule's inputs name them;
        scored on the predictions' test galaxies, matched by ``object_id``.

    Returns
    -------
    dict
        The content of summary.json.

    Raises
    ------
    PhotozConfigError
        For an unknown method, a p(z) file without its predictions, or a repeated ratio.
    PhotozDataError
        For an unreadable or malformed predictions, p(z) or selection file.
    """
    ratio = str(train_test_ratio).strip()
    pdfs = dict(pdfs or {})
    further = {str(r).strip(): dict(p) for r, p in (ratio_predictions or {}).items()}
    further_pdfs = {str(r).strip(): dict(p) for r, p in (ratio_pdfs or {}).items()}
    _check_names(ratio, predictions, further, pdfs, further_pdfs)
    summary: dict = {"n_selected": int(read_selection(selection_path)["n_selected"]),
                     "train_test_ratio": ratio, "paper_row": paper_row(ratio),
                     "n_bootstrap": int(n_bootstrap), "seed": int(seed)}
    binned = _first_ratio(summary, predictions, pdfs, seed, n_bootstrap)
    if further:
        summary["ratios"] = _further_ratios(summary, ratio, predictions, further, further_pdfs,
                                            seed, n_bootstrap)
    write_summary_json(summary, out_json)
    write_text(out_md, summary_markdown(summary, summary["paper_row"], ratio))
    if out_html is not None:
        write_text(out_html, summary_html(summary, summary["paper_row"], ratio))
    write_binned(pd.concat(binned, ignore_index=True) if binned else pd.DataFrame(),
                 out_binned_csv)
    return summary
