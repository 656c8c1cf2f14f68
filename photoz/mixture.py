"""Gaussian-mixture p(z) as arrays: CDF, quantiles, mode, likelihood, width calibration, CRPS.

Every network's p(z) is a mixture of Gaussians in z per galaxy (weights ``w``, means ``mu``, widths
``sig``, each of shape (n, K); :mod:`photoz.train.heads` makes them), truncated at z = 0
(:data:`Z_LOWER`; :mod:`photoz.products.train` tabulates the truncated p(z) as ``qp.interp``
ensembles). The training stage calibrates and summarises them (:func:`fit_width_scale`,
:func:`point_estimates`), the files tabulate them (:func:`truncated_pdf`) and the tests check the
metrics stage's numerical CRPS against the closed form (:func:`crps_mixture`): the maths lives
here, once, in numpy float64.

Calibration: every width is multiplied by one factor ``s`` (a temperature on the widths) chosen to
minimise the negative log-likelihood of the *validation* galaxies (:func:`fit_width_scale`); the
test galaxies are never used.

Truncation (issue 29): a redshift is never negative, so the networks' p(z) is the mixture
restricted to z >= :data:`Z_LOWER` and renormalised, p_T(z) = p(z) / S(0) for z >= 0 (0 below),
with S(z) = sum_k w_k Phi((mu_k - z) / sigma_k) the mixture's survival function: a truncated
Gaussian mixture (e.g. Johnson, Kotz & Balakrishnan 1994, Continuous Univariate Distributions 1,
Sect. 13.10.1, for one component). The functions taking ``lower`` give the truncated p(z)'s CDF,
density, quantiles, mode and likelihood; they work in logs (``scipy.special.log_ndtr``), so a
mixture almost wholly below ``lower`` keeps a finite, normalised p(z) piled up at ``lower``.

:func:`crps_mixture` is the closed-form CRPS of an untruncated Gaussian mixture (Grimit et al. 2006,
QJRMS 132, 2925, eq. A1; neither qp 1.1 nor rail.evaluation 2.0 has a CRPS): the reference against
which the numerical CRPS every method gets (:mod:`photoz.evaluate.pdfscores`) is tested.

Arguments (issue 30): every public function checks its arguments (:func:`check_mixture`, the
redshifts, ``lower`` and the integer settings) and raises :class:`photoz.errors.PhotozValueError`
naming the one that is wrong; the inner loops (bisection, golden-section search, the truncated
p(z)) call the unchecked private twins (``_cdf``, ``_ppf``, ``_mode``, ``_nll``,
``_log_survival``, ``_truncated_ppf``), so a valid call computes the same bits as without the
checks.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from scipy import special

from photoz.errors import PhotozDataError, PhotozValueError, check_array, check_number

#: Floor of a component's width in z (well below the 0.02-0.04 sigma_NMAD scatter).
SIGMA_MIN = 1e-3

#: Lower edge of every network's p(z) (issue 29): no probability at negative redshift.
Z_LOWER = 0.0


#: Search range of the width scale of :func:`fit_width_scale`.
SCALE_RANGE = (1e-3, 1e3)
#: Largest |1 - sum of a row's weights| the functions accept (float32 softmax outputs sum to 1
#: within ~1e-7 per component).
WEIGHT_SUM_TOLERANCE = 1e-3
#: Largest |z|, |mu| and sigma the functions accept: far beyond any redshift, and small enough
#: that the bracket mu +- 10 sigma and the squared pulls stay finite in float64.
MAX_Z = 1e10
#: Smallest width (z) the functions accept: 1000 x below the networks' floor SIGMA_MIN times the
#: smallest width scale (1e-6), where the squared pulls of :func:`mixture_nll_np` stay finite.
MIN_SIGMA = 1e-9


def check_mixture(w, mu, sig) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The arguments ``w``, ``mu``, ``sig`` of a mixture function, checked.

    Parameters
    ----------
    w, mu, sig : array-like, shape (n, K)
        Weights (>= 0, each row summing to 1 within :data:`WEIGHT_SUM_TOLERANCE`), means (z,
        |mu| <= :data:`MAX_Z`) and widths (z, in [:data:`MIN_SIGMA`, :data:`MAX_Z`]), all
        finite; K >= 1.

    Returns
    -------
    w, mu, sig : ndarray
        ``np.asarray`` of each (the arrays given, not copies).

    Raises
    ------
    PhotozValueError
        Naming the argument that is not numeric, of another shape, not finite or out of range.
    """
    w = check_array("w", w, shape=(None, None), low=0.0)
    if w.shape[1] < 1:
        raise PhotozValueError("w", "must have shape (n, K) with K >= 1", w.shape)
    mu = check_array("mu", mu, shape=w.shape, low=-MAX_Z, high=MAX_Z)
    sig = check_array("sig", sig, shape=w.shape, low=MIN_SIGMA, high=MAX_Z)
    with np.errstate(over="ignore"):
        off = np.abs(w.sum(-1, dtype=np.float64) - 1.0)
    if np.any(off > WEIGHT_SUM_TOLERANCE):
        row = int(np.argmax(off))
        raise PhotozValueError("w", f"each row must sum to 1 (row {row} sums to "
                               f"{float(w[row].sum(dtype=np.float64))!r})")
    return w, mu, sig


