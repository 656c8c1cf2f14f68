"""Scores of any method's p(z) file: PIT statistics, coverage of the central intervals, CRPS, NLL.

One function, :func:`score_pdfs`, scores every method that gives a p(z), from its qp ensemble and
nothing else (the networks' truncated mixtures on a grid, FlexZBoost's and BPZ's grids,
KNearNeigh's Gaussian mixtures), so every row of ``summary.json`` is computed the same way:

- PIT, its KS / CvM / AD statistics and outlier rate from :class:`qp.metrics.pit.PIT` (the code
  RAIL's evaluation stages call), i.e. from the ensemble's own ``cdf`` at the true z;
- the coverage of the central 68% and 95% intervals: the fraction of PIT values inside
  [0.16, 0.84] and [0.025, 0.975];
- the CRPS, CRPS = int (F(z) - 1{z >= z_true})^2 dz (Matheson & Winkler 1976, Manage. Sci. 22,
  1087; Gneiting & Raftery 2007, JASA 102, 359, eq. 20), numerically from the ensemble's ``cdf`` on
  a uniform grid of step :data:`CRPS_DZ` spanning every p(z) (:func:`crps_ensemble`): the
  trapezoid rule on F^2 below z_true and (1 - F)^2 above it, the step at z_true integrated
  exactly. Our own code because neither qp 1.1 nor rail.evaluation 2.0 has a CRPS, and the closed
  form of a Gaussian mixture (:func:`photoz.mixture.crps_mixture`; Grimit et al. 2006) holds
  neither for a truncated mixture nor for a gridded p(z); tests/test_evaluate_pdfscores.py checks
  the numerical value against that closed form;
- the NLL, mean -ln p(z_true) with p from the ensemble's ``pdf``, floored at :data:`PDF_FLOOR`.

The networks' files also hold the calibrated mixture and its width factor, from which
:func:`score_ensemble` adds the same scores of the uncalibrated p(z) (``_raw``).
"""

from __future__ import annotations

import numpy as np

from photoz.errors import PhotozDataError
from photoz.products.train import ensemble_arrays, make_ensemble, read_qp

#: Central intervals scored: 68% and 95% (PIT between (1 -/+ c) / 2).
COVERAGES = (0.68, 0.95)
#: Step of the CRPS grid, z. Against the closed form of 1,000 3-component Gaussian mixtures of
#: widths 0.01-0.3 the numerical CRPS is off by at most 4.3e-6 (2e-4 relative; mean 2e-7; 1.1e-6 at
#: a step of 0.001, in twice the time; tests/test_evaluate_pdfscores.py checks it). The networks'
#: own grid is coarser (dz = 0.003 (1 + z), :data:`photoz.products.train.PDF_GRID`).
CRPS_DZ = 2e-3
#: Mass of a p(z) allowed outside the CRPS grid (each end); the grid widens until every p(z) has less.
CRPS_TAIL = 1e-6
#: Widest CRPS grid: z in [-1, 20] (z > -1 is physical; no photo-z reaches 20).
CRPS_LIMITS = (-1.0, 20.0)
#: Density floor of the NLL, per unit z: a galaxy whose p(z_true) is 0 (a grid p(z) that ends, or
#: a FlexZBoost p(z) cut by its bump threshold) adds -ln(1e-4) = 9.2 instead of infinity.
PDF_FLOOR = 1e-4
#: Galaxies per block of the CRPS grid (memory: block x grid points floats).
_CHUNK = 500


def crps_from_cdf(cdf: np.ndarray, grid: np.ndarray, z_true: np.ndarray,
                  cdf_at_truth: np.ndarray) -> np.ndarray:
    """CRPS of each p(z) from its CDF on a grid, the step of the indicator integrated exactly.

    int_lo^z_t F^2 dz + int_z_t^hi (1 - F)^2 dz, each by the trapezoid rule on the grid points on
    its side plus the piece of the cell holding z_t, with F(z_t) = ``cdf_at_truth``. A z_t outside
    the grid adds its distance to the grid (F = 0 below the grid, 1 above it).

    Parameters
    ----------
    cdf : ndarray, shape (n, m)
        F of each p(z) on ``grid``.
    grid : ndarray, shape (m,), z, increasing
    z_true : ndarray, shape (n,)
    cdf_at_truth : ndarray, shape (n,)
        F(z_true) (the PIT).

    Returns
    -------
    ndarray, shape (n,), z
    """
    z = np.asarray(z_true, dtype=np.float64)
    ft = np.asarray(cdf_at_truth, dtype=np.float64)
    dz = np.diff(grid)[None, :]
    below, above = cdf**2, (1.0 - cdf) ** 2
    cum_below = np.concatenate([np.zeros((len(z), 1)),
                                np.cumsum(0.5 * (below[:, 1:] + below[:, :-1]) * dz, axis=1)], 1)
    cum_above = np.concatenate([np.zeros((len(z), 1)),
                                np.cumsum(0.5 * (above[:, 1:] + above[:, :-1]) * dz, axis=1)], 1)
    rows = np.arange(len(z))
    k = np.clip(np.searchsorted(grid, z, side="right") - 1, 0, len(grid) - 2)  # g_k <= z < g_k+1
    zc = np.clip(z, grid[0], grid[-1])
    left = cum_below[rows, k] + 0.5 * (below[rows, k] + ft**2) * (zc - grid[k])
    right = (cum_above[:, -1] - cum_above[rows, k + 1]
             + 0.5 * ((1 - ft) ** 2 + above[rows, k + 1]) * (grid[k + 1] - zc))
    return left + right + np.clip(grid[0] - z, 0, None) + np.clip(z - grid[-1], 0, None)


