"""Photo-z point-estimate metrics and binned metrics with bootstrap errors (pure functions).

Two families of metrics are provided, both on ``dz = z_pred - z_true``:

- the paper's (Zhou et al. 2022, MNRAS 512, 4593, Sect. 5; PAPER_SPEC §6): sigma_NMAD with the
  factor 1.48 and ``|dz - median(dz)| / (1 + z_true)``, the outlier fraction
  ``|dz| / (1 + z_true) > 0.15`` and the MAE ``mean(|dz| / (1 + z_true))``;
- RAIL's / qp's (``qp.metrics.point_estimate_metric_classes``, after the LSST DESC Science Book):
  ``ez = dz / (1 + z_true)``, bias = median(ez), sigma_MAD = 1.4826 median(|ez - median(ez)|),
  sigma_IQR = IQR(ez) / 1.349 and the outlier rate ``|ez| > max(0.06, 3 sigma_IQR)``.

Why our own code: each metric is one line of numpy, and the paper's sigma_NMAD is not the same
formula as RAIL's sigma_MAD (factor 1.48 vs 1.4826, and the median is taken of dz, not of ez), so
neither library function gives the paper's number. ``qp`` is a test-only dependency; the tests
check our RAIL forms against it to 1e-12.

The summary files (summary.json, summary.md, summary.html, binned.csv) are written by
:mod:`photoz.evaluate.summary`; the paper's own numbers are in :mod:`photoz.paper`.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from photoz.errors import (
    PhotozDataError,
    PhotozValueError,
    check_array,
    check_choice,
    check_number,
    check_seed,
    float_array,
)
from photoz.products.evaluate import BINNED_METRICS

#: The paper's outlier threshold on |dz| / (1 + z_true) (Zhou et al. 2022, Sect. 5).
OUTLIER_THRESHOLD = 0.15
#: The paper's sigma_NMAD scale factor (Zhou et al. 2022, eq. 9; PAPER_SPEC §6).
NMAD_FACTOR = 1.48
#: RAIL/qp's sigma_MAD scale factor, 1/Phi^-1(3/4) (qp ``PointSigmaMAD``).
RAIL_MAD_FACTOR = 1.4826
#: RAIL/qp's IQR-to-sigma divisor, 2 Phi^-1(3/4) (qp ``PointSigmaIQR``).
RAIL_IQR_DIVISOR = 1.349
#: RAIL/qp's floor on the outlier cut (qp ``PointOutlierRate``).
RAIL_OUTLIER_FLOOR = 0.06
#: Most redshift bins :func:`redshift_bin_edges` makes (z_max / width).
MAX_BINS = 10_000




# --------------------------------------------------------------------------------------------
# Point metrics on arrays
# --------------------------------------------------------------------------------------------
def _pairs(z_pred, z_true) -> tuple[np.ndarray, np.ndarray]:
    """Validate and return ``(z_pred, z_true)`` as 1-d float arrays of equal length."""
    z_pred, z_true = float_array("z_pred", z_pred), float_array("z_true", z_true)
    for name, z in (("z_pred", z_pred), ("z_true", z_true)):
        if z.ndim > 1:
            raise PhotozValueError(name, "must have shape (n,)", z.shape)
    z_pred, z_true = z_pred.ravel(), z_true.ravel()
    if z_pred.shape != z_true.shape:
        raise PhotozDataError(
            f"z_pred and z_true differ in length ({z_pred.size} vs {z_true.size})"
        )
    if z_pred.size == 0:
        raise PhotozDataError("no redshifts given: z_pred and z_true are empty")
    bad = ~(np.isfinite(z_pred) & np.isfinite(z_true))
    if bad.any():
        raise PhotozDataError(
            f"non-finite redshift at index {int(np.flatnonzero(bad)[0])} "
            f"({int(bad.sum())} in all); drop or fix those rows first"
        )
    if np.any(z_true <= -1.0):
        raise PhotozDataError(
            f"z_true <= -1 at index {int(np.flatnonzero(z_true <= -1.0)[0])}; 1 + z must be > 0"
        )
    return z_pred, z_true


def ez(z_pred, z_true) -> np.ndarray:
    """Scaled residual ez = (z_pred - z_true) / (1 + z_true) (RAIL/qp ``PointStatsEz``).

    Parameters
    ----------
    z_pred, z_true : array_like, shape (n,)
        Photo-z and true (spec-z) redshifts.

    Returns
    -------
    ndarray, shape (n,)

    Raises
    ------
    PhotozDataError
        If the lengths differ, the arrays are empty or hold non-finite values, or z_true <= -1.
    PhotozValueError
        If ``z_pred`` or ``z_true`` is not an array of numbers of shape (n,) (named).
    """
    z_pred, z_true = _pairs(z_pred, z_true)
    return (z_pred - z_true) / (1.0 + z_true)


def sigma_nmad(z_pred, z_true) -> float:
    """The paper's normalised median absolute deviation.

    sigma_NMAD = 1.48 x median(|dz - median(dz)| / (1 + z_true)), dz = z_pred - z_true
    (Zhou et al. 2022, eq. 9; PAPER_SPEC §6). Note the median is subtracted from dz, not from
    dz / (1 + z): this differs from RAIL's :func:`sigma_mad`.

    Parameters
    ----------
    z_pred, z_true : array_like, shape (n,)

    Returns
    -------
    float, dimensionless

    Raises
    ------
    PhotozDataError
        As :func:`ez`.
    """
    z_pred, z_true = _pairs(z_pred, z_true)
    dz = z_pred - z_true
    return float(NMAD_FACTOR * np.median(np.abs(dz - np.median(dz)) / (1.0 + z_true)))


def outlier_fraction(z_pred, z_true, threshold: float = OUTLIER_THRESHOLD) -> float:
    """The paper's outlier fraction eta: fraction with |dz| / (1 + z_true) > ``threshold``.

    Zhou et al. 2022, eq. 10; PAPER_SPEC §6 (threshold 0.15).

    Parameters
    ----------
    z_pred, z_true : array_like, shape (n,)
    threshold : float
        Outlier cut on |dz| / (1 + z_true); default 0.15.

    Returns
    -------
    float, fraction in [0, 1] (not per cent)

    Raises
    ------
    PhotozDataError
        As :func:`ez`.
    PhotozValueError
        If ``threshold`` is not a finite number >= 0 (NaN gave 0.0).
    """
    check_number("threshold", threshold, low=0.0)
    return float(np.mean(np.abs(ez(z_pred, z_true)) > threshold))


def mae(z_pred, z_true) -> float:
    """The paper's mean absolute error, mean(|dz| / (1 + z_true)) (PAPER_SPEC §6).

    Parameters
    ----------
    z_pred, z_true : array_like, shape (n,)

    Returns
    -------
    float, dimensionless

    Raises
    ------
    PhotozDataError
        As :func:`ez`.
    """
    return float(np.mean(np.abs(ez(z_pred, z_true))))


def bias(z_pred, z_true) -> float:
    """Bias, median(ez) with ez = dz / (1 + z_true) (RAIL/qp ``PointBias``; PAPER_SPEC §6).

    Parameters
    ----------
    z_pred, z_true : array_like, shape (n,)

    Returns
    -------
    float, dimensionless (positive: photo-z too high)

    Raises
    ------
    PhotozDataError
        As :func:`ez`.
    """
    return float(np.median(ez(z_pred, z_true)))


def sigma_mad(z_pred, z_true) -> float:
    """RAIL/qp's sigma_MAD = 1.4826 median(|ez - median(ez)|) (qp ``PointSigmaMAD``).

    Parameters
    ----------
    z_pred, z_true : array_like, shape (n,)

    Returns
    -------
    float, dimensionless

    Raises
    ------
    PhotozDataError
        As :func:`ez`.
    """
    e = ez(z_pred, z_true)
    return float(RAIL_MAD_FACTOR * np.median(np.abs(e - np.median(e))))


def sigma_iqr(z_pred, z_true) -> float:
    """RAIL/qp's sigma_IQR = (P75(ez) - P25(ez)) / 1.349 (qp ``PointSigmaIQR``).

    Percentiles use numpy's default linear interpolation, as qp does.

    Parameters
    ----------
    z_pred, z_true : array_like, shape (n,)

    Returns
    -------
    float, dimensionless

    Raises
    ------
    PhotozDataError
        As :func:`ez`.
    """
    x75, x25 = np.percentile(ez(z_pred, z_true), [75.0, 25.0])
    return float((x75 - x25) / RAIL_IQR_DIVISOR)


def outlier_rate_rail(z_pred, z_true) -> float:
    """RAIL/qp's catastrophic outlier rate: fraction with |ez| > max(0.06, 3 sigma_IQR).

    qp ``PointOutlierRate`` (LSST Science Book definition).

    Parameters
    ----------
    z_pred, z_true : array_like, shape (n,)

    Returns
    -------
    float, fraction in [0, 1]

    Raises
    ------
    PhotozDataError
        As :func:`ez`.
    """
    e = ez(z_pred, z_true)
    cut = max(RAIL_OUTLIER_FLOOR, 3.0 * sigma_iqr(z_pred, z_true))
    return float(np.mean(np.abs(e) > cut))


#: The metrics of summary.json, in order: name -> function(z_pred, z_true).
METRICS: dict[str, Callable[[np.ndarray, np.ndarray], float]] = {
    "sigma_nmad": sigma_nmad,
    "outlier_fraction": outlier_fraction,
    "mae": mae,
    "bias": bias,
    "sigma_mad": sigma_mad,
    "sigma_iqr": sigma_iqr,
    "outlier_rate_rail": outlier_rate_rail,
}


def point_metrics(z_pred, z_true) -> dict[str, float]:
    """All metrics of :data:`METRICS` plus ``n`` for one set of predictions.

    Parameters
    ----------
    z_pred, z_true : array_like, shape (n,)

    Returns
    -------
    dict
        ``sigma_nmad, outlier_fraction, mae, bias, sigma_mad, sigma_iqr, outlier_rate_rail``
        (floats) and ``n`` (int).

    Raises
    ------
    PhotozDataError
        As :func:`ez`.
    """
    z_pred, z_true = _pairs(z_pred, z_true)
    out: dict[str, float] = {name: fn(z_pred, z_true) for name, fn in METRICS.items()}
    out["n"] = int(z_pred.size)
    return out


# --------------------------------------------------------------------------------------------
# Bootstrap and binned metrics
# --------------------------------------------------------------------------------------------
def _metric_values(z_pred: np.ndarray, z_true: np.ndarray, names) -> np.ndarray:
    """The named metrics of one sample; NaN for an empty one."""
    if z_pred.size == 0:
        return np.full(len(names), np.nan)
    return np.array([METRICS[n](z_pred, z_true) for n in names])


def _check_names(names) -> None:
    """``names`` must be a non-empty sequence of :data:`METRICS` keys."""
    if isinstance(names, (str, bytes)) or not isinstance(names, (tuple, list)) or not names:
        raise PhotozValueError("names", f"must be a non-empty tuple of {list(METRICS)}", names)
    for name in names:
        check_choice("names", name, tuple(METRICS))


def bootstrap_metrics(
    z_pred,
    z_true,
    n_bootstrap: int = 200,
    seed: int | np.random.Generator = 0,
    names: tuple[str, ...] = tuple(METRICS),
) -> dict[str, float]:
    """Bootstrap standard errors of the metrics: resample the test set with replacement.

    Parameters
    ----------
    z_pred, z_true : array_like, shape (n,)
    n_bootstrap : int
        Number of resamplings (default 200); 0 returns NaN errors.
    seed : int or numpy.random.Generator
        Seed of ``numpy.random.default_rng``.
    names : tuple of str
        Metrics of :data:`METRICS` to bootstrap.

    Returns
    -------
    dict of str to float
        ``<name>_err``: the standard deviation (ddof=1) of the metric over the resamplings
        (Efron & Tibshirani 1993, eq. 6.6).

    Raises
    ------
    PhotozDataError
        As :func:`ez`.
    PhotozValueError
        If ``n_bootstrap`` is not an integer >= 0, ``seed`` not an integer >= 0 or a
        Generator, or ``names`` not a sequence of :data:`METRICS` names.
    """
    z_pred, z_true = _pairs(z_pred, z_true)
    check_number("n_bootstrap", n_bootstrap, low=0, integer=True)
    _check_names(names)
    rng = np.random.default_rng(check_seed("seed", seed))
    if n_bootstrap < 2:
        return {f"{n}_err": float("nan") for n in names}
    values = np.empty((n_bootstrap, len(names)))
    for b in range(n_bootstrap):
        idx = rng.integers(0, z_pred.size, z_pred.size)
        values[b] = _metric_values(z_pred[idx], z_true[idx], names)
    return {f"{n}_err": float(s) for n, s in zip(names, values.std(axis=0, ddof=1), strict=True)}


def redshift_bin_edges(z_max: float, width: float = 0.5) -> np.ndarray:
    """Bin edges 0, width, 2 width, ... up to the first edge >= ``z_max`` (at least 4).

    Parameters
    ----------
    z_max : float
        Largest redshift to cover.
    width : float
        Bin width; the paper's Fig. 8 uses 0.5.

    Returns
    -------
    ndarray, shape (n_bins + 1,)

    Raises
    ------
    PhotozValueError
        If ``z_max`` or ``width`` is not a finite number, ``width`` <= 0, or the bins would be
        more than :data:`MAX_BINS`.
    """
    z_max = check_number("z_max", z_max)
    width = check_number("width", width, low=0.0, low_open=True)
    if z_max / width > MAX_BINS:
        raise PhotozValueError("width", f"must give at most {MAX_BINS} bins up to z_max = "
                               f"{z_max:g}", width)
    top = max(4.0, float(np.ceil(z_max / width - 1e-9)) * width)
    return np.round(np.arange(0.0, top + width / 2, width), 10)


def _bin_index(z: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Bin of each z; values below 0 go to the first bin and above the top to the last."""
    return np.clip(np.searchsorted(edges, z, side="right") - 1, 0, edges.size - 2)


