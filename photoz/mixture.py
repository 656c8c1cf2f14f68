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
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from scipy import special

from photoz.errors import PhotozDataError

#: Floor of a component's width in z (well below the 0.02-0.04 sigma_NMAD scatter).
SIGMA_MIN = 1e-3

#: Lower edge of every network's p(z) (issue 29): no probability at negative redshift.
Z_LOWER = 0.0


#: Search range of the width scale of :func:`fit_width_scale`.
SCALE_RANGE = (1e-3, 1e3)




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
                 chunk: int = 4096, lower: float | None = None) -> np.ndarray:
    """Mode of each mixture: the densest of ``n_grid`` points spanning mu +- 4 sigma, (n,).

    The grid step is at most 8 max(sigma) / n_grid; for K = 1 the mode is mu exactly. With
    ``lower`` the mode of the mixture truncated there: the grid starts at ``lower`` at the
    lowest (a p(z) wholly below it has its mode at ``lower``; K = 1: max(mu, lower)).
    """
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
    """
    if lower is None:
        return {"z_mode": mixture_mode(w, mu, sig), "z_median": mixture_ppf(0.5, w, mu, sig),
                "z_lo68": mixture_ppf(0.16, w, mu, sig), "z_hi68": mixture_ppf(0.84, w, mu, sig)}
    return {"z_mode": mixture_mode(w, mu, sig, lower=lower),
            **{key: truncated_ppf(q, w, mu, sig, lower)
               for key, q in (("z_median", 0.5), ("z_lo68", 0.16), ("z_hi68", 0.84))}}


def log_survival(z: np.ndarray, w: np.ndarray, mu: np.ndarray, sig: np.ndarray) -> np.ndarray:
    """ln S(z) = ln sum_k w_k Phi((mu_k - z) / sigma_k): the log mass of each mixture above ``z``.

    Parameters
    ----------
    z : ndarray, shape (n,) or (n, m)
        Each mixture's own point(s); a scalar is broadcast to (n,).
    w, mu, sig : ndarray, shape (n, K)

    Returns
    -------
    ndarray, shape of ``z``
        By ``scipy.special.log_ndtr`` and ``logsumexp``: finite far into the lower tail, where
        1 - CDF would round to 0.
    """
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
        Each mixture's own point(s) (a common grid: broadcast it to (n, m)).
    w, mu, sig : ndarray, shape (n, K)
    lower : float
        The truncation point, in z.

    Returns
    -------
    ndarray, shape of ``z``, in [0, 1]
    """
    z = np.asarray(z, dtype=np.float64)
    below = log_survival(lower, w, mu, sig)
    ratio = np.exp(log_survival(np.maximum(z, lower), w, mu, sig)
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
    w, mu, sig : ndarray, shape (n, K)
    lower : float
    chunk : int
        Mixtures per block (memory: chunk x m x K floats).

    Returns
    -------
    ndarray, shape (n, m), per unit z
    """
    grid = np.asarray(grid, dtype=np.float64)
    out = np.zeros((mu.shape[0], grid.size))
    norm = log_survival(lower, w, mu, sig)
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
    largest of ``lower`` + 10 max(sigma) and max(mu + 10 sigma); the bracket halves 60 times.
    """
    target = math.log1p(-q) + log_survival(lower, w, mu, sig)
    lo = np.full(mu.shape[0], float(lower))
    hi = np.maximum((mu + 10 * sig).max(-1), lower + 10 * sig.max(-1))
    for _ in range(n_iter):
        mid = 0.5 * (lo + hi)
        above = log_survival(mid, w, mu, sig) > target
        lo, hi = np.where(above, mid, lo), np.where(above, hi, mid)
    return 0.5 * (lo + hi)


def mixture_nll_np(z: np.ndarray, w: np.ndarray, mu: np.ndarray, sig: np.ndarray,
                   lower: float | None = None) -> float:
    """Mean negative log-likelihood of ``z`` (n,) under the mixtures (numpy, float64).

    With ``lower``, under the mixtures truncated there: each term gains ln S(lower)
    (:func:`log_survival`), the log of the renormalisation.
    """
    logn = -0.5 * ((z[:, None] - mu) / sig) ** 2 - np.log(sig) - 0.5 * math.log(2 * math.pi)
    nll = -special.logsumexp(logn, b=w, axis=-1)
    if lower is not None:
        nll = nll + log_survival(lower, w, mu, sig)
    return float(nll.mean())


def fit_width_scale(z: np.ndarray, w: np.ndarray, mu: np.ndarray, sig: np.ndarray,
                    lower: float | None = None) -> float:
    """The factor ``s`` on every width that minimises the NLL of ``z`` (the validation split).

    Golden-section search on log s over :data:`SCALE_RANGE` (the NLL is smooth in s; 60
    iterations resolve s to 1e-9 relative). A temperature / width scaling in the sense of Guo et
    al. 2017 (ICML), for a regression mixture. With ``lower`` the likelihood is the truncated
    mixture's (:func:`mixture_nll_np`): the scale the p(z) as stored (truncated) wants.

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
        return mixture_nll_np(z, w, mu, sig * math.exp(log_s), lower)

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
    """
    if not members:
        raise PhotozDataError("deep ensemble: no members to combine")
    lengths = {np.shape(m[1])[0] for m in members}
    if len(lengths) != 1:
        raise PhotozDataError(f"deep ensemble: the members give p(z) for different numbers of "
                              f"galaxies ({sorted(lengths)}); retrain them on the same table")
    n = len(members)
    w = np.concatenate([np.asarray(m[0], np.float64) for m in members], axis=1) / n
    mu = np.concatenate([np.asarray(m[1], np.float64) for m in members], axis=1)
    sig = np.concatenate([np.asarray(m[2], np.float64) for m in members], axis=1)
    return w, mu, sig