def _redshifts(z, n: int, name: str = "z") -> np.ndarray:
    """``z`` checked as finite numbers of shape (n,), |z| <= :data:`MAX_Z`."""
    return check_array(name, z, shape=(n,), low=-MAX_Z, high=MAX_Z)


def _points(z, n: int, name: str = "z") -> np.ndarray:
    """``z`` checked as finite numbers of shape (n,) or (n, m), |z| <= :data:`MAX_Z`."""
    z = check_array(name, z, low=-MAX_Z, high=MAX_Z)
    if z.ndim not in (1, 2) or z.shape[0] != n:
        raise PhotozValueError(name, f"must have shape ({n},) or ({n}, m)", z.shape)
    return z


def _lower(lower, optional: bool = False) -> float | None:
    """``lower`` checked: a finite number, |lower| <= :data:`MAX_Z` (None where ``optional``)."""
    if lower is None and optional:
        return None
    return check_number("lower", lower, low=-MAX_Z, high=MAX_Z)


def mixture_cdf(z: np.ndarray, w: np.ndarray, mu: np.ndarray, sig: np.ndarray) -> np.ndarray:
    """CDF of each mixture at its own ``z`` (n,) or at a common grid broadcast as (n, m).

    Parameters
    ----------
    z : ndarray, shape (n,) or (n, m)
        Redshifts (finite).
    w, mu, sig : ndarray, shape (n, K)
        The mixtures (:func:`check_mixture`).

    Returns
    -------
    ndarray, shape of ``z``

    Raises
    ------
    PhotozValueError
        Naming the argument: ``z`` not finite or not of shape (n,) / (n, m), or as
        :func:`check_mixture`.
    """
    w, mu, sig = check_mixture(w, mu, sig)
    z = check_array("z", z, low=-MAX_Z, high=MAX_Z)
    if z.ndim not in (1, 2) or z.shape[0] != w.shape[0]:
        raise PhotozValueError("z", f"must have shape ({w.shape[0]},) or ({w.shape[0]}, m)",
                               z.shape)
    return _cdf(z, w, mu, sig)


def _cdf(z, w: np.ndarray, mu: np.ndarray, sig: np.ndarray) -> np.ndarray:
    """:func:`mixture_cdf` without the checks (inner loops)."""
    z = np.asarray(z, dtype=np.float64)
    zz = z[..., None]
    sh = (slice(None),) + (None,) * (z.ndim - 1) + (slice(None),)
    return (w[sh] * special.ndtr((zz - mu[sh]) / sig[sh])).sum(-1)


