"""Probabilistic photo-z (issue 13): the Gaussian-mixture output head, its calibration, qp files, scores.

With ``train.output: pdf`` a network's last layer (only that layer) gives ``3 K`` numbers per galaxy
(``K = train.pdf_components``): K weight logits, K means and K raw widths of a mixture of Gaussians
in z (a mixture density network, Bishop 1994), trained by the negative log-likelihood of the true
redshift, a proper scoring rule (Gneiting & Raftery 2007). A mixture, not a softmax over z bins:
3 K outputs instead of ~300, no binning error on the point estimate (the paper's sigma_NMAD is ~3x
a 0.01 bin) and the result is exactly a ``qp.mixmod`` ensemble.

With ``train.output: point`` (the paper's MAE regression, ``config/paper.yaml``) the p(z) is one
Gaussian per galaxy at ``z_pred`` of width ``s (1 + z_pred)``, ``s`` fitted on the validation
split: the same products, a cruder p(z).

Calibration: every width is multiplied by one factor ``s`` (a temperature on the widths) chosen to
minimise the negative log-likelihood of the *validation* galaxies (:func:`fit_width_scale`); the
test galaxies are never used. Scores (:func:`score_ensemble`): PIT, its KS / CvM / AD statistics
and outlier rate from :class:`qp.metrics.pit.PIT` (the code RAIL's evaluation stages call); the
coverage of the central 68% and 95% intervals is the fraction of PIT values inside
[0.16, 0.84] and [0.025, 0.975]; the CRPS is the closed form for a Gaussian mixture (Grimit et
al. 2006, QJRMS 132, 2925, eq. A1), because neither qp 1.1 nor rail.evaluation 2.0 has a CRPS.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import torch
from scipy import special

from photoz.errors import PhotozDataError
from photoz.products import PDF_COLUMNS  # noqa: F401 - the column names, defined once
from photoz.products.pdfs import (  # noqa: F401 - the p(z) product's reader/writer, re-exported
    make_ensemble,
    read_ensemble,
    write_ensemble,
)

#: Output settings of ``train.output``.
OUTPUTS = ("point", "pdf")
#: Floor of a component's width in z (well below the 0.02-0.04 sigma_NMAD scatter).
SIGMA_MIN = 1e-3
#: Search range of the width scale of :func:`fit_width_scale`.
SCALE_RANGE = (1e-3, 1e3)
#: Central intervals scored: 68% and 95% (PIT between (1 -/+ c) / 2).
COVERAGES = (0.68, 0.95)
_HALF_LOG_2PI = 0.5 * math.log(2 * math.pi)


# --------------------------------------------------------------------------------------------
# The head's outputs and loss (torch)
# --------------------------------------------------------------------------------------------
def n_outputs(output: str, n_components: int) -> int:
    """Width of the last layer: 1 for ``"point"``, ``3 K`` for ``"pdf"``."""
    return 1 if output == "point" else 3 * int(n_components)


def mixture_params(raw: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The head's raw outputs (B, 3 K) -> log-weights, means, widths, each (B, K).

    Layout ``[logits_1..K, mu_1..K, s_1..K]``; weights ``softmax(logits)``, widths
    ``softplus(s) + SIGMA_MIN`` (positive, no exp overflow).
    """
    k = raw.shape[-1] // 3
    logits, mu, s = raw[..., :k], raw[..., k:2 * k], raw[..., 2 * k:]
    return (torch.log_softmax(logits, -1), mu,
            torch.nn.functional.softplus(s) + SIGMA_MIN)


