"""Fig. 8 of the paper: the outlier fraction against redshift, drawn from binned.csv."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, NullFormatter

from photoz.errors import PhotozConfigError
from photoz.names import LABELS, NETWORKS
from photoz.plots.style import NET_COLORS, _new_figure, _ordered_nets
from photoz.products.evaluate import read_binned

# --------------------------------------------------------------------------------------------
# Fig. 8: outlier fraction vs redshift
# --------------------------------------------------------------------------------------------
#: Fig. 8: bins with fewer test galaxies than this are drawn with open markers and do not set
#: the y-range (their outlier fraction has a binomial error of >~ 5 percentage points).
FIG8_SMALL_BIN = 20
#: One-sided confidence of the upper limit drawn for a bin without outliers (1 sigma).
FIG8_LIMIT_CL = 0.8413


def zero_outlier_upper_limit(n: np.ndarray, cl: float = FIG8_LIMIT_CL) -> np.ndarray:
    """Upper limit on the outlier fraction of a bin of ``n`` galaxies with none.

    The one-sided binomial (Clopper & Pearson 1934) limit p with (1 - p)^n = 1 - cl, i.e.
    p = 1 - (1 - cl)^(1/n); for cl = 0.8413 (1 sigma) and n = 10, p = 0.168.

    Parameters
    ----------
    n : ndarray of int, shape (k,)
        Galaxies per bin (> 0).
    cl : float
        Confidence level.

    Returns
    -------
    ndarray, shape (k,)
        Fraction (0-1).
    """
    n = np.asarray(n, dtype=float)
    return 1.0 - (1.0 - cl) ** (1.0 / n)


def fig8_rows(binned: pd.DataFrame, network: str, by: str) -> pd.DataFrame:
    """The rows of binned.csv that Fig. 8 draws for one network and binning, by bin.

    Parameters
    ----------
    binned : pandas.DataFrame
        :func:`photoz.products.evaluate.read_binned`.
    network : str
    by : {"z_pred", "z_true"}

    Returns
    -------
    pandas.DataFrame
        The bins in increasing ``z_lo``, index reset.
    """
    rows = binned[(binned["network"] == network) & (binned["binned_by"] == by)]
    return rows.sort_values("z_lo").reset_index(drop=True)


def fig8_outlier_fraction(binned) -> Figure:
    """Fig. 8: outlier percentage in bins of 0.5 of photo-z (top) and of true redshift (bottom).

    Drawn from the metrics stage's ``binned.csv``, not recomputed: every value, error bar and count
    is that file's (times 100 for percentages), so the figure and the file agree to the digit.

    Parameters
    ----------
    binned : path
        ``results/metrics/binned.csv`` (:func:`photoz.evaluate.summary.write_summary`): per network and
        binning (``binned_by``), ``z_lo, z_hi, z_mid, n, outlier_fraction,
        outlier_fraction_err``. The networks of :data:`photoz.names.NETWORKS` present are drawn
        (peers are not).

    Returns
    -------
    matplotlib.figure.Figure
        Two panels, each with a strip under it giving the galaxies per bin (log scale). Per
        network the outlier percentage (|dz|/(1+z) > 0.15) per bin with its bootstrap 1-sigma
        error, markers slightly offset per network. A bin without outliers is drawn as a
        1-sigma upper limit (:func:`zero_outlier_upper_limit`, a downward arrow); a bin with
        fewer than :data:`FIG8_SMALL_BIN` galaxies has an open marker and does not set the
        y-range (if its value lies above, a triangle at the top edge gives it). Empty bins are
        not drawn. Predictions below 0 are in the first photo-z bin, as binned.csv counts them.

    Raises
    ------
    PhotozConfigError
        If the file holds no network.
    PhotozDataError
        As :func:`photoz.products.evaluate.read_binned`.
    """
    table = read_binned(binned)
    nets = _ordered_nets({n: None for n in set(table["network"]) if n in NETWORKS})
    if not nets:
        raise PhotozConfigError(f"fig8_outlier_fraction: no network in {binned}")
    fig = _new_figure(7.5, 8.0)
    grid = fig.add_gridspec(4, 1, height_ratios=[3, 1, 3, 1], hspace=0.08)
    ax_top = fig.add_subplot(grid[0])
    cnt_top = fig.add_subplot(grid[1], sharex=ax_top)
    ax_bot = fig.add_subplot(grid[2], sharex=ax_top)
    cnt_bot = fig.add_subplot(grid[3], sharex=ax_top)
    offsets = np.linspace(-0.09, 0.09, len(nets)) if len(nets) > 1 else [0.0]
    x_top, x_lo = 0.0, 0.0
    panels = ((ax_top, cnt_top, "z_pred", "photo-z"), (ax_bot, cnt_bot, "z_true", "true redshift"))
    for ax, cnt, by, title in panels:
        lo, hi = _fig8_panel(ax, cnt, table, nets, by, title, offsets)
        x_top, x_lo = max(x_top, hi), min(x_lo, lo)
    ax_top.legend(frameon=False, ncol=4, fontsize=7.5, loc="lower center",
                  bbox_to_anchor=(0.5, 1.0))
    cnt_top.set_xlabel(r"Photo-z $z_{\rm pred}$")
    cnt_bot.set_xlabel(r"True redshift $z_{\rm true}$")
    cnt_bot.set_xlim(x_lo, max(4.0, x_top))
    fig.suptitle(
        r"Outlier fraction ($|\Delta z|/(1+z) > 0.15$), bootstrap 1σ errors; open: "
        f"N < {FIG8_SMALL_BIN}; arrows: upper limits (no outlier)",
        fontsize=8.5,
    )
    fig.subplots_adjust(left=0.12, right=0.97, top=0.92, bottom=0.07)
    return fig


def _fig8_bins(table: pd.DataFrame, nets: list[str], by: str
               ) -> tuple[dict[str, tuple], float, set[float], tuple[float, float]]:
    """The numbers one Fig. 8 panel draws, read from binned.csv.

    Returns per network ``(rows, n, percent, error, non-empty, drawn value)`` (the drawn value is
    the percentage, or for a bin without outliers its upper limit), the panel's y-range top, its
    bin edges and the (low, high) redshift extent of its non-empty bins (from 0).
    """
    tables = {}
    y_hi = 0.0
    x_top, x_lo = 0.0, 0.0
    bin_edges: set[float] = set()
    for net in nets:
        t = fig8_rows(table, net, by)
        bin_edges.update(t["z_lo"].tolist() + t["z_hi"].tolist())
        n = t["n"].to_numpy()
        frac = 100 * t["outlier_fraction"].to_numpy(dtype=float)
        err = 100 * t["outlier_fraction_err"].fillna(0).to_numpy(dtype=float)
        has = n > 0
        # what a point shows: the fraction, or for a bin without outliers its upper limit
        value = np.where(has & (frac == 0), 100 * zero_outlier_upper_limit(np.maximum(n, 1)),
                         frac)
        tables[net] = (t, n, frac, err, has, value)
        big = has & (n >= FIG8_SMALL_BIN)
        if big.any():
            y_hi = max(y_hi, float(np.nanmax(np.where(big, value + np.where(frac > 0, err, 0),
                                                      0.0))))
        if has.any():
            x_top = max(x_top, float(t["z_hi"][has].max()))
            x_lo = min(x_lo, float(t["z_lo"][has].min()))
    return tables, max(5.0, 1.15 * y_hi), bin_edges, (x_lo, x_top)


def _fig8_network(ax, cnt, bins: tuple, x: np.ndarray, c, label: str, y_max: float) -> list:
    """Draw one network's bins in a Fig. 8 panel and its counts in the strip under it.

    The line through the well-populated bins with outliers, their markers with error bars (open
    for small bins), the upper limits of bins without outliers and the count step. Returns the
    bins above the y-range as ``(bin z_mid, (x, value, colour, is_limit))``, drawn by
    :func:`_fig8_over_marks`.
    """
    t, n, frac, err, has, value = bins
    big, small = has & (n >= FIG8_SMALL_BIN), has & (n < FIG8_SMALL_BIN)
    zero = has & (frac == 0)
    over = has & (value > y_max)
    # the line joins the well-populated bins with outliers
    ax.plot(x[big & ~zero], frac[big & ~zero], "-", color=c, lw=1.0, alpha=0.7, label=label)
    for mask, mfc in ((big & ~zero, c), (small & ~zero & ~over, "white")):
        if mask.any():
            ax.errorbar(x[mask], frac[mask], yerr=err[mask], fmt="o", color=c, mfc=mfc,
                        ms=4.5, capsize=2, lw=1.0)
    lim = zero & ~over
    if lim.any():
        ax.errorbar(x[lim], value[lim], yerr=0.06 * y_max, uplims=True, fmt="_", color=c,
                    ms=7, lw=1.0, capsize=0, mfc="white" if small[lim].any() else c)
    over_marks = [(round(float(t["z_mid"].iloc[j]), 6), (x[j], value[j], c, bool(zero[j])))
                  for j in np.flatnonzero(over)]
    cnt.step(t["z_mid"], np.where(has, n, np.nan), where="mid", color=c, lw=1.0)
    return over_marks


def _fig8_over_marks(ax, over_by_bin: dict[float, list], y_max: float) -> None:
    """Draw the small bins above a Fig. 8 panel's range: a triangle at the top edge per network
    and its value, stacked under the bin."""
    for entries in over_by_bin.values():
        for row, (xv, yv, c, is_limit) in enumerate(entries):
            ax.plot(xv, 0.975 * y_max, "^", color=c, mfc="white", ms=6)
            ax.text(float(np.mean([e[0] for e in entries])), (0.92 - 0.065 * row) * y_max,
                    f"{'<' if is_limit else ''}{yv:.0f}%", color=c, fontsize=6.5,
                    ha="center", va="top")


def _fig8_panel(ax, cnt, table: pd.DataFrame, nets: list[str], by: str, title: str,
                offsets) -> tuple[float, float]:
    """Draw one Fig. 8 panel (bins of ``by``) and its count strip; return the (low, high)
    redshift extent of its non-empty bins (from 0)."""
    tables, y_max, bin_edges, x_range = _fig8_bins(table, nets, by)
    over_by_bin: dict[float, list] = {}
    for k, net in enumerate(nets):
        x = tables[net][0]["z_mid"].to_numpy(dtype=float) + offsets[k]
        for key, entry in _fig8_network(ax, cnt, tables[net], x, NET_COLORS[net], LABELS[net],
                                        y_max):
            over_by_bin.setdefault(key, []).append(entry)
    ax.set_ylim(0, y_max)
    _fig8_over_marks(ax, over_by_bin, y_max)
    ax.set_ylabel(f"Outliers [%]\n(bins of {title})")
    cnt.set_yscale("log")
    cnt.yaxis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:g}"))
    cnt.yaxis.set_minor_formatter(NullFormatter())
    cnt.set_ylabel("N", fontsize=8)
    cnt.tick_params(labelsize=7)
    cnt.axhline(FIG8_SMALL_BIN, color="0.5", lw=0.6, ls=":")
    for e in sorted(bin_edges):
        ax.axvline(e, color="0.9", lw=0.5, zorder=0)
    ax.tick_params(labelbottom=False)
    return x_range


