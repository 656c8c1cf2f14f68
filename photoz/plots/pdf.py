"""The p(z) calibration figure (issues 13, 29): PIT histograms, PIT QQ and example p(z) of every
method that gives a p(z).

Drawn from the qp files of the networks (``results/pdfs/<net>.hdf5``, the test galaxies' p(z),
calibrated and truncated at z = 0) and of the RAIL peers (``results/peers/<peer>_pz.hdf5``, of
which the test galaxies are drawn), scored as in ``summary.json`` by the one scorer
(:func:`photoz.evaluate.pdfscores.score_ensemble`). Top rows: the PIT histogram of each method
(20 bins; the dashed line is a uniform PIT, the shaded band its +-2 sigma Poisson range), four per
row. Bottom row, left: the PIT QQ of every method against U(0, 1) (the diagonal is perfect
calibration); right: p(z) of three test galaxies of the first method, chosen at the 10th, 50th and
90th percentiles of z_true, with their true z marked. PIT values from
:class:`qp.metrics.pit.PIT`.
"""

from __future__ import annotations

import math
import os

import matplotlib
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from qp.metrics.pit import PIT

from photoz.errors import PhotozDataError
from photoz.evaluate.pdfscores import score_ensemble
from photoz.names import LABELS
from photoz.products.train import read_qp

matplotlib.use("Agg", force=False)

#: PIT histogram bins.
N_PIT_BINS = 20
#: PIT histograms per row.
PER_ROW = 4


def read_test_pdfs(path: str | os.PathLike):
    """The test galaxies' p(z) of a method's qp file and their true redshifts.

    A network's file holds only test galaxies; a RAIL peer's holds every selected galaxy with
    ancillary ``split``, of which the ``test`` rows are kept.

    Returns
    -------
    ens : qp.Ensemble
    z_true : ndarray, shape (n,)

    Raises
    ------
    PhotozDataError
        For an unreadable file or one without ancillary ``z_true``.
    """
    ens = read_qp(path)
    ancil = ens.ancil or {}
    if "z_true" not in ancil:
        raise PhotozDataError(f"p(z) file {path}: no ancillary z_true; rerun the job that writes "
                              "it")
    if "split" in ancil:
        ens = ens[np.flatnonzero(np.asarray(ancil["split"]).astype(str) == "test")]
    return ens, np.asarray(ens.ancil["z_true"], dtype=np.float64)


def plot_pdf_calibration(pdfs: dict[str, str | os.PathLike],
                         peer_pdfs: dict[str, str | os.PathLike] | None = None) -> Figure:
    """Draw the figure from ``{net: results/pdfs/<net>.hdf5}`` and ``{peer:
    results/peers/<peer>_pz.hdf5}`` (any non-empty subsets, networks first, in order).

    Raises
    ------
    photoz.errors.PhotozDataError
        For an unreadable p(z) file (:func:`read_test_pdfs`).
    """
    files = {**pdfs, **(peer_pdfs or {})}
    methods = list(files)
    ncol = max(min(len(methods), PER_ROW), 2)
    nrow = math.ceil(len(methods) / PER_ROW)
    fig = Figure(figsize=(3.2 * ncol, 3.2 * (nrow + 1)))
    FigureCanvasAgg(fig)
    grid = fig.add_gridspec(nrow + 1, ncol)
    qq = fig.add_subplot(grid[nrow, : ncol // 2])
    ex = fig.add_subplot(grid[nrow, ncol // 2:])
    q = np.linspace(0, 1, 101)
    for i, method in enumerate(methods):
        ens, z = read_test_pdfs(files[method])
        pit = np.asarray(PIT(ens, z).pit_samps, float)
        s = score_ensemble(ens, z, raw_too=False)
        ax = fig.add_subplot(grid[i // PER_ROW, i % PER_ROW])
        ax.hist(pit, bins=N_PIT_BINS, range=(0, 1), color=f"C{i}", alpha=0.8)
        mean = len(pit) / N_PIT_BINS
        ax.axhspan(mean - 2 * np.sqrt(mean), mean + 2 * np.sqrt(mean), color="0.85", zorder=0)
        ax.axhline(mean, color="k", ls="--", lw=1)
        ax.set_title(f"{LABELS.get(method, method)}\nCRPS {s['crps']:.4f}, KS {s['pit_ks']:.3f},"
                     f" cov68 {s['coverage_68']:.2f}, cov95 {s['coverage_95']:.2f}", fontsize=8)
        ax.set_xlabel("PIT")
        if i % PER_ROW == 0:
            ax.set_ylabel("test galaxies per bin")
        qq.plot(q, np.quantile(pit, q), color=f"C{i}", label=LABELS.get(method, method))
        if i == 0:
            _examples(ex, ens, z, LABELS.get(method, method))
    qq.plot([0, 1], [0, 1], color="k", ls="--", lw=1)
    qq.set_xlabel("uniform quantile")
    qq.set_ylabel("PIT quantile")
    qq.set_title("PIT QQ (test set)", fontsize=8)
    qq.legend(fontsize=7)
    fig.tight_layout()
    return fig


def _examples(ax, ens, z: np.ndarray, label: str) -> None:
    """p(z) (the ensemble's own ``pdf``) of the test galaxies at the 10th, 50th and 90th
    percentiles of ``z``, their true z dotted."""
    order = np.argsort(z)
    picks = order[[int(f * (len(z) - 1)) for f in (0.1, 0.5, 0.9)]]
    grid_z = np.linspace(0, float(z.max()) + 0.5, 800)
    for j, k in enumerate(picks):
        ax.plot(grid_z, np.asarray(ens[np.array([k])].pdf(grid_z)).ravel(), color=f"C{j + 4}")
        ax.axvline(z[k], color=f"C{j + 4}", ls=":", lw=1.2)
    ax.set_title(f"{label}: p(z) of 3 test galaxies (dotted: true z)", fontsize=8)
    ax.set_xlabel("z")
    ax.set_ylabel("p(z)")