def mixture_ppf(q: float, w: np.ndarray, mu: np.ndarray, sig: np.ndarray,
                n_iter: int = 60) -> np.ndarray:
    """Quantile ``q`` of each mixture by bisection on its CDF; shape (n,). Error < 1e-12 in z.

    Parameters
    ----------
    q : float
        In (0, 1).
    w, mu, sig : ndarray, shape (n, K)
        The mixtures (:func:`check_mixture`).
    n_iter : int
        Bisection steps, >= 1 (60: the interval of +-10 sigma shrinks below 1e-12).

    Raises
    ------
    PhotozValueError
        Naming the argument: ``q`` outside (0, 1), ``n_iter`` not an integer >= 1, or as
        :func:`check_mixture`.
    """
    w, mu, sig = check_mixture(w, mu, sig)
    check_number("q", q, low=0.0, high=1.0, low_open=True, high_open=True)
    check_number("n_iter", n_iter, low=1, integer=True)
    return _ppf(q, w, mu, sig, n_iter)


def _ppf(q: float, w: np.ndarray, mu: np.ndarray, sig: np.ndarray, n_iter: int = 60
         ) -> np.ndarray:
    """:func:`mixture_ppf` without the checks."""
    lo = (mu - 10 * sig).min(-1)
    hi = (mu + 10 * sig).max(-1)
    for _ in range(n_iter):
        mid = 0.5 * (lo + hi)
        below = _cdf(mid, w, mu, sig) < q
        lo, hi = np.where(below, mid, lo), np.where(below, hi, mid)
    return 0.5 * (lo + hi)


def mixture_mode(w: np.ndarray, mu: np.ndarray, sig: np.ndarray, n_grid: int = 512,
                 chunk: int = 4096, lower: float | None = None) -> np.ndarray:
    """Mode of each mixture: the densest of ``n_grid`` points spanning mu +- 4 sigma, (n,).

    The grid step is at most 8 max(sigma) / n_grid; for K = 1 the mode is mu exactly. With
    ``lower`` the mode of the mixture truncated there: the grid starts at ``lower`` at the
    lowest (a p(z) wholly below it has its mode at ``lower``; K = 1: max(mu, lower)).

    Parameters
    ----------
    w, mu, sig : ndarray, shape (n, K)
        The mixtures (:func:`check_mixture`).
    n_grid : int
        Grid points, >= 2.
    chunk : int
        Galaxies per vectorised step, >= 1 (memory: chunk x n_grid x K floats).
    lower : float, optional
        The truncation point, in z (finite, |lower| <= :data:`MAX_Z`); None: no truncation.

    Raises
    ------
    PhotozValueError
        Naming the argument, as :func:`check_mixture`, ``n_grid`` / ``chunk`` not integers
        of their range, or ``lower`` given but not a finite number.
    """
    w, mu, sig = check_mixture(w, mu, sig)
    check_number("n_grid", n_grid, low=2, integer=True)
    check_number("chunk", chunk, low=1, integer=True)
    return _mode(w, mu, sig, n_grid, chunk, _lower(lower, optional=True))


def _mode(w: np.ndarray, mu: np.ndarray, sig: np.ndarray, n_grid: int = 512,
          chunk: int = 4096, lower: float | None = None) -> np.ndarray:
    """:func:`mixture_mode` without the checks."""
    if mu.shape[1] == 1:
        return mu[:, 0].copy() if lower is None else np.maximum(mu[:, 0], lower)
    out = np.empty(mu.shape[0])
    t = np.linspace(0.0, 1.0, n_grid)
    for start in range(0, mu.shape[0], chunk):
        sl = slice(start, start + chunk)
        lo = (mu[sl] - 4 * sig[sl]).min(-1, keepdims=True)
        hi = (mu[sl] + 4 * sig[sl]).max(-1, keepdims=True)
        if lower is not None:
            lo = np.maximum(lo, lower)
            hi = np.maximum(hi, lo)
        grid = lo + (hi - lo) * t  # (c, n_grid)
        dens = (w[sl, None, :] / sig[sl, None, :]
                * np.exp(-0.5 * ((grid[..., None] - mu[sl, None, :]) / sig[sl, None, :]) ** 2))
        out[sl] = grid[np.arange(grid.shape[0]), dens.sum(-1).argmax(-1)]
    return out