def mixture_nll(raw: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    """Mean negative log-likelihood of ``z`` (B,) under the mixtures ``raw`` (B, 3 K); a scalar.

    ``-log sum_k w_k N(z | mu_k, sigma_k)``, by ``logsumexp`` (Bishop 1994, eq. 29).
    """
    raw = raw.float()
    k = raw.shape[-1] // 3
    logits, mu = raw[..., :k], raw[..., k:2 * k]
    sig = torch.nn.functional.softplus(raw[..., 2 * k:]) + SIGMA_MIN
    # log w_k = logits_k - logsumexp(logits): one logsumexp instead of a log_softmax per component
    t = (z.float().unsqueeze(-1) - mu) / sig
    log_like = (torch.logsumexp(logits - 0.5 * t * t - torch.log(sig), -1)
                - torch.logsumexp(logits, -1))
    return _HALF_LOG_2PI - log_like.mean()


class PointHead:
    """The paper's head: ``loss`` = mean absolute error; ``point`` = the output itself."""

    output = "point"

    @staticmethod
    def loss(pred: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """Mean |pred - z| (paper Sect. 5)."""
        return (pred.float() - z).abs().mean()

    @staticmethod
    def point(pred: torch.Tensor) -> torch.Tensor:
        """Photo-z (B,)."""
        return pred.float()


class PdfHead:
    """The mixture head: ``loss`` = :func:`mixture_nll`; ``point`` = the heaviest component's mean.

    The heaviest component's mean is only the training log's accuracy (cheap); the products use
    the median (:func:`point_estimates`).
    """

    output = "pdf"

    @staticmethod
    def loss(pred: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """Mean negative log-likelihood of ``z``."""
        return mixture_nll(pred, z)

    @staticmethod
    def point(pred: torch.Tensor) -> torch.Tensor:
        """Mean of the heaviest component, (B,)."""
        k = pred.shape[-1] // 3
        return pred[..., k:2 * k].gather(-1, pred[..., :k].argmax(-1, keepdim=True)).squeeze(-1).float()


def head_for(output: str) -> PointHead | PdfHead:
    """:class:`PointHead` for ``"point"``, :class:`PdfHead` for ``"pdf"``."""
    return PdfHead() if output == "pdf" else PointHead()


# --------------------------------------------------------------------------------------------
# Mixtures as arrays (numpy)
# --------------------------------------------------------------------------------------------
def mixture_arrays(raw: np.ndarray, output: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Weights, means, widths (n, K) of the network outputs, before calibration.

    Parameters
    ----------
    raw : ndarray, shape (n,) for ``"point"`` or (n, 3 K) for ``"pdf"``
    output : str

    Returns
    -------
    w, mu, sigma : ndarray, shape (n, K), float64
        For ``"point"``: K = 1, mu = z_pred, sigma = 1 + z_pred (unit width in dz/(1+z); the
        calibration scale then is the width in those units).
    """
    raw = np.asarray(raw, dtype=np.float64)
    if output == "point":
        z = raw.reshape(-1, 1)
        return np.ones_like(z), z, np.maximum(1.0 + z, SIGMA_MIN)
    logw, mu, sig = mixture_params(torch.from_numpy(raw))
    return np.exp(logw.numpy()), mu.numpy(), sig.numpy()


def mixture_cdf(z: np.ndarray, w: np.ndarray, mu: np.ndarray, sig: np.ndarray) -> np.ndarray:
    """CDF of each mixture at its own ``z`` (n,) or at a common grid broadcast as (n, m)."""
    z = np.asarray(z, dtype=np.float64)
    zz = z[..., None]
    sh = (slice(None),) + (None,) * (z.ndim - 1) + (slice(None),)
    return (w[sh] * special.ndtr((zz - mu[sh]) / sig[sh])).sum(-1)


def mixture_ppf(q: float, w: np.ndarray, mu: np.ndarray, sig: np.ndarray,
                n_iter: int = 60) -> np.ndarray:
    """Quantile ``q`` of each mixture by bisection on its CDF; shape (n,). Error < 1e-12 in z."""
    lo = (mu - 10 * sig).min(-1)
    hi = (mu + 10 * sig).max(-1)
    for _ in range(n_iter):
        mid = 0.5 * (lo + hi)
        below = mixture_cdf(mid, w, mu, sig) < q
        lo, hi = np.where(below, mid, lo), np.where(below, hi, mid)
    return 0.5 * (lo + hi)


def mixture_mode(w: np.ndarray, mu: np.ndarray, sig: np.ndarray, n_grid: int = 512,
                 chunk: int = 4096) -> np.ndarray:
    """Mode of each mixture: the densest of ``n_grid`` points spanning mu +- 4 sigma, (n,).

    The grid step is at most 8 max(sigma) / n_grid; for K = 1 the mode is mu exactly.
    """
    if mu.shape[1] == 1:
        return mu[:, 0].copy()
    out = np.empty(mu.shape[0])
    t = np.linspace(0.0, 1.0, n_grid)
    for start in range(0, mu.shape[0], chunk):
        sl = slice(start, start + chunk)
        lo = (mu[sl] - 4 * sig[sl]).min(-1, keepdims=True)
        hi = (mu[sl] + 4 * sig[sl]).max(-1, keepdims=True)
        grid = lo + (hi - lo) * t  # (c, n_grid)
        dens = (w[sl, None, :] / sig[sl, None, :]
                * np.exp(-0.5 * ((grid[..., None] - mu[sl, None, :]) / sig[sl, None, :]) ** 2))
        out[sl] = grid[np.arange(grid.shape[0]), dens.sum(-1).argmax(-1)]
    return out


def point_estimates(w: np.ndarray, mu: np.ndarray, sig: np.ndarray) -> dict[str, np.ndarray]:
    """``z_mode``, ``z_median``, ``z_lo68``, ``z_hi68`` (16th / 84th percentiles), each (n,)."""
    return {"z_mode": mixture_mode(w, mu, sig), "z_median": mixture_ppf(0.5, w, mu, sig),
            "z_lo68": mixture_ppf(0.16, w, mu, sig), "z_hi68": mixture_ppf(0.84, w, mu, sig)}


def mixture_nll_np(z: np.ndarray, w: np.ndarray, mu: np.ndarray, sig: np.ndarray) -> float:
    """Mean negative log-likelihood of ``z`` (n,) under the mixtures (numpy, float64)."""
    logn = -0.5 * ((z[:, None] - mu) / sig) ** 2 - np.log(sig) - 0.5 * math.log(2 * math.pi)
    return float(-special.logsumexp(logn, b=w, axis=-1).mean())


def fit_width_scale(z: np.ndarray, w: np.ndarray, mu: np.ndarray, sig: np.ndarray) -> float:
    """The factor ``s`` on every width that minimises the NLL of ``z`` (the validation split).

    Golden-section search on log s over :data:`SCALE_RANGE` (the NLL is smooth in s; 60
    iterations resolve s to 1e-9 relative). A temperature / width scaling in the sense of Guo et
    al. 2017 (ICML), for a regression mixture.

    Raises
    ------
    PhotozDataError
        If ``z`` is empty.
    """
    z = np.asarray(z, dtype=np.float64)
    if z.size == 0:
        raise PhotozDataError("p(z) calibration: no validation galaxies to fit the width scale on")
    a, b = (math.log(v) for v in SCALE_RANGE)
    g = (math.sqrt(5) - 1) / 2

    def f(log_s):
        return mixture_nll_np(z, w, mu, sig * math.exp(log_s))

    c, d = b - g * (b - a), a + g * (b - a)
    fc, fd = f(c), f(d)
    for _ in range(60):
        if fc < fd:
            b, d, fd = d, c, fc
            c = b - g * (b - a)
            fc = f(c)
        else:
            a, c, fc = c, d, fd
            d = a + g * (b - a)
            fd = f(d)
    return float(math.exp(0.5 * (a + b)))


def crps_mixture(z: np.ndarray, w: np.ndarray, mu: np.ndarray, sig: np.ndarray,
                 chunk: int = 8192) -> np.ndarray:
    """CRPS of each Gaussian mixture at its true ``z``, (n,), in units of z.

    Closed form (Grimit et al. 2006, QJRMS 132, 2925, eq. A1; Gneiting & Raftery 2007):
    ``sum_k w_k A(z - mu_k, sigma_k^2) - 1/2 sum_jk w_j w_k A(mu_j - mu_k, sigma_j^2 + sigma_k^2)``
    with ``A(m, v) = 2 sqrt(v) phi(m / sqrt v) + m (2 Phi(m / sqrt v) - 1)``.
    """
    def a_fn(m, v):
        s = np.sqrt(v)
        t = m / s
        return 2 * s * np.exp(-0.5 * t * t) / math.sqrt(2 * math.pi) + m * (2 * special.ndtr(t) - 1)

    out = np.empty(len(z))
    for start in range(0, len(z), chunk):
        sl = slice(start, start + chunk)
        ww, mm, ss = w[sl], mu[sl], sig[sl] ** 2
        first = (ww * a_fn(z[sl, None] - mm, ss)).sum(-1)
        pair = (ww[:, :, None] * ww[:, None, :]
                * a_fn(mm[:, :, None] - mm[:, None, :], ss[:, :, None] + ss[:, None, :]))
        out[sl] = first - 0.5 * pair.sum((-1, -2))
    return out


# --------------------------------------------------------------------------------------------
# qp ensembles: write, read, score
# --------------------------------------------------------------------------------------------
def score_arrays(z: np.ndarray, w: np.ndarray, mu: np.ndarray, sig: np.ndarray) -> dict:
    """Scores of the mixtures at the true ``z``: see :func:`score_ensemble`."""
    import qp
    from qp.metrics.pit import PIT

    ens = qp.Ensemble(qp.mixmod, data={"weights": w, "means": mu, "stds": sig})
    pit = PIT(ens, z)
    samples = np.asarray(pit.pit_samps, dtype=np.float64)
    meta = pit.calculate_pit_meta_metrics()
    out = {"crps": float(crps_mixture(z, w, mu, sig).mean()),
           "pit_ks": float(meta["ks"].statistic),
           "pit_cvm": float(meta["cvm"].statistic),
           "pit_ad": float(meta["ad"].statistic),
           "pit_outlier_rate": float(meta["outlier_rate"])}
    for c in COVERAGES:
        lo, hi = (1 - c) / 2, (1 + c) / 2
        out[f"coverage_{round(100 * c)}"] = float(((samples >= lo) & (samples <= hi)).mean())
    out["nll"] = mixture_nll_np(z, w, mu, sig)
    return out


def ensemble_arrays(ens) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Weights, means, widths (n, K) of a mixmod ensemble."""
    d = ens.objdata
    return (np.asarray(d["weights"], float), np.asarray(d["means"], float),
            np.asarray(d["stds"], float))


def score_ensemble(ens, z_true: np.ndarray | None = None, raw_too: bool = True) -> dict:
    """PIT statistics, coverage and CRPS of a calibrated ensemble (and of its raw p(z)).

    Parameters
    ----------
    ens : qp.Ensemble
        From :func:`make_ensemble` / :func:`read_ensemble`.
    z_true : ndarray, optional
        Default the ensemble's ancillary ``z_true``.
    raw_too : bool
        Also score the widths divided by the ancillary ``width_scale`` (the uncalibrated p(z));
        keys get the suffix ``_raw``.

    Returns
    -------
    dict
        ``crps`` (mean, in z), ``pit_ks``, ``pit_cvm``, ``pit_ad`` (statistics of
        :class:`qp.metrics.pit.PIT` against U(0, 1)), ``pit_outlier_rate`` (PIT mass below 1e-4
        or above 0.9999, qp's definition), ``coverage_68``, ``coverage_95``, ``nll``,
        ``width_scale``; with ``raw_too`` the same with ``_raw``.
    """
    z = np.asarray(ens.ancil["z_true"] if z_true is None else z_true, dtype=np.float64)
    w, mu, sig = ensemble_arrays(ens)
    out = score_arrays(z, w, mu, sig)
    scale = float(np.asarray(ens.ancil.get("width_scale", [1.0]))[0])
    out["width_scale"] = scale
    if raw_too:
        out.update({f"{k}_raw": v for k, v in score_arrays(z, w, mu, sig / scale).items()})
    return out


def pdf_path_for(predictions_path: str | os.PathLike) -> Path:
    """``results/pdfs/<net>.hdf5`` beside ``results/predictions/<net>.parquet``."""
    p = Path(predictions_path)
    return p.parent.parent / "pdfs" / f"{p.stem}.hdf5"


def pdf_summary(predictions_path: str | os.PathLike) -> dict:
    """Scores of the p(z) file of a network (:func:`score_ensemble`); ``{}`` if it has none.

    The hook of :func:`photoz.metrics.write_summary`: peers have no p(z) file.
    """
    path = pdf_path_for(predictions_path)
    if not path.exists():
        return {}
    return score_ensemble(read_ensemble(path))


def calibrate(raw: np.ndarray, output: str, z: np.ndarray, fit_rows: np.ndarray | None,
              width_scale: float | None = None):
    """Mixtures of the network outputs with calibrated widths, and the width scale.

    Parameters
    ----------
    raw : ndarray, shape (n,) or (n, 3 K)
        :func:`photoz.training.predict_tensors` of every galaxy.
    output : str
        ``"point"`` or ``"pdf"``.
    z : ndarray, shape (n,)
        True redshifts (only the ``fit_rows`` are used).
    fit_rows : ndarray of bool, shape (n,), or None
        The validation galaxies, on which :func:`fit_width_scale` fits the scale.
    width_scale : float, optional
        Use this scale instead of fitting one (prediction with a stored checkpoint).

    Returns
    -------
    w, mu, sigma : ndarray, shape (n, K)
        ``sigma`` already multiplied by the scale.
    width_scale : float
    """
    w, mu, sig = mixture_arrays(raw, output)
    if width_scale is None:
        rows = np.asarray(fit_rows, dtype=bool)
        width_scale = fit_width_scale(np.asarray(z, np.float64)[rows], w[rows], mu[rows],
                                      sig[rows])
    return w, mu, sig * width_scale, float(width_scale)


def prediction_columns(raw: np.ndarray, output: str, w: np.ndarray, mu: np.ndarray,
                       sig: np.ndarray) -> dict[str, np.ndarray]:
    """``z_pred`` and :data:`photoz.products.PDF_COLUMNS` of the predictions table.

    ``z_pred`` is the network's output for ``"point"`` (then also ``z_mode`` and, to 1e-12,
    ``z_median``) and the median of the p(z) for ``"pdf"``: the median is what the paper's MAE
    loss estimates, so the point metrics compare like with like.
    """
    cols = point_estimates(w, mu, sig)
    if output == "point":
        z = np.asarray(raw, dtype=np.float64).reshape(-1)
        cols["z_mode"] = z
        return {"z_pred": z, **cols}
    return {"z_pred": cols["z_median"], **cols}
