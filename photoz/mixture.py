"""Gaussian-mixture p(z) as arrays: CDF, quantiles, mode, likelihood, width calibration, CRPS.

Every network's p(z) is a mixture of Gaussians in z per galaxy (weights ``w``, means ``mu``, widths
``sig``, each of shape (n, K); :mod:`photoz.train.heads` makes them, :mod:`photoz.products.train`
stores them as ``qp.mixmod`` ensembles). The training stage calibrates and summarises them
(:func:`fit_width_scale`, :func:`point_estimates`), the metrics stage scores them
(:func:`crps_mixture`, :mod:`photoz.evaluate.pdfscores`) and the figures draw them: the maths
lives here, once, in numpy float64.

Calibration: every width is multiplied by one factor ``s`` (a temperature on the widths) chosen to
minimise the negative log-likelihood of the *validation* galaxies (:func:`fit_width_scale`); the
test galaxies are never used. The CRPS is the closed form for a Gaussian mixture (Grimit et al.
2006, QJRMS 132, 2925, eq. A1), because neither qp 1.1 nor rail.evaluation 2.0 has a CRPS.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from scipy import special

from photoz.errors import PhotozDataError, PhotozValueError, check_array, check_number

#: Floor of a component's width in z (well below the 0.02-0.04 sigma_NMAD scatter).
SIGMA_MIN = 1e-3


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
                 chunk: int = 4096) -> np.ndarray:
    """Mode of each mixture: the densest of ``n_grid`` points spanning mu +- 4 sigma, (n,).

    The grid step is at most 8 max(sigma) / n_grid; for K = 1 the mode is mu exactly.

    Parameters
    ----------
    w, mu, sig : ndarray, shape (n, K)
        The mixtures (:func:`check_mixture`).
    n_grid : int
        Grid points, >= 2.
    chunk : int
        Galaxies per vectorised step, >= 1 (memory: chunk x n_grid x K floats).

    Raises
    ------
    PhotozValueError
        Naming the argument, as :func:`check_mixture`, or ``n_grid`` / ``chunk`` not integers
        of their range.
    """
    w, mu, sig = check_mixture(w, mu, sig)
    check_number("n_grid", n_grid, low=2, integer=True)
    check_number("chunk", chunk, low=1, integer=True)
    return _mode(w, mu, sig, n_grid, chunk)


def _mode(w: np.ndarray, mu: np.ndarray, sig: np.ndarray, n_grid: int = 512,
          chunk: int = 4096) -> np.ndarray:
    """:func:`mixture_mode` without the checks."""
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
    """``z_mode``, ``z_median``, ``z_lo68``, ``z_hi68`` (16th / 84th percentiles), each (n,).

    Raises
    ------
    PhotozValueError
        As :func:`check_mixture`.
    """
    w, mu, sig = check_mixture(w, mu, sig)
    return {"z_mode": _mode(w, mu, sig), "z_median": _ppf(0.5, w, mu, sig),
            "z_lo68": _ppf(0.16, w, mu, sig), "z_hi68": _ppf(0.84, w, mu, sig)}


def mixture_nll_np(z: np.ndarray, w: np.ndarray, mu: np.ndarray, sig: np.ndarray) -> float:
    """Mean negative log-likelihood of ``z`` (n,) under the mixtures (numpy, float64).

    Raises
    ------
    PhotozValueError
        Naming the argument: ``z`` not finite or not of shape (n,), no galaxy (n = 0), or as
        :func:`check_mixture`.
    """
    w, mu, sig = check_mixture(w, mu, sig)
    z = _redshifts(z, w.shape[0])
    if z.size == 0:
        raise PhotozValueError("z", "must hold at least one redshift (the mean of none is "
                               "undefined)")
    return _nll(z, w, mu, sig)


def _nll(z: np.ndarray, w: np.ndarray, mu: np.ndarray, sig: np.ndarray) -> float:
    """:func:`mixture_nll_np` without the checks (the width-scale search)."""
    logn = -0.5 * ((z[:, None] - mu) / sig) ** 2 - np.log(sig) - 0.5 * math.log(2 * math.pi)
    return float(-special.logsumexp(logn, b=w, axis=-1).mean())


def fit_width_scale(z: np.ndarray, w: np.ndarray, mu: np.ndarray, sig: np.ndarray) -> float:
    """The factor ``s`` on every width that minimises the NLL of ``z`` (the validation split).

    Golden-section search on log s over :data:`SCALE_RANGE` (the NLL is smooth in s; 60
    iterations resolve s to 1e-9 relative). A temperature / width scaling in the sense of Guo et
    al. 2017 (ICML), for a regression mixture.

    Parameters
    ----------
    z : ndarray, shape (n,)
        True redshifts of the validation galaxies (finite).
    w, mu, sig : ndarray, shape (n, K)
        Their mixtures (:func:`check_mixture`).

    Returns
    -------
    float
        The scale, in :data:`SCALE_RANGE`.

    Raises
    ------
    PhotozDataError
        If ``z`` is empty.
    PhotozValueError
        Naming the argument: ``z`` not finite or not of shape (n,), or as
        :func:`check_mixture` (one NaN weight made the search end at 1000).
    """
    w, mu, sig = check_mixture(w, mu, sig)
    z = _redshifts(z, w.shape[0])
    z = np.asarray(z, dtype=np.float64)
    if z.size == 0:
        raise PhotozDataError("p(z) calibration: no validation galaxies to fit the width scale on")
    a, b = (math.log(v) for v in SCALE_RANGE)
    g = (math.sqrt(5) - 1) / 2

    def f(log_s):
        return _nll(z, w, mu, sig * math.exp(log_s))

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