def point_estimates(w: np.ndarray, mu: np.ndarray, sig: np.ndarray,
                    lower: float | None = None) -> dict[str, np.ndarray]:
    """``z_mode``, ``z_median``, ``z_lo68``, ``z_hi68`` (16th / 84th percentiles), each (n,).

    With ``lower`` (e.g. :data:`Z_LOWER`) those of the mixture truncated at ``lower`` and
    renormalised (:func:`truncated_ppf`, :func:`mixture_mode`).

    Raises
    ------
    PhotozValueError
        As :func:`check_mixture`, or ``lower`` given but not a finite number.
    """
    w, mu, sig = check_mixture(w, mu, sig)
    lower = _lower(lower, optional=True)
    if lower is None:
        return {"z_mode": _mode(w, mu, sig), "z_median": _ppf(0.5, w, mu, sig),
                "z_lo68": _ppf(0.16, w, mu, sig), "z_hi68": _ppf(0.84, w, mu, sig)}
    return {"z_mode": _mode(w, mu, sig, lower=lower),
            **{key: _truncated_ppf(q, w, mu, sig, lower)
               for key, q in (("z_median", 0.5), ("z_lo68", 0.16), ("z_hi68", 0.84))}}


def log_survival(z: np.ndarray, w: np.ndarray, mu: np.ndarray, sig: np.ndarray) -> np.ndarray:
    """ln S(z) = ln sum_k w_k Phi((mu_k - z) / sigma_k): the log mass of each mixture above ``z``.

    Parameters
    ----------
    z : float or ndarray, shape (n,) or (n, m)
        Each mixture's own point(s) (finite, |z| <= :data:`MAX_Z`); a scalar is broadcast to
        (n,).
    w, mu, sig : ndarray, shape (n, K)
        The mixtures (:func:`check_mixture`).

    Returns
    -------
    ndarray, shape of ``z``
        By ``scipy.special.log_ndtr`` and ``logsumexp``: finite far into the lower tail, where
        1 - CDF would round to 0.

    Raises
    ------
    PhotozValueError
        Naming the argument: ``z`` not finite or not a number or of shape (n,) / (n, m), or as
        :func:`check_mixture`.
    """
    w, mu, sig = check_mixture(w, mu, sig)
    if check_array("z", z, low=-MAX_Z, high=MAX_Z).ndim:
        _points(z, w.shape[0])
    return _log_survival(z, w, mu, sig)


def _log_survival(z, w: np.ndarray, mu: np.ndarray, sig: np.ndarray) -> np.ndarray:
    """:func:`log_survival` without the checks (the bisection of :func:`truncated_ppf`)."""
    z = np.asarray(z, dtype=np.float64)
    if z.ndim == 0:
        z = np.full(mu.shape[0], float(z))
    sh = (slice(None),) + (None,) * (z.ndim - 1) + (slice(None),)
    t = (mu[sh] - z[..., None]) / sig[sh]
    return special.logsumexp(special.log_ndtr(t), b=np.broadcast_to(w[sh], t.shape), axis=-1)