def crps_grid(ens, z_true: np.ndarray, dz: float = CRPS_DZ) -> np.ndarray:
    """The uniform grid of step ``dz`` the CRPS of ``ens`` is integrated on.

    It starts 0.01 below min(0, z_true) and ends 0.01 above max(z_true), each end moved out by 0.5
    until every p(z) has less than :data:`CRPS_TAIL` of its mass beyond it (within
    :data:`CRPS_LIMITS`).

    Returns
    -------
    ndarray, shape (m,), z
    """
    lo, hi = min(0.0, float(z_true.min())) - 0.01, float(z_true.max()) + 0.01
    while lo > CRPS_LIMITS[0] and np.max(ens.cdf(lo)) > CRPS_TAIL:
        lo = max(lo - 0.5, CRPS_LIMITS[0])
    while hi < CRPS_LIMITS[1] and np.min(ens.cdf(hi)) < 1 - CRPS_TAIL:
        hi = min(hi + 0.5, CRPS_LIMITS[1])
    return np.linspace(lo, hi, int(np.ceil((hi - lo) / dz)) + 1)


def crps_ensemble(ens, z_true: np.ndarray, cdf_at_truth: np.ndarray | None = None,
                  dz: float = CRPS_DZ) -> np.ndarray:
    """CRPS of every p(z) of a qp ensemble at its true z, from the ensemble's ``cdf``.

    Parameters
    ----------
    ens : qp.Ensemble
        Any representation (interp, mixmod, ...); n p(z).
    z_true : ndarray, shape (n,)
    cdf_at_truth : ndarray, shape (n,), optional
        F(z_true) if already known (the PIT); computed otherwise.
    dz : float, z
        Step of the grid (:func:`crps_grid`).

    Returns
    -------
    ndarray, shape (n,), z
        :func:`crps_from_cdf` of each p(z), in blocks of 500 galaxies.
    """
    z_true = np.asarray(z_true, dtype=np.float64)
    if cdf_at_truth is None:
        cdf_at_truth = np.asarray(ens.cdf(z_true[:, None]), dtype=np.float64).ravel()
    grid = crps_grid(ens, z_true, dz)
    out = np.empty(len(z_true))
    for start in range(0, len(z_true), _CHUNK):
        sl = slice(start, start + _CHUNK)
        cdf = np.asarray(ens[sl].cdf(grid), dtype=np.float64)
        out[sl] = crps_from_cdf(cdf, grid, z_true[sl], cdf_at_truth[sl])
    return out


def score_pdfs(ens, z_true: np.ndarray) -> dict:
    """The p(z) scores of one method: the one function every method's p(z) goes through.

    Parameters
    ----------
    ens : qp.Ensemble
        The p(z) of n galaxies, any qp representation.
    z_true : ndarray, shape (n,)
        Their true redshifts.

    Returns
    -------
    dict
        ``crps`` (mean, in z; :func:`crps_ensemble`), ``pit_ks``, ``pit_cvm``, ``pit_ad``
        (statistics of :class:`qp.metrics.pit.PIT` against U(0, 1)), ``pit_outlier_rate`` (PIT
        below 1e-4 or above 0.9999, qp's definition), ``coverage_68``, ``coverage_95`` and
        ``nll`` (mean -ln p(z_true), p floored at :data:`PDF_FLOOR`).

    Raises
    ------
    PhotozDataError
        If ``ens`` and ``z_true`` differ in length or there is no galaxy.
    """
    from qp.metrics.pit import PIT

    z = np.asarray(z_true, dtype=np.float64)
    if ens.npdf != len(z) or len(z) == 0:
        raise PhotozDataError(f"p(z) scores: {ens.npdf} p(z) for {len(z)} true redshifts; "
                              "give one p(z) per galaxy (at least one)")
    pit = PIT(ens, z)
    samples = np.asarray(pit.pit_samps, dtype=np.float64)
    meta = pit.calculate_pit_meta_metrics()
    out = {"crps": float(crps_ensemble(ens, z, samples).mean()),
           "pit_ks": float(meta["ks"].statistic),
           "pit_cvm": float(meta["cvm"].statistic),
           "pit_ad": float(meta["ad"].statistic),
           "pit_outlier_rate": float(meta["outlier_rate"])}
    for c in COVERAGES:
        lo, hi = (1 - c) / 2, (1 + c) / 2
        out[f"coverage_{round(100 * c)}"] = float(((samples >= lo) & (samples <= hi)).mean())
    dens = np.asarray(ens.pdf(z[:, None]), dtype=np.float64).ravel()
    out["nll"] = float(-np.log(np.maximum(dens, PDF_FLOOR)).mean())
    return out