def _binned_arguments(z_pred, z_true, by, width, edges, n_bootstrap, seed):
    """:func:`binned_metrics`'s checked arguments: z_pred, z_true, the binned z and the edges."""
    check_choice("by", by, ("z_true", "z_pred"))
    z_pred, z_true = _pairs(z_pred, z_true)
    check_number("n_bootstrap", n_bootstrap, low=0, integer=True)
    check_seed("seed", seed)
    key = z_true if by == "z_true" else z_pred
    if edges is None:
        edges = redshift_bin_edges(float(max(key.max(), 0.0)), width)
    edges = np.asarray(check_array("edges", edges, shape=(None,)), dtype=float)
    if edges.size < 2 or np.any(np.diff(edges) <= 0):
        raise PhotozValueError("edges", "must be at least 2 increasing bin edges", edges.tolist())
    return z_pred, z_true, key, edges


def binned_metrics(
    z_pred,
    z_true,
    by: str = "z_true",
    width: float = 0.5,
    edges: np.ndarray | None = None,
    n_bootstrap: int = 200,
    seed: int | np.random.Generator = 0,
) -> pd.DataFrame:
    """Metrics in bins of true redshift or of photo-z, with bootstrap errors (paper Fig. 8).

    The bootstrap resamples the whole test set with replacement and re-bins each resampling,
    so the errors include the scatter of the number of galaxies per bin.

    Parameters
    ----------
    z_pred, z_true : array_like, shape (n,)
    by : {"z_true", "z_pred"}
        The redshift that defines the bins.
    width : float
        Bin width (default 0.5, as the paper's Fig. 8).
    edges : ndarray, optional
        Explicit bin edges; default :func:`redshift_bin_edges` of the data's maximum.
        Values below the first edge fall in the first bin, above the last in the last bin.
    n_bootstrap : int
        Number of bootstrap resamplings; < 2 gives NaN errors.
    seed : int or numpy.random.Generator

    Returns
    -------
    pandas.DataFrame, one row per bin
        Columns ``binned_by, z_lo, z_hi, z_mid, n`` and, for each of ``outlier_fraction,
        sigma_nmad, mae, bias``, the value and ``<name>_err``. Empty bins have n = 0 and NaN.

    Raises
    ------
    PhotozDataError
        As :func:`ez`.
    PhotozValueError
        Naming the argument: an unknown ``by``; ``width`` as :func:`redshift_bin_edges`;
        ``edges`` not finite, increasing, of shape (m,) with m >= 2; ``n_bootstrap`` or
        ``seed`` as :func:`bootstrap_metrics`.
    """
    z_pred, z_true, key, edges = _binned_arguments(z_pred, z_true, by, width, edges,
                                                   n_bootstrap, seed)
    n_bins = edges.size - 1
    names = BINNED_METRICS
    idx = _bin_index(key, edges)
    values = np.vstack(
        [_metric_values(z_pred[idx == k], z_true[idx == k], names) for k in range(n_bins)]
    )
    counts = np.bincount(idx, minlength=n_bins)
    rng = np.random.default_rng(seed)
    errors = np.full((n_bins, len(names)), np.nan)
    if n_bootstrap >= 2:
        boot = np.full((n_bootstrap, n_bins, len(names)), np.nan)
        for b in range(n_bootstrap):
            s = rng.integers(0, z_pred.size, z_pred.size)
            zp, zt, ib = z_pred[s], z_true[s], idx[s]
            for k in range(n_bins):
                m = ib == k
                if m.any():
                    boot[b, k] = _metric_values(zp[m], zt[m], names)
        enough = np.sum(np.isfinite(boot[:, :, 0]), axis=0) >= 2
        with np.errstate(invalid="ignore"):
            errors[enough] = np.nanstd(boot[:, enough], axis=0, ddof=1)
    table = {
        "binned_by": [by] * n_bins,
        "z_lo": edges[:-1],
        "z_hi": edges[1:],
        "z_mid": 0.5 * (edges[:-1] + edges[1:]),
        "n": counts,
    }
    for j, name in enumerate(names):
        table[name] = values[:, j]
        table[f"{name}_err"] = errors[:, j]
    return pd.DataFrame(table)