def truncated_cdf(z: np.ndarray, w: np.ndarray, mu: np.ndarray, sig: np.ndarray,
                  lower: float = Z_LOWER) -> np.ndarray:
    """CDF of each mixture truncated below ``lower``: 1 - S(z) / S(lower), 0 below ``lower``.

    Parameters
    ----------
    z : ndarray, shape (n,) or (n, m)
        Each mixture's own point(s) (a common grid: broadcast it to (n, m)); finite.
    w, mu, sig : ndarray, shape (n, K)
        The mixtures (:func:`check_mixture`).
    lower : float
        The truncation point, in z (finite, |lower| <= :data:`MAX_Z`).

    Returns
    -------
    ndarray, shape of ``z``, in [0, 1]

    Raises
    ------
    PhotozValueError
        Naming the argument: ``z`` not finite or not of shape (n,) / (n, m), ``lower`` not a
        finite number, or as :func:`check_mixture`.
    """
    w, mu, sig = check_mixture(w, mu, sig)
    z = _points(z, w.shape[0])
    lower = _lower(lower)
    z = np.asarray(z, dtype=np.float64)
    below = _log_survival(lower, w, mu, sig)
    ratio = np.exp(_log_survival(np.maximum(z, lower), w, mu, sig)
                   - below.reshape(below.shape + (1,) * (z.ndim - 1)))
    return np.clip(1.0 - ratio, 0.0, 1.0)


def truncated_pdf(grid: np.ndarray, w: np.ndarray, mu: np.ndarray, sig: np.ndarray,
                  lower: float = Z_LOWER, chunk: int = 2048) -> np.ndarray:
    """Density of each mixture truncated below ``lower`` on a common grid, (n, m).

    p_T(z) = sum_k w_k N(z | mu_k, sigma_k) / S(lower) for z >= ``lower``, 0 below; computed
    as exp(log-density - ln S(lower)), so it stays finite for a mixture almost wholly below.

    Parameters
    ----------
    grid : ndarray, shape (m,), z
        Finite, |z| <= :data:`MAX_Z`, in any order.
    w, mu, sig : ndarray, shape (n, K)
        The mixtures (:func:`check_mixture`).
    lower : float
        The truncation point, in z (finite, |lower| <= :data:`MAX_Z`).
    chunk : int
        Mixtures per block, >= 1 (memory: chunk x m x K floats).

    Returns
    -------
    ndarray, shape (n, m), per unit z

    Raises
    ------
    PhotozValueError
        Naming the argument: ``grid`` not finite or not of shape (m,), ``lower`` not a finite
        number, ``chunk`` not an integer >= 1, or as :func:`check_mixture`.
    """
    w, mu, sig = check_mixture(w, mu, sig)
    grid = check_array("grid", grid, shape=(None,), low=-MAX_Z, high=MAX_Z)
    lower = _lower(lower)
    check_number("chunk", chunk, low=1, integer=True)
    grid = np.asarray(grid, dtype=np.float64)
    out = np.zeros((mu.shape[0], grid.size))
    norm = _log_survival(lower, w, mu, sig)
    above = grid >= lower
    for start in range(0, mu.shape[0], chunk):
        sl = slice(start, start + chunk)
        t = (grid[None, above, None] - mu[sl, None, :]) / sig[sl, None, :]
        logn = -0.5 * t * t - np.log(sig[sl, None, :]) - 0.5 * math.log(2 * math.pi)
        top = logn.max(-1)  # logsumexp by hand: scipy's takes twice as long here
        with np.errstate(divide="ignore"):
            logp = top + np.log(np.einsum("ck,cmk->cm", w[sl], np.exp(logn - top[..., None])))
        out[sl, above] = np.exp(logp - norm[sl, None])
    return out


