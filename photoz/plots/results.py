"""Figs. 6 and 7 of the paper: the training histories and photo-z against true redshift."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
from matplotlib.colors import LogNorm
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, MaxNLocator, NullFormatter

from photoz.errors import PhotozConfigError
from photoz.evaluate import metrics as pzm
from photoz.names import LABELS
from photoz.plots.style import NET_COLORS, _new_figure, _ordered_nets
from photoz.products.train import read_history, read_predictions


# --------------------------------------------------------------------------------------------
# Fig. 6: training history
# --------------------------------------------------------------------------------------------
def stop_reason(history: pd.DataFrame, max_epochs: int | None) -> str:
    """Why training ended: ``"max_epochs"`` (cut at the limit) or ``"early_stopping"``.

    Parameters
    ----------
    history : pandas.DataFrame
        A training history (:func:`read_history`).
    max_epochs : int or None
        The network's ``train.max_epochs``; None when unknown.

    Returns
    -------
    str
        ``"max_epochs"`` when the last epoch reached ``max_epochs``, ``"early_stopping"`` when
        it ended before, ``"unknown"`` when ``max_epochs`` is None. (The loop in
        :mod:`photoz.train.network` only ends early through early stopping.)
    """
    if max_epochs is None:
        return "unknown"
    return "max_epochs" if int(history["epoch"].max()) >= int(max_epochs) else "early_stopping"


def fig6_training_history(histories: Mapping[str, str],
                          max_epochs: Mapping[str, int] | None = None) -> Figure:
    """Fig. 6: accuracy (|dz|/(1+z) < 0.15) and MAE loss versus epoch for each network.

    Parameters
    ----------
    histories : dict of str to path
        Network -> ``results/models/<net>_history.csv``.
    max_epochs : dict of str to int, optional
        Network -> ``train.max_epochs``, to say how each training ended (:func:`stop_reason`).

    Returns
    -------
    matplotlib.figure.Figure
        Left: accuracy (training solid, validation dashed, as the paper); right: the MAE loss on
        a log scale. A star marks each network's best epoch (lowest validation loss, the kept
        model). The last epoch of each validation curve carries a marker for how training
        ended: a filled square where it was cut at ``max_epochs``, a cross where early stopping
        ended it; the legend states the same with the last learning rate.
    """
    nets = _ordered_nets(histories)
    if not nets:
        raise PhotozConfigError("fig6_training_history: no histories given")
    max_epochs = dict(max_epochs or {})
    fig = _new_figure(10.0, 4.4)
    ax_acc, ax_loss = fig.subplots(1, 2)
    end_marker = {"max_epochs": "s", "early_stopping": "X", "unknown": "o"}
    for net in nets:
        h = read_history(histories[net])
        c = NET_COLORS[net]
        ep = h["epoch"].to_numpy()
        mk = {"marker": "o", "ms": 3} if len(ep) <= 30 else {}  # short runs: show each epoch
        reason = stop_reason(h, max_epochs.get(net))
        lr = float(h["learning_rate"].iloc[-1])
        how = {"max_epochs": f"cut at max_epochs = {max_epochs.get(net)}",
               "early_stopping": f"early stop at epoch {int(ep[-1])}",
               "unknown": f"ended at epoch {int(ep[-1])}"}[reason]
        ax_acc.plot(
            ep, h["train_accuracy"], "-", color=c, lw=1.3, label=f"{LABELS[net]} train", **mk
        )
        ax_acc.plot(
            ep, h["val_accuracy"], "--", color=c, lw=1.3, label=f"{LABELS[net]} val.", **mk
        )
        ax_loss.plot(ep, h["train_loss"], "-", color=c, lw=1.3, **mk)
        ax_loss.plot(ep, h["val_loss"], "--", color=c, lw=1.3, **mk)
        val = h["val_loss"].to_numpy(dtype=float)
        if np.isfinite(val).any():
            best = int(np.nanargmin(val))
            ax_loss.plot(ep[best], val[best], "*", color=c, ms=10, mec="k", mew=0.5)
            ax_acc.plot(
                ep[best], h["val_accuracy"].iloc[best], "*", color=c, ms=10, mec="k", mew=0.5
            )
        ax_loss.plot(ep[-1], val[-1], end_marker[reason], color=c, ms=8, mec="k", mew=0.6,
                     label=f"{LABELS[net]}: {how} (lr {lr:.0e})", zorder=4)
        ax_acc.plot(ep[-1], h["val_accuracy"].iloc[-1], end_marker[reason], color=c, ms=8,
                    mec="k", mew=0.6, zorder=4)
    ax_acc.set_xlabel("Epoch")
    ax_acc.set_ylabel(r"Accuracy: fraction with $|\Delta z|/(1+z) < 0.15$")
    ax_acc.legend(ncol=2, fontsize=7, loc="best", framealpha=0.9, edgecolor="none")
    ax_loss.legend(fontsize=7, loc="upper right", framealpha=0.9, edgecolor="none",
                   title="how training ended (■ max_epochs, ✕ early stopping)",
                   title_fontsize=7)
    for ax in (ax_acc, ax_loss):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax_loss.set_xlabel("Epoch")
    ax_loss.set_ylabel("Loss: mean absolute error")
    ax_loss.set_yscale("log")
    ax_acc.set_title("Accuracy")
    ax_loss.set_title("Loss")
    fig.suptitle(
        "Training history (solid: training; dashed: validation; "
        "★: best epoch = lowest validation loss; ■ / ✕: last epoch)",
        fontsize=10,
    )
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------------------------
# Fig. 7: photo-z vs true z
# --------------------------------------------------------------------------------------------
#: Fig. 7 panel titles: each network named by its input, as the paper titles its panels.
INPUT_TITLES: dict[str, str] = {
    "mlp": "Fluxes only (MLP)",
    "cnn": "Images only (CNN)",
    "hybrid": "Fluxes + images (Hybrid)",
    "hybrid_transfer": "Fluxes + images, transfer (Hybrid-transfer)",
}


def point_density(x: np.ndarray, y: np.ndarray, x_edges: np.ndarray, y_edges: np.ndarray
                  ) -> np.ndarray:
    """Number of points in the 2-d histogram cell of each point; shape (n,).

    Parameters
    ----------
    x, y : ndarray, shape (n,)
        Points inside the edges (points outside get 0).
    x_edges, y_edges : ndarray
        Cell edges (increasing).

    Returns
    -------
    ndarray of int, shape (n,)
        The colour of Fig. 7's density-coloured points.
    """
    counts, _, _ = np.histogram2d(x, y, bins=[x_edges, y_edges])
    ix = np.searchsorted(x_edges, x, side="right") - 1
    iy = np.searchsorted(y_edges, y, side="right") - 1
    ok = (ix >= 0) & (ix < counts.shape[0]) & (iy >= 0) & (iy < counts.shape[1])
    out = np.zeros(x.size, dtype=int)
    out[ok] = counts[ix[ok], iy[ok]].astype(int)
    return out


def _density_scatter(fig, ax, x, y, x_edges, y_edges, label: str):
    """Draw points coloured by cell density (viridis, log), densest on top; add a colour bar."""
    dens = point_density(x, y, x_edges, y_edges)
    order = np.argsort(dens, kind="stable")
    vmax = max(int(dens.max()) if dens.size else 1, 2)
    sc = ax.scatter(x[order], y[order], c=dens[order], s=4, lw=0, cmap="viridis",
                    norm=LogNorm(vmin=1, vmax=vmax), rasterized=True)
    cax = ax.inset_axes([1.015, 0.0, 0.035, 1.0])
    cb = fig.colorbar(sc, cax=cax)
    cb.set_label(label, fontsize=7)
    cb.ax.tick_params(labelsize=6)
    cb.ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:g}"))
    cb.ax.yaxis.set_minor_formatter(NullFormatter())
    return sc


def _edge_arrows(ax, x: np.ndarray, above: np.ndarray, below: np.ndarray,
                 above_text: str, below_text: str) -> None:
    """Mark points beyond the y-range: grey triangles just inside the edge at their x, and a count.

    ``above`` and ``below`` are boolean masks over ``x``; the counts read "▲ n above_text".
    """
    trans = ax.get_xaxis_transform()
    for mask, y_frac, marker, va, yt, arrow, text in (
        (above, 0.965, "^", "top", 0.93, "▲", above_text),
        (below, 0.035, "v", "bottom", 0.07, "▼", below_text),
    ):
        n = int(mask.sum())
        if n == 0:
            continue
        ax.plot(x[mask], np.full(n, y_frac), marker, color="0.4", ms=3.5, ls="none",
                transform=trans, zorder=5)
        ax.text(0.985, yt, f"{arrow} {n:,} {text}", transform=ax.transAxes, ha="right", va=va,
                fontsize=7, color="0.15",
                bbox={"fc": "white", "ec": "none", "alpha": 0.8, "pad": 1.0})


def fig7_zphot_vs_zspec(predictions: Mapping[str, str], z_max: float | None = None) -> Figure:
    """Fig. 7: photo-z versus true redshift on the test set, one 2 x 1 panel pair per network.

    Parameters
    ----------
    predictions : dict of str to path
        Network -> predictions parquet; rows with split == "test" are drawn.
    z_max : float, optional
        Axis range 0 to ``z_max``; default 4 (the paper's), or the next integer above the
        largest true redshift when more than 0.5% of the test set lies above 4.

    Returns
    -------
    matplotlib.figure.Figure
        2 x 2 networks, each titled by its input (:data:`INPUT_TITLES`); each a panel of
        z_pred vs z_true with points coloured by density (viridis: galaxies in the point's
        cell of a 100 x 100 grid, log scale, with a colour bar), the 1:1 line and dashed
        z_true +- 0.15 (1 + z_true), annotated with eta, sigma_NMAD and MAE (PAPER_SPEC §6);
        under it dz/(1+z) vs z_true in +-0.25, coloured the same way with its own colour bar.
        Galaxies outside an axis range are not drawn as data: grey triangles just inside the
        edge at their z_true and a count mark them ("▲ n above +0.25"); the counts and the
        drawn points add up to the test set.
    """
    nets = _ordered_nets(predictions)
    if not nets:
        raise PhotozConfigError("fig7_zphot_vs_zspec: no predictions given")
    data = {n: read_predictions(predictions[n], split="test") for n in nets}
    if z_max is None:
        z_max = _fig7_default_z_max(data)
    fig = _new_figure(10.0, 10.5)
    outer = fig.add_gridspec(
        2, 2, hspace=0.25, wspace=0.42, left=0.07, right=0.93, top=0.95, bottom=0.06
    )
    edges = np.linspace(0.0, z_max, 101)
    for k, net in enumerate(nets[:4]):
        inner = outer[k // 2, k % 2].subgridspec(2, 1, height_ratios=[3, 1], hspace=0.0)
        ax = fig.add_subplot(inner[0])
        axr = fig.add_subplot(inner[1], sharex=ax)
        zt = data[net]["z_true"].to_numpy()
        zp = data[net]["z_pred"].to_numpy()
        x_in = (zt >= 0.0) & (zt <= z_max)
        _fig7_zpred_panel(fig, ax, net, zt, zp, x_in, edges, z_max)
        _fig7_residual_panel(fig, axr, zt, zp, x_in, edges, z_max)
    return fig


def _fig7_default_z_max(data: Mapping[str, pd.DataFrame]) -> float:
    """Fig. 7's axis range: the paper's 0-4, widened to the next integer above the largest true
    redshift only when more than 0.5% of the test set lies beyond 4."""
    zt_all = np.concatenate([d["z_true"].to_numpy() for d in data.values()])
    beyond = np.mean(zt_all > 4.0)
    return 4.0 if beyond <= 0.005 else float(np.ceil(zt_all.max()))


def _fig7_zpred_panel(fig, ax, net: str, zt: np.ndarray, zp: np.ndarray, x_in: np.ndarray,
                      edges: np.ndarray, z_max: float) -> None:
    """Draw Fig. 7's upper panel of one network: z_pred vs z_true coloured by density, the counts
    beyond the range, the 1:1 and +-0.15 (1 + z) lines, the title and the metrics box."""
    line = np.linspace(0.0, z_max, 50)
    inside = x_in & (zp >= 0.0) & (zp <= z_max)
    _density_scatter(fig, ax, zt[inside], zp[inside], edges, edges,
                     f"galaxies per ({z_max / 100:g})² cell")
    _edge_arrows(ax, zt, x_in & (zp > z_max), x_in & (zp < 0.0),
                 f"with z_pred > {z_max:g}", "with z_pred < 0")
    n_x_out = int((~x_in).sum())
    if n_x_out:
        ax.text(0.985, 0.15, f"▶ {n_x_out:,} with z_true > {z_max:g} (not drawn)",
                transform=ax.transAxes, ha="right", va="bottom", fontsize=7, color="0.15")
    ax.plot(line, line, color="k", lw=0.8)
    for sgn in (1, -1):
        ax.plot(line, line + sgn * 0.15 * (1 + line), "--", color="k", lw=0.8)
    ax.set_xlim(0, z_max)
    ax.set_ylim(0, z_max)
    ax.set_ylabel(r"Photo-z $z_{\rm pred}$")
    ax.tick_params(labelbottom=False)
    ax.set_title(INPUT_TITLES[net], color=NET_COLORS[net], fontweight="bold")
    m = pzm.point_metrics(zp, zt)
    ax.text(
        0.04,
        0.96,
        f"{LABELS[net]}\n$\\eta$ = {100 * m['outlier_fraction']:.2f}%\n"
        f"$\\sigma_{{\\rm NMAD}}$ = {m['sigma_nmad']:.3f}\nMAE = {m['mae']:.3f}\n"
        f"N = {m['n']:,}",
        transform=ax.transAxes,
        va="top",
        fontsize=8.5,
        color="k",
        bbox={"fc": "white", "ec": "none", "alpha": 0.8, "pad": 1.5},
    )


def _fig7_residual_panel(fig, axr, zt: np.ndarray, zp: np.ndarray, x_in: np.ndarray,
                         edges: np.ndarray, z_max: float) -> None:
    """Draw Fig. 7's lower panel of one network: dz/(1+z) vs z_true in +-0.25 coloured by
    density, the counts beyond the range and the 0 and +-0.15 lines."""
    e_edges = np.linspace(-0.25, 0.25, 51)
    n_x_out = int((~x_in).sum())
    e = pzm.ez(zp, zt)
    e_in = x_in & (e >= -0.25) & (e <= 0.25)
    _density_scatter(fig, axr, zt[e_in], e[e_in], edges, e_edges, "galaxies\nper cell")
    _edge_arrows(axr, zt, x_in & (e > 0.25), x_in & (e < -0.25), "above +0.25",
                 "below −0.25")
    if n_x_out:
        axr.text(0.015, 0.07, f"▶ {n_x_out:,} with z_true > {z_max:g}", fontsize=7,
                 transform=axr.transAxes, va="bottom", color="0.15",
                 bbox={"fc": "white", "ec": "none", "alpha": 0.8, "pad": 1.0})
    axr.axhline(0, color="k", lw=0.8)
    for sgn in (1, -1):
        axr.axhline(sgn * 0.15, ls="--", color="k", lw=0.8)
    axr.set_ylim(-0.25, 0.25)
    axr.set_xlabel(r"True redshift $z_{\rm true}$")
    axr.set_ylabel(r"$\Delta z/(1+z)$")


