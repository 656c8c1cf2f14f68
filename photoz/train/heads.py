"""The networks' output heads: the paper's point regression and the Gaussian-mixture p(z) head.

With ``train.output: pdf`` a network's last layer (only that layer) gives ``3 K`` numbers per galaxy
(``K = train.pdf_components``): K weight logits, K means and K raw widths of a mixture of Gaussians
in z (a mixture density network, Bishop 1994), trained by the negative log-likelihood of the true
redshift, a proper scoring rule (Gneiting & Raftery 2007). A mixture, not a softmax over z bins:
3 K outputs instead of ~300, no binning error on the point estimate (the paper's sigma_NMAD is ~3x
a 0.01 bin) and the result is exactly a ``qp.mixmod`` ensemble.

With ``train.output: point`` (the paper's MAE regression, ``config/paper.yaml``) the p(z) is one
Gaussian per galaxy at ``z_pred`` of width ``s (1 + z_pred)``, ``s`` fitted on the validation
split: the same products, a cruder p(z).

This module holds the heads' loss (torch) and turns a trained network's raw outputs into
calibrated mixtures and the predictions table's columns (:func:`calibrate`,
:func:`prediction_columns`); the mixture maths is :mod:`photoz.mixture`.

No p(z) below z = 0 (issue 29): after training, a network's p(z) is its mixture truncated at
z = 0 and renormalised (:data:`photoz.mixture.Z_LOWER`). The training and its loss are untouched
(the same weights, bit for bit); the width factor is fitted on the truncated likelihood and the
point estimates are the truncated p(z)'s, and the p(z) files hold the truncated p(z)
(:func:`photoz.products.train.make_ensemble`).
"""

from __future__ import annotations

import math

import numpy as np
import torch

from photoz.mixture import SIGMA_MIN, Z_LOWER, fit_width_scale, point_estimates

_HALF_LOG_2PI = 0.5 * math.log(2 * math.pi)

#: Output settings of ``train.output``.
OUTPUTS = ("point", "pdf")


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
















# --------------------------------------------------------------------------------------------
# qp ensembles: write, read, score
# --------------------------------------------------------------------------------------------










def calibrate(raw: np.ndarray, output: str, z: np.ndarray, fit_rows: np.ndarray | None,
              width_scale: float | None = None):
    """Mixtures of the network outputs with calibrated widths, and the width scale.

    Parameters
    ----------
    raw : ndarray, shape (n,) or (n, 3 K)
        :func:`photoz.train.inference.predict_tensors` of every galaxy.
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
        ``sigma`` already multiplied by the scale: the mixture before its truncation at z = 0.
    width_scale : float
        Fitted by the likelihood of the mixtures truncated at z = 0
        (:func:`photoz.mixture.fit_width_scale` with ``lower=Z_LOWER``), the p(z) as stored.
    """
    w, mu, sig = mixture_arrays(raw, output)
    if width_scale is None:
        rows = np.asarray(fit_rows, dtype=bool)
        width_scale = fit_width_scale(np.asarray(z, np.float64)[rows], w[rows], mu[rows],
                                      sig[rows], lower=Z_LOWER)
    return w, mu, sig * width_scale, float(width_scale)


def prediction_columns(raw: np.ndarray, output: str, w: np.ndarray, mu: np.ndarray,
                       sig: np.ndarray) -> dict[str, np.ndarray]:
    """``z_pred`` and :data:`photoz.products.train.PDF_COLUMNS` of the predictions table.

    ``z_mode``, ``z_median``, ``z_lo68``, ``z_hi68`` are those of the p(z) truncated at z = 0
    (:func:`photoz.mixture.point_estimates` with ``lower=Z_LOWER``). ``z_pred`` is the median of
    that p(z) for ``"pdf"`` (what the paper's MAE loss estimates, so the point metrics compare
    like with like) and the network's output for ``"point"`` (the paper's regression; its
    truncated p(z) then has the mode max(z_pred, 0)).
    """
    cols = point_estimates(w, mu, sig, lower=Z_LOWER)
    if output == "point":
        return {"z_pred": np.asarray(raw, dtype=np.float64).reshape(-1), **cols}
    return {"z_pred": cols["z_median"], **cols}