def truncated_ppf(q: float, w: np.ndarray, mu: np.ndarray, sig: np.ndarray,
                  lower: float = Z_LOWER, n_iter: int = 60) -> np.ndarray:
    """Quantile ``q`` of each mixture truncated below ``lower``, (n,), by bisection.

    Solves ln S(z) = ln(1 - q) + ln S(lower) (:func:`log_survival`) on [lower, hi], hi = the
    largest of ``lower`` + 10 max(sigma) and max(mu + 10 sigma); the bracket halves ``n_iter``
    times.

    Parameters
    ----------
    q : float
        In (0, 1).
    w, mu, sig : ndarray, shape (n, K)
        The mixtures (:func:`check_mixture`).
    lower : float
        The truncation point, in z (finite, |lower| <= :data:`MAX_Z`).
    n_iter : int
        Bisection steps, >= 1.

    Raises
    ------
    PhotozValueError
        Naming the argument: ``q`` outside (0, 1), ``lower`` not a finite number, ``n_iter``
        not an integer >= 1, or as :func:`check_mixture`.
    """
    w, mu, sig = check_mixture(w, mu, sig)
    check_number("q", q, low=0.0, high=1.0, low_open=True, high_open=True)
    lower = _lower(lower)
    check_number("n_iter", n_iter, low=1, integer=True)
    return _truncated_ppf(q, w, mu, sig, lower, n_iter)


def _truncated_ppf(q: float, w: np.ndarray, mu: np.ndarray, sig: np.ndarray,
                   lower: float = Z_LOWER, n_iter: int = 60) -> np.ndarray:
    """:func:`truncated_ppf` without the checks."""
    target = math.log1p(-q) + _log_survival(lower, w, mu, sig)
    lo = np.full(mu.shape[0], float(lower))
    hi = np.maximum((mu + 10 * sig).max(-1), lower + 10 * sig.max(-1))
    for _ in range(n_iter):
        mid = 0.5 * (lo + hi)
        above = _log_survival(mid, w, mu, sig) > target
        lo, hi = np.where(above, mid, lo), np.where(above, hi, mid)
    return 0.5 * (lo + hi)


def mixture_nll_np(z: np.ndarray, w: np.ndarray, mu: np.ndarray, sig: np.ndarray,
                   lower: float | None = None) -> float:
    """Mean negative log-likelihood of ``z`` (n,) under the mixtures (numpy, float64).

    With ``lower``, under the mixtures truncated there: each term gains ln S(lower)
    (:func:`log_survival`), the log of the renormalisation.

    Raises
    ------
    PhotozValueError
        Naming the argument: ``z`` not finite or not of shape (n,), no galaxy (n = 0),
        ``lower`` given but not a finite number, or as :func:`check_mixture`.
    """
    w, mu, sig = check_mixture(w, mu, sig)
    z = _redshifts(z, w.shape[0])
    if z.size == 0:
        raise PhotozValueError("z", "must hold at least one redshift (the mean of none is "
                               "undefined)")
    return _nll(z, w, mu, sig, _lower(lower, optional=True))


def _nll(z: np.ndarray, w: np.ndarray, mu: np.ndarray, sig: np.ndarray,
         lower: float | None = None) -> float:
    """:func:`mixture_nll_np` without the checks (the width-scale search)."""
    logn = -0.5 * ((z[:, None] - mu) / sig) ** 2 - np.log(sig) - 0.5 * math.log(2 * math.pi)
    nll = -special.logsumexp(logn, b=w, axis=-1)
    if lower is not None:
        nll = nll + _log_survival(lower, w, mu, sig)
    return float(nll.mean())


