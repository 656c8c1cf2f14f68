"""The p(z) calibration figure (issue 13): PIT histograms, PIT QQ and example p(z) of the networks.

Drawn from the ``results/pdfs/<net>.hdf5`` qp ensembles of the test galaxies (calibrated, as
scored in ``summary.json``). Row 1: the PIT histogram of each network (20 bins; the dashed line is
a uniform PIT, the shaded band its +-2 sigma Poisson range). Row 2, left: the PIT QQ of every
network against U(0, 1) (the diagonal is perfect calibration); right: p(z) of three test
galaxies of the first network, chosen at the 10th, 50th and 90th percentiles of z_true, with
their true z marked. PIT values from :class:`qp.metrics.pit.PIT`.
"""

from __future__ import annotations

import os

import matplotlib
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from qp.metrics.pit import PIT

from photoz.evaluate.pdfscores import score_ensemble
from photoz.names import LABELS
from photoz.products.train import ensemble_arrays, read_ensemble

matplotlib.use("Agg", force=False)

#: PIT histogram bins.
N_PIT_BINS = 20


def plot_pdf_calibration(pdfs: dict[str, str | os.PathLike]) -> Figure:
    """Draw the figure from ``{net: results/pdfs/<net>.hdf5}`` (any non-empty subset, in order).

    Raises
    ------
    photoz.errors.PhotozDataError
        For an unreadable p(z) file (:func:`photoz.products.train.read_ensemble`).
    """
    nets = list(pdfs)
    fig = Figure(figsize=(3.2 * max(len(nets), 2), 6.4))
    FigureCanvasAgg(fig)
    grid = fig.add_gridspec(2, max(len(nets), 2))
    qq = fig.add_subplot(grid[1, : max(len(nets), 2) // 2])
    ex = fig.add_subplot(grid[1, max(len(nets), 2) // 2:])
    q = np.linspace(0, 1, 101)
    for i, net in enumerate(nets):
        ens = read_ensemble(pdfs[net])
        z = np.asarray(ens.ancil["z_true"], float)
        pit = np.asarray(PIT(ens, z).pit_samps, float)
        s = score_ensemble(ens, raw_too=False)
        ax = fig.add_subplot(grid[0, i])
        ax.hist(pit, bins=N_PIT_BINS, range=(0, 1), color=f"C{i}", alpha=0.8)
        mean = len(pit) / N_PIT_BINS
        ax.axhspan(mean - 2 * np.sqrt(mean), mean + 2 * np.sqrt(mean), color="0.85", zorder=0)
        ax.axhline(mean, color="k", ls="--", lw=1)
        ax.set_title(f"{LABELS.get(net, net)}\nKS {s['pit_ks']:.3f}, cov68 "
                     f"{s['coverage_68']:.2f}, cov95 {s['coverage_95']:.2f}", fontsize=8)
        ax.set_xlabel("PIT")
        if i == 0:
            ax.set_ylabel("test galaxies per bin")
        qq.plot(q, np.quantile(pit, q), color=f"C{i}", label=LABELS.get(net, net))
        if i == 0:
            w, mu, sig = ensemble_arrays(ens)
            order = np.argsort(z)
            picks = order[[int(f * (len(z) - 1)) for f in (0.1, 0.5, 0.9)]]
            grid_z = np.linspace(0, max(float(z.max()), float(mu.max())) + 0.3, 800)
            for j, k in enumerate(picks):
                dens = (w[k] / (sig[k] * np.sqrt(2 * np.pi))
                        * np.exp(-0.5 * ((grid_z[:, None] - mu[k]) / sig[k]) ** 2)).sum(-1)
                ex.plot(grid_z, dens, color=f"C{j + 4}")
                ex.axvline(z[k], color=f"C{j + 4}", ls=":", lw=1.2)
            ex.set_title(f"{LABELS.get(net, net)}: p(z) of 3 test galaxies (dotted: true z)",
                         fontsize=8)
            ex.set_xlabel("z")
            ex.set_ylabel("p(z)")
    qq.plot([0, 1], [0, 1], color="k", ls="--", lw=1)
    qq.set_xlabel("uniform quantile")
    qq.set_ylabel("PIT quantile")
    qq.set_title("PIT QQ (test set)", fontsize=8)
    qq.legend(fontsize=7)
    fig.tight_layout()
    return fig
