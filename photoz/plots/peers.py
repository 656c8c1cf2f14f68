"""The comparison figure of the networks and the classical peers (issues 14, 29).

Three panels, drawn from the compute_metrics products so that the numbers are the summary table's:
sigma_NMAD and the outlier fraction of every method on the test set with bootstrap errors
(``summary.json``), and the outlier fraction in 0.5-wide bins of true redshift (``binned.csv``;
the paper's Fig. 8 binning). Networks are drawn solid, peers hatched / dashed; each method's label
names the flux measurement it read (``input_flux``). Every run draws it: without peers it compares
the networks alone (``config/peers.yaml`` adds the five peers).
"""

from __future__ import annotations

import os

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from photoz.errors import PhotozDataError
from photoz.names import LABELS, METHODS, PEERS
from photoz.products.evaluate import read_binned, read_summary

matplotlib.use("Agg", force=False)

#: Colours: networks from tab10's first four, peers from its next five.
_COLOURS = dict(zip(METHODS, [f"C{i}" for i in range(len(METHODS))], strict=True))


#: Bins with fewer test galaxies are not drawn (as the paper-figure code, photoz.plots' Fig. 8).
MIN_BIN_COUNT = 5


def _labels(summary: dict) -> dict[str, str]:
    """Each method's label with the flux it read, e.g. ``MLP (matched)``, ``CNN (stamps)``."""
    out = {}
    for method, label in LABELS.items():
        row = summary.get(method)
        flux = row.get("input_flux") if isinstance(row, dict) else None
        out[method] = label if flux is None else (
            f"{label} ({'stamps' if flux == 'none' else flux})")
    return out


def read_comparison(summary_path: str | os.PathLike, binned_path: str | os.PathLike
                    ) -> tuple[dict, pd.DataFrame, list[str]]:
    """Read summary.json and binned.csv; return them and the methods present, in table order.

    Raises
    ------
    PhotozDataError
        If either file is unreadable or holds no known method.
    """
    summary, binned = read_summary(summary_path), read_binned(binned_path)
    methods = [m for m in METHODS if isinstance(summary.get(m), dict)]
    if not methods:
        raise PhotozDataError(f"{summary_path}: no network or peer metrics to compare")
    return summary, binned, methods


def plot_peer_comparison(summary: str | os.PathLike, binned: str | os.PathLike) -> Figure:
    """sigma_NMAD and outliers per method, and outlier fraction against true redshift.

    Parameters
    ----------
    summary : path-like
        ``results/metrics/summary.json`` (method -> ``sigma_nmad``, ``outlier_fraction`` and
        their ``_err``).
    binned : path-like
        ``results/metrics/binned.csv`` (rows ``binned_by == "z_true"`` are drawn).

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    PhotozDataError
        As :func:`read_comparison`.
    """
    summary, binned, methods = read_comparison(summary, binned)
    labels = _labels(summary)
    fig = Figure(figsize=(13.0, 4.2))
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, 3, gridspec_kw={"width_ratios": [1, 1, 1.3]})
    y = np.arange(len(methods))[::-1]
    for ax, key, scale, title in (
        (axes[0], "sigma_nmad", 1.0, r"$\sigma_{\rm NMAD}$"),
        (axes[1], "outlier_fraction", 100.0, r"outlier fraction $\eta$ (%)"),
    ):
        vals = np.array([summary[m][key] for m in methods], dtype=float) * scale
        errs = np.array([summary[m].get(f"{key}_err") or np.nan for m in methods], dtype=float)
        for yi, m, v, e in zip(y, methods, vals, errs * scale, strict=True):
            peer = m in PEERS
            ax.barh(yi, v, xerr=None if not np.isfinite(e) else e, color=_COLOURS[m],
                    alpha=0.55 if peer else 0.9, hatch="//" if peer else None,
                    edgecolor="k", linewidth=0.5, capsize=2)
            x_text = v + (e if np.isfinite(e) else 0.0)
            ax.text(x_text, yi, f" {v:.4f}" if scale == 1 else f" {v:.2f}", va="center", fontsize=7)
        ax.set_yticks(y)
        ax.set_yticklabels([labels[m] for m in methods] if ax is axes[0] else [], fontsize=8)
        ax.set_xlabel(title)
        ax.set_xlim(0, 1.35 * np.nanmax(vals))
    ax = axes[2]
    rows = binned[binned["binned_by"] == "z_true"]
    for m in methods:
        r = rows[(rows["network"] == m) & (rows["n"] >= MIN_BIN_COUNT)]
        if r.empty:
            continue
        ax.errorbar(r["z_mid"], 100 * r["outlier_fraction"], yerr=100 * r["outlier_fraction_err"],
                    color=_COLOURS[m], ls="--" if m in PEERS else "-", marker="o", ms=3,
                    capsize=2, lw=1.2, label=LABELS[m])
    ax.set_xlabel(rf"$z_{{\rm true}}$ (bins of 0.5; $\geq {MIN_BIN_COUNT}$ galaxies)")
    ax.set_ylabel(r"outlier fraction $\eta$ (%)")
    ax.legend(fontsize=7, ncol=2)
    n_test = summary[methods[0]].get("n_test")
    title = (f"Networks (solid) and classical peers (hatched, dashed) on the same test set "
             f"({n_test} galaxies)" if set(methods) & set(PEERS) else
             f"Networks on the test set ({n_test} galaxies); the classical peers join them with "
             "--configfile config/peers.yaml")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig
