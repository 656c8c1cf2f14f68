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

from photoz.errors import PhotozValueError, check_array, check_choice, check_number
from photoz.mixture import SIGMA_MIN, Z_LOWER, check_mixture, fit_width_scale, point_estimates

_HALF_LOG_2PI = 0.5 * math.log(2 * math.pi)

#: Output settings of ``train.output``.
OUTPUTS = ("point", "pdf")
#: Largest |raw output| :func:`mixture_arrays` accepts: a trained network's redshifts, logits
#: and raw widths are of order 1-100; beyond this the p(z) summaries overflow.
RAW_BOUND = 1e6


# --------------------------------------------------------------------------------------------
# The head's outputs and loss (torch)
# --------------------------------------------------------------------------------------------
def n_outputs(output: str, n_components: int) -> int:
    """Width of the last layer: 1 for ``"point"``, ``3 K`` for ``"pdf"``.

    Raises
    ------
    PhotozValueError
        If ``output`` is not one of :data:`OUTPUTS`, or ``n_components`` not an integer >= 1.
    """
    check_choice("output", output, OUTPUTS)
    n_components = check_number("n_components", n_components, low=1, integer=True)
    return 1 if output == "point" else 3 * int(n_components)


def _check_raw_tensor(raw, z=None, with_z: bool = False) -> None:
    """Type and shape of the torch head's arguments (``z`` too if ``with_z``); the values are not
    looked at (no device sync in the training loop, which stops on a non-finite validation loss)."""
    if not isinstance(raw, torch.Tensor) or not raw.is_floating_point() or raw.ndim < 1 \
            or raw.shape[-1] < 3 or raw.shape[-1] % 3:
        raise PhotozValueError("raw", "must be a floating-point tensor of shape (B, 3 K), K >= 1",
                               tuple(raw.shape) if isinstance(raw, torch.Tensor) else type(raw))
    if with_z and (not isinstance(z, torch.Tensor) or z.numel() == 0
                   or tuple(z.shape) != tuple(raw.shape[:-1])):
        raise PhotozValueError("z", f"must be a non-empty tensor of shape {tuple(raw.shape[:-1])}",
                               tuple(z.shape) if isinstance(z, torch.Tensor) else type(z))


def mixture_params(raw: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The head's raw outputs (B, 3 K) -> log-weights, means, widths, each (B, K).

    Layout ``[logits_1..K, mu_1..K, s_1..K]``; weights ``softmax(logits)``, widths
    ``softplus(s) + SIGMA_MIN`` (positive, no exp overflow).

    Raises
    ------
    PhotozValueError
        If ``raw`` is not a floating-point tensor of shape (..., 3 K), K >= 1. Its values are
        not looked at (non-finite values propagate).
    """
    _check_raw_tensor(raw)
    k = raw.shape[-1] // 3
    logits, mu, s = raw[..., :k], raw[..., k:2 * k], raw[..., 2 * k:]
    return (torch.log_softmax(logits, -1), mu,
            torch.nn.functional.softplus(s) + SIGMA_MIN)


def mixture_nll(raw: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    """Mean negative log-likelihood of ``z`` (B,) under the mixtures ``raw`` (B, 3 K); a scalar.

    ``-log sum_k w_k N(z | mu_k, sigma_k)``, by ``logsumexp`` (Bishop 1994, eq. 29).

    Raises
    ------
    PhotozValueError
        If ``raw`` is not a floating-point tensor of shape (B, 3 K), K >= 1, or ``z`` not a
        tensor of shape (B,), B >= 1. Values are not looked at (as :func:`mixture_params`).
    """
    _check_raw_tensor(raw, z, with_z=True)
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
    """:class:`PointHead` for ``"point"``, :class:`PdfHead` for ``"pdf"``.

    Raises
    ------
    PhotozValueError
        If ``output`` is not one of :data:`OUTPUTS`.
    """
    check_choice("output", output, OUTPUTS)
    return PdfHead() if output == "pdf" else PointHead()


# --------------------------------------------------------------------------------------------
# Mixtures as arrays (numpy)
# --------------------------------------------------------------------------------------------
def _check_raw(raw, output: str) -> np.ndarray:
    """The network outputs ``raw`` for ``output``: finite, shape (n,) or (n, 3 K)."""
    check_choice("output", output, OUTPUTS)
    if output == "point":
        return check_array("raw", raw, shape=(None,), low=-RAW_BOUND, high=RAW_BOUND)
    raw = check_array("raw", raw, shape=(None, None), low=-RAW_BOUND, high=RAW_BOUND)
    if raw.shape[1] < 3 or raw.shape[1] % 3:
        raise PhotozValueError("raw", "must have shape (n, 3 K), K >= 1, for output 'pdf'",
                               raw.shape)
    return raw


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

    Raises
    ------
    PhotozValueError
        Naming the argument: ``output`` not one of :data:`OUTPUTS`; ``raw`` not finite, beyond
        +-:data:`RAW_BOUND`, or not of shape (n,) (``point``) or (n, 3 K) with K >= 1
        (``pdf``).
    """
    _check_raw(raw, output)
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

    Raises
    ------
    PhotozValueError
        Naming the argument: ``raw`` or ``output`` as :func:`mixture_arrays`; ``width_scale``
        given but not a finite number > 0; without it, ``fit_rows`` not booleans of shape (n,)
        or ``z`` not of shape (n,) and finite in the fit rows.
    PhotozDataError
        If no row is a fit row.
    """
    w, mu, sig = mixture_arrays(raw, output)
    if width_scale is not None:
        check_number("width_scale", width_scale, low=0.0, low_open=True)
    else:
        n = w.shape[0]
        check_array("z", z, shape=(n,), allow_nan=True)
        fit_rows = np.asarray(fit_rows) if fit_rows is not None else None
        if fit_rows is None or fit_rows.dtype != bool or fit_rows.shape != (n,):
            raise PhotozValueError("fit_rows", f"must be booleans of shape ({n},) (without "
                                   "width_scale)", None if fit_rows is None else fit_rows.shape)
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

    Parameters
    ----------
    raw : ndarray, shape (n,) or (n, 3 K), or None
        The network outputs (:func:`mixture_arrays`); used for ``"point"`` only (None: take
        ``z_pred`` from the mixture, as for a deep ensemble).
    output : str
        One of :data:`OUTPUTS`.
    w, mu, sig : ndarray, shape (n, K)
        The calibrated mixtures (:func:`photoz.mixture.check_mixture`).

    Returns
    -------
    dict of str to ndarray, shape (n,)
        ``z_pred``, ``z_mode``, ``z_median``, ``z_lo68``, ``z_hi68``.

    Raises
    ------
    PhotozValueError
        Naming the argument, as :func:`mixture_arrays` and
        :func:`photoz.mixture.check_mixture`, or ``raw`` of another length than ``w``.
    """
    w, mu, sig = check_mixture(w, mu, sig)
    if output == "point" and raw is not None:
        raw = _check_raw(raw, output)
        if raw.shape[0] != w.shape[0]:
            raise PhotozValueError("raw", f"must have shape ({w.shape[0]},), one value per row "
                                   "of w", raw.shape)
    else:
        check_choice("output", output, OUTPUTS)
    cols = point_estimates(w, mu, sig, lower=Z_LOWER)
    if output == "point" and raw is not None:
        return {"z_pred": np.asarray(raw, dtype=np.float64).reshape(-1), **cols}
    return {"z_pred": cols["z_median"], **cols}
