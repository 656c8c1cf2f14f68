"""The metrics stage's files: summary.json, summary.md, summary.html and binned.csv.

:func:`write_summary` scores every network's (and peer's) test-set predictions with the pure
metrics of :mod:`photoz.metrics` beside the paper's Table 2 (:mod:`photoz.paper`), and writes the
table as JSON, Markdown and HTML, and the metrics per redshift bin as ``binned.csv``, the file
Fig. 8 and the peers' comparison are drawn from (:func:`photoz.products.read_binned`).
"""

from __future__ import annotations

import html
import os
from collections.abc import Mapping

import numpy as np
import pandas as pd

from photoz.errors import PhotozConfigError
from photoz.io import write_text
from photoz.logs import progress as tqdm
from photoz.metrics import (
    METHODS,
    NETWORK_LABELS,
    PEER_LABELS,
    binned_metrics,
    bootstrap_metrics,
    point_metrics,
    read_predictions,
    redshift_bin_edges,
)
from photoz.paper import PAPER_N_SELECTED, PAPER_RESULTS, RATIO_TO_PAPER_ROW
from photoz.pdf import pdf_summary
from photoz.products import (  # noqa: F401 - read_binned, BINNED_COLUMNS: re-exported
    BINNED_COLUMNS,
    read_binned,
    read_selection,
    write_binned,
    write_summary_json,
)


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


_TABLE_HEADER = (
    "network",
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
)
_TABLE_NOTE = (
    "sigma_NMAD = 1.48 median(|dz - median(dz)| / (1 + z)); outlier: |dz| / (1 + z) > 0.15; "
    "MAE = mean(|dz| / (1 + z)); bias = median(dz / (1 + z)); RAIL outliers: "
    "|dz| / (1 + z) > max(0.06, 3 sigma_IQR). The paper gives MAE only for 30k."
)


def _intro(summary: Mapping, paper_row: str, train_test_ratio: str) -> str:
    return (
        f"Train:test ratio {train_test_ratio}; compared with Zhou et al. 2022 (MNRAS 512, 4593), "
        f"Table 2, {paper_row} training galaxies. Selected galaxies: {summary['n_selected']} "
        f"(paper: about {PAPER_N_SELECTED:,}). Errors are bootstrap standard deviations of the test set."
    )


def summary_rows(summary: Mapping, paper_row: str) -> list[list[str]]:
    """The summary table's formatted cells, one row per network (header: ``_TABLE_HEADER``).

    Parameters
    ----------
    summary : mapping
        As returned by :func:`write_summary` (network -> metrics, plus ``n_selected``).
    paper_row : str
        ``"30k"``, ``"20k"`` or ``"10k"`` (key of :data:`PAPER_RESULTS`).

    Returns
    -------
    list of list of str
    """
    paper = PAPER_RESULTS[paper_row]
    labels = {**NETWORK_LABELS, **PEER_LABELS}
    rows = []
    for net in METHODS:
        if net not in summary:
            continue
        m = summary[net]
        p = paper.get(net, {})
        rows.append(
            [
                labels[net],
                str(m["n_test"]),
                _fmt_err(m["sigma_nmad"], m.get("sigma_nmad_err"), "plain"),
                _fmt(p.get("sigma_nmad"), "plain"),
                _fmt_err(m["outlier_fraction"], m.get("outlier_fraction_err"), "percent"),
                _fmt(p.get("outlier_fraction"), "percent"),
                _fmt_err(m["mae"], m.get("mae_err"), "plain"),
                _fmt(p.get("mae"), "plain"),
                _fmt_err(m["bias"], m.get("bias_err"), "signed"),
                _fmt(m["sigma_mad"], "plain"),
                _fmt(m["sigma_iqr"], "plain"),
                _fmt(m["outlier_rate_rail"], "percent"),
            ]
        )
    return rows