def score_arrays(z: np.ndarray, w: np.ndarray, mu: np.ndarray, sig: np.ndarray) -> dict:
    """:func:`score_pdfs` of untruncated Gaussian mixtures (n, K), as a ``qp.mixmod`` ensemble."""
    import qp

    return score_pdfs(qp.Ensemble(qp.mixmod, data={"weights": w, "means": mu, "stds": sig}), z)


def score_ensemble(ens, z_true: np.ndarray | None = None, raw_too: bool = True) -> dict:
    """:func:`score_pdfs` of a p(z) file, and for a network's the scores of its raw p(z).

    Parameters
    ----------
    ens : qp.Ensemble
        Any method's p(z) (:func:`photoz.products.train.read_qp`); a network's
        (:func:`photoz.products.train.make_ensemble`) holds ancillary ``width_scale`` and its
        mixture (:data:`photoz.products.train.MIXTURE_ANCIL`).
    z_true : ndarray, optional
        Default the ensemble's ancillary ``z_true``.
    raw_too : bool
        For a network's file, also score the p(z) before calibration: the mixture with its
        widths divided by ``width_scale``, truncated and gridded as the file's (keys with the
        suffix ``_raw``).

    Returns
    -------
    dict
        The keys of :func:`score_pdfs`; a network's file adds ``width_scale`` and, with
        ``raw_too``, every score again with ``_raw``.

    Raises
    ------
    PhotozDataError
        Without ``z_true`` in the arguments or the file, or as :func:`score_pdfs`.
    """
    ancil = ens.ancil or {}
    if z_true is None and "z_true" not in ancil:
        raise PhotozDataError("p(z) scores: the ensemble holds no z_true; pass the true redshifts")
    z = np.asarray(ancil["z_true"] if z_true is None else z_true, dtype=np.float64)
    out = score_pdfs(ens, z)
    if "width_scale" not in ancil:
        return out
    scale = float(np.asarray(ancil["width_scale"])[0]) if len(z) else 1.0
    out["width_scale"] = scale
    if raw_too:
        w, mu, sig = ensemble_arrays(ens)
        if "means" in ens.objdata:  # an untruncated mixmod (a member's, or an older file)
            raw = score_arrays(z, w, mu, sig / scale)
        else:
            ids = ancil.get("object_id", np.arange(len(z)))
            raw = score_pdfs(make_ensemble(w, mu, sig / scale, ids, z, 1.0), z)
        out.update({f"{k}_raw": v for k, v in raw.items()})
    return out


def score_file(path, object_id: np.ndarray, z_true: np.ndarray) -> dict:
    """:func:`score_ensemble` of the given galaxies of any method's p(z) file.

    The file's rows are matched to ``object_id`` by its ancillary ``object_id`` (a network's file
    holds the test galaxies, a RAIL peer's every selected one, in its own order); the true
    redshifts are the caller's (the predictions table's).

    Parameters
    ----------
    path : path-like
        A qp file (``results/pdfs/<net>.hdf5``, ``results/peers/<peer>_pz.hdf5``).
    object_id : ndarray, shape (n,), int
    z_true : ndarray, shape (n,)

    Returns
    -------
    dict
        As :func:`score_ensemble`.

    Raises
    ------
    PhotozDataError
        If the file is unreadable, has no ``object_id`` per p(z) or lacks one of the galaxies.
    """
    ens = read_qp(path)
    ids = np.asarray((ens.ancil or {}).get("object_id", []), dtype=np.int64).ravel()
    if len(ids) != ens.npdf:
        raise PhotozDataError(f"p(z) file {path}: no ancillary object_id per p(z); rerun the "
                              "job that writes it")
    wanted = np.asarray(object_id, dtype=np.int64)
    missing = ~np.isin(wanted, ids)
    if missing.any():
        raise PhotozDataError(f"p(z) file {path}: no p(z) for test galaxy object_id "
                              f"{wanted[missing][0]} ({int(missing.sum())} missing); rerun the "
                              "job that writes it")
    order = np.argsort(ids, kind="stable")
    rows = order[np.searchsorted(ids, wanted, sorter=order)]
    sub = ens if np.array_equal(rows, np.arange(ens.npdf)) else ens[rows]
    return score_ensemble(sub, np.asarray(z_true, dtype=np.float64))