def fit_width_scale(z: np.ndarray, w: np.ndarray, mu: np.ndarray, sig: np.ndarray,
                    lower: float | None = None) -> float:
    """The factor ``s`` on every width that minimises the NLL of ``z`` (the validation split).

    Golden-section search on log s over :data:`SCALE_RANGE` (the NLL is smooth in s; 60
    iterations resolve s to 1e-9 relative). A temperature / width scaling in the sense of Guo et
    al. 2017 (ICML), for a regression mixture. With ``lower`` the likelihood is the truncated
    mixture's (:func:`mixture_nll_np`): the scale the p(z) as stored (truncated) wants.

    Parameters
    ----------
    z : ndarray, shape (n,)
        True redshifts of the validation galaxies (finite).
    w, mu, sig : ndarray, shape (n, K)
        Their mixtures (:func:`check_mixture`).
    lower : float, optional
        The truncation point, in z (finite, |lower| <= :data:`MAX_Z`); None: no truncation.

    Returns
    -------
    float
        The scale, in :data:`SCALE_RANGE`.

    Raises
    ------
    PhotozDataError
        If ``z`` is empty.
    PhotozValueError
        Naming the argument: ``z`` not finite or not of shape (n,), ``lower`` given but not a
        finite number, or as :func:`check_mixture` (one NaN weight made the search end at 1000).
    """
    w, mu, sig = check_mixture(w, mu, sig)
    z = _redshifts(z, w.shape[0])
    lower = _lower(lower, optional=True)
    z = np.asarray(z, dtype=np.float64)
    if z.size == 0:
        raise PhotozDataError("p(z) calibration: no validation galaxies to fit the width scale on")
    a, b = (math.log(v) for v in SCALE_RANGE)
    g = (math.sqrt(5) - 1) / 2

    def f(log_s):
        return _nll(z, w, mu, sig * math.exp(log_s), lower)

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

    Parameters
    ----------
    z : ndarray, shape (n,)
        True redshifts (finite).
    w, mu, sig : ndarray, shape (n, K)
        The mixtures (:func:`check_mixture`).
    chunk : int
        Galaxies per vectorised step, >= 1.

    Raises
    ------
    PhotozValueError
        Naming the argument: ``z`` not finite or not of shape (n,), ``chunk`` not an integer
        >= 1, or as :func:`check_mixture`.
    """
    w, mu, sig = check_mixture(w, mu, sig)
    z = _redshifts(z, w.shape[0])
    check_number("chunk", chunk, low=1, integer=True)

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


def mixture_of_members(members: Sequence[tuple[np.ndarray, np.ndarray, np.ndarray]]
                       ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The equal-weight mixture of N members' mixtures, galaxy by galaxy.

    Parameters
    ----------
    members : sequence of (w, mu, sig)
        Each member's weights, means, widths, shape (n, K_j) (the same n for every member;
        the K_j may differ, e.g. point and pdf members).

    Returns
    -------
    w, mu, sig : ndarray, shape (n, sum_j K_j)
        Components of member j in columns ``sum_{i<j} K_i ...``; weights ``w_j / N``, so each row
        sums to 1 when the members' do. The mixture's mean is the mean of the members' means and
        its CDF the mean of their CDFs.

    Raises
    ------
    PhotozDataError
        Without members, or for members of different lengths.
    PhotozValueError
        If ``members`` is not a sequence of (w, mu, sig) triples, or a member's arrays fail
        :func:`check_mixture` (named ``members[j].w`` ...).
    """
    if isinstance(members, (str, bytes)) or not isinstance(members, Sequence):
        raise PhotozValueError("members", "must be a sequence of (w, mu, sig) triples",
                               type(members).__name__)
    if not members:
        raise PhotozDataError("deep ensemble: no members to combine")
    for j, member in enumerate(members):
        if not isinstance(member, (tuple, list)) or len(member) != 3:
            raise PhotozValueError(f"members[{j}]", "must be a (w, mu, sig) triple")
        try:
            check_mixture(*member)
        except PhotozValueError as exc:
            raise PhotozValueError(f"members[{j}].{exc.argument}", exc.requirement,
                                   exc.value) from None
    lengths = {np.shape(m[1])[0] for m in members}
    if len(lengths) != 1:
        raise PhotozDataError(f"deep ensemble: the members give p(z) for different numbers of "
                              f"galaxies ({sorted(lengths)}); retrain them on the same table")
    n = len(members)
    w = np.concatenate([np.asarray(m[0], np.float64) for m in members], axis=1) / n
    mu = np.concatenate([np.asarray(m[1], np.float64) for m in members], axis=1)
    sig = np.concatenate([np.asarray(m[2], np.float64) for m in members], axis=1)
    return w, mu, sig