def summary_markdown(summary: Mapping, paper_row: str, train_test_ratio: str) -> str:
    """The summary table in Markdown: our metrics beside the paper's for the same split.

    Parameters
    ----------
    summary : mapping
        As returned by :func:`write_summary` (network -> metrics, plus ``n_selected``).
    paper_row : str
        ``"30k"``, ``"20k"`` or ``"10k"`` (key of :data:`PAPER_RESULTS`).
    train_test_ratio : str
        The run's ratio, for the heading.

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
    return "\n".join(lines)


def summary_html(summary: Mapping, paper_row: str, train_test_ratio: str) -> str:
    """The same table as :func:`summary_markdown`, as a standalone HTML page.

    Snakemake's report shows HTML results inline (Markdown only as a download), so this is the
    form to wrap in ``report(...)``.

    Returns
    -------
    str
    """
    table = pd.DataFrame(summary_rows(summary, paper_row), columns=list(_TABLE_HEADER))
    body = table.to_html(index=False, escape=True, border=0, classes="summary")
    return (
        '<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>Photo-z metrics</title>'
        "<style>body{font-family:sans-serif;font-size:14px}"
        "table.summary{border-collapse:collapse}"
        "table.summary td,table.summary th{padding:3px 8px;border-bottom:1px solid #ccc;"
        "text-align:right}table.summary td:first-child{text-align:left}</style></head><body>\n"
        f"<h3>Photo-z metrics on the test set</h3>\n<p>{html.escape(_intro(summary, paper_row, train_test_ratio))}</p>\n"
        f"{body}\n<p>{html.escape(_TABLE_NOTE)}</p>\n</body></html>\n"
    )


def write_summary(
    predictions: dict[str, str],
    selection_path: str | os.PathLike,
    out_json: str | os.PathLike,
    out_md: str | os.PathLike,
    out_binned_csv: str | os.PathLike,
    train_test_ratio: str,
    n_bootstrap: int = 200,
    seed: int = 0,
    out_html: str | os.PathLike | None = None,
) -> dict:
    """Compute the test-set metrics of every network and write summary.json, summary.md, binned.csv.

    Parameters
    ----------
    predictions : dict of str to path
        Network name (``mlp, cnn, hybrid, hybrid_transfer``) or peer (:data:`PEERS`) ->
        ``results/predictions/<name>.parquet``
        (``object_id, z_true, z_pred, split``); metrics use the rows with split == "test".
    selection_path : path
        ``results/photometry/selection.json``; its ``n_selected`` is copied to the summary.
    out_json, out_md, out_binned_csv : path
        Outputs (written atomically): ``summary.json`` (network -> ``sigma_nmad,
        outlier_fraction, mae, bias, n_test``, the RAIL forms ``sigma_mad, sigma_iqr,
        outlier_rate_rail`` and bootstrap errors ``<metric>_err``; top-level ``n_selected``,
        ``train_test_ratio``, ``paper_row``, ``n_bootstrap``, ``seed``), ``summary.md``
        (:func:`summary_markdown`; a network with ``results/pdfs/<net>.hdf5`` also gets the
        p(z) scores of :func:`photoz.pdf.pdf_summary`) and ``binned.csv`` (:func:`binned_metrics` by z_true and by
        z_pred, bins of 0.5, with a ``network`` column).
    train_test_ratio : str
        ``"3:1"``, ``"1:1"`` or ``"1:3"``: picks the paper's 30k, 20k or 10k row.
    n_bootstrap : int
        Bootstrap resamplings of the test set for the errors (default 200).
    seed : int
        Seed of the bootstrap; each network uses its own stream spawned from it.
    out_html : path, optional
        Also write the table as HTML (:func:`summary_html`), the form Snakemake's report
        shows inline.

    Returns
    -------
    dict
        The content of summary.json.

    Raises
    ------
    PhotozConfigError
        For an unknown network or peer name or train:test ratio.
    PhotozDataError
        For an unreadable or malformed predictions or selection file.
    """
    ratio = str(train_test_ratio).strip()
    if ratio not in RATIO_TO_PAPER_ROW:
        raise PhotozConfigError(
            f"metrics.train_test_ratio: {train_test_ratio!r} is not one of "
            f"{sorted(RATIO_TO_PAPER_ROW)} (the paper's 30k, 20k and 10k training sets)"
        )
    unknown = sorted(set(predictions) - set(METHODS))
    if unknown:
        raise PhotozConfigError(
            f"metrics.predictions: unknown network(s) {unknown}; known {METHODS}"
        )
    selection = read_selection(selection_path)
    # Child i of a SeedSequence does not depend on how many are spawned: the networks' streams
    # are the same with or without peers.
    seeds = np.random.SeedSequence(seed).spawn(len(METHODS))
    summary: dict = {
        "n_selected": int(selection["n_selected"]),
        "train_test_ratio": ratio,
        "paper_row": RATIO_TO_PAPER_ROW[ratio],
        "n_bootstrap": int(n_bootstrap),
        "seed": int(seed),
    }
    binned = []
    nets = [n for n in METHODS if n in predictions]
    for net in tqdm(nets, desc="metrics", unit="network"):
        df = read_predictions(predictions[net], split="test")
        zp, zt = df["z_pred"].to_numpy(), df["z_true"].to_numpy()
        rng = np.random.default_rng(seeds[METHODS.index(net)])
        metrics = point_metrics(zp, zt)
        metrics["n_test"] = metrics.pop("n")
        metrics.update(bootstrap_metrics(zp, zt, n_bootstrap=n_bootstrap, seed=rng))
        metrics.update(pdf_summary(predictions[net]))  # issue 13: crps, pit_ks, coverage_68/95 ...
        summary[net] = metrics
        top = max(float(zt.max()), float(zp.max()), 0.0)
        edges = redshift_bin_edges(top, 0.5)
        for by in ("z_pred", "z_true"):
            table = binned_metrics(zp, zt, by=by, edges=edges, n_bootstrap=n_bootstrap, seed=rng)
            table.insert(0, "network", net)
            binned.append(table)
    write_summary_json(summary, out_json)
    write_text(out_md, summary_markdown(summary, RATIO_TO_PAPER_ROW[ratio], ratio))
    if out_html is not None:
        write_text(out_html, summary_html(summary, RATIO_TO_PAPER_ROW[ratio], ratio))
    binned_df = pd.concat(binned, ignore_index=True) if binned else pd.DataFrame()
    write_binned(binned_df, out_binned_csv)
    return summary
