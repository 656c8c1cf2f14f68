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

Arguments (issue 30): every public function checks its arguments and raises
:class:`photoz.errors.PhotozValueError` naming the one that is wrong (an ensemble that is not a
``qp.Ensemble`` or holds values that are not finite, true redshifts outside :data:`CRPS_LIMITS`
or of another length, fewer than :data:`MIN_GALAXIES` galaxies to score, ...); the loops call the
unchecked private twins, so a valid call computes the same bits. Where qp cannot compute the PIT
statistics (every PIT value 0 or 1), they are NaN, with a warning.
"""

from __future__ import annotations

import logging
import os

import numpy as np

from photoz.errors import PhotozDataError, PhotozValueError, check_array, check_number
from photoz.mixture import MAX_Z, check_mixture
from photoz.products.train import MIXTURE_ANCIL, ensemble_arrays, make_ensemble, read_qp

log = logging.getLogger(__name__)

#: Central intervals scored: 68% and 95% (PIT between (1 -/+ c) / 2).
COVERAGES = (0.68, 0.95)
#: Step of the CRPS grid, z. Against the closed form of 1,000 3-component Gaussian mixtures of
#: widths 0.01-0.3 the numerical CRPS is off by at most 4.3e-6 (2e-4 relative; mean 2e-7; 1.1e-6 at
#: a step of 0.001, in twice the time; tests/test_evaluate_pdfscores.py checks it). The networks'
#: own grid is coarser (dz = 0.003 (1 + z), :data:`photoz.products.train.PDF_GRID`).
CRPS_DZ = 2e-3
#: Mass of a p(z) allowed outside the CRPS grid (each end); the grid widens until every p(z) has less.
CRPS_TAIL = 1e-6
#: Widest CRPS grid: z in [-1, 20] (z > -1 is physical; no photo-z reaches 20). The true redshifts
#: the grid is built around must lie in it.
CRPS_LIMITS = (-1.0, 20.0)
#: Smallest CRPS grid step the functions accept, z: at most ~2 million points over CRPS_LIMITS.
MIN_CRPS_DZ = 1e-5
#: Density floor of the NLL, per unit z: a galaxy whose p(z_true) is 0 (a grid p(z) that ends, or
#: a FlexZBoost p(z) cut by its bump threshold) adds -ln(1e-4) = 9.2 instead of infinity.
PDF_FLOOR = 1e-4
#: Fewest galaxies a p(z) is scored on: qp's PIT (its quantile interpolation) fails for 1 or 2.
MIN_GALAXIES = 3
#: Galaxies per block of the CRPS grid (memory: block x grid points floats).
_CHUNK = 500


# --------------------------------------------------------------------------------------------
# Argument checks
# --------------------------------------------------------------------------------------------
def _check_ensemble(ens, min_n: int = 1):
    """``ens`` checked: a ``qp.Ensemble`` of at least ``min_n`` p(z) whose data (``objdata``:
    weights / means / stds, xvals / yvals, ...) are finite numbers; named ``ens`` or
    ``ens.<key>``."""
    import qp

    if not isinstance(ens, qp.Ensemble):
        raise PhotozValueError("ens", "must be a qp.Ensemble", type(ens).__name__)
    if ens.npdf < min_n:
        raise PhotozValueError("ens", f"must hold at least {min_n} p(z)", ens.npdf)
    for key, value in (ens.objdata or {}).items():
        check_array(f"ens.{key}", value)
    return ens


def _check_truths(name: str, z, n: int, min_n: int = 1) -> np.ndarray:
    """True redshifts ``z`` checked: shape (n,), n >= ``min_n``, finite, within
    :data:`CRPS_LIMITS`; float64."""
    z = check_array(name, z, shape=(n,), low=CRPS_LIMITS[0], high=CRPS_LIMITS[1])
    if z.size < min_n:
        raise PhotozValueError(name, f"must hold at least {min_n} galaxies to score"
                               + (" (qp's PIT statistics need them)" if min_n > 1 else ""), z.size)
    return np.asarray(z, dtype=np.float64)


def _check_dz(dz) -> float:
    return check_number("dz", dz, low=MIN_CRPS_DZ, high=1.0)


# --------------------------------------------------------------------------------------------
# The CRPS
# --------------------------------------------------------------------------------------------
def crps_from_cdf(cdf: np.ndarray, grid: np.ndarray, z_true: np.ndarray,
                  cdf_at_truth: np.ndarray) -> np.ndarray:
    """CRPS of each p(z) from its CDF on a grid, the step of the indicator integrated exactly.

    int_lo^z_t F^2 dz + int_z_t^hi (1 - F)^2 dz, each by the trapezoid rule on the grid points on
    its side plus the piece of the cell holding z_t, with F(z_t) = ``cdf_at_truth``. A z_t outside
    the grid adds its distance to the grid (F = 0 below the grid, 1 above it).

    Parameters
    ----------
    cdf : ndarray, shape (n, m)
        F of each p(z) on ``grid``, in [0, 1].
    grid : ndarray, shape (m,), z, strictly increasing, m >= 2, finite
    z_true : ndarray, shape (n,)
        Finite, |z| <= :data:`photoz.mixture.MAX_Z`.
    cdf_at_truth : ndarray, shape (n,)
        F(z_true) (the PIT), in [0, 1].

    Returns
    -------
    ndarray, shape (n,), z

    Raises
    ------
    PhotozValueError
        Naming the argument that is not numbers, of another shape, not finite or out of range
        (``grid`` also when not strictly increasing or shorter than 2).
    """
    grid = check_array("grid", grid, shape=(None,), low=-MAX_Z, high=MAX_Z)
    if grid.size < 2 or np.any(np.diff(grid) <= 0):
        raise PhotozValueError("grid", "must hold at least 2 strictly increasing points",
                               grid.size)
    cdf = check_array("cdf", cdf, shape=(None, grid.size), low=0.0, high=1.0)
    z_true = check_array("z_true", z_true, shape=(cdf.shape[0],), low=-MAX_Z, high=MAX_Z)
    cdf_at_truth = check_array("cdf_at_truth", cdf_at_truth, shape=(cdf.shape[0],), low=0.0,
                               high=1.0)
    return _crps_from_cdf(cdf, np.asarray(grid, dtype=np.float64), z_true, cdf_at_truth)


def _crps_from_cdf(cdf: np.ndarray, grid: np.ndarray, z_true: np.ndarray,
                   cdf_at_truth: np.ndarray) -> np.ndarray:
    """:func:`crps_from_cdf` without the checks (the blocks of :func:`crps_ensemble`)."""
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

    Parameters
    ----------
    ens : qp.Ensemble
        n >= 1 p(z), any representation, finite data.
    z_true : ndarray, shape (n,)
        Finite, within :data:`CRPS_LIMITS`.
    dz : float, z
        In [:data:`MIN_CRPS_DZ`, 1].

    Returns
    -------
    ndarray, shape (m,), z

    Raises
    ------
    PhotozValueError
        Naming the argument: ``ens`` not a qp ensemble of finite data, ``z_true`` not of shape
        (n,), not finite or outside :data:`CRPS_LIMITS`, ``dz`` out of its range.
    """
    ens = _check_ensemble(ens)
    z_true = _check_truths("z_true", z_true, ens.npdf)
    return _crps_grid(ens, z_true, _check_dz(dz))


def _crps_grid(ens, z_true: np.ndarray, dz: float = CRPS_DZ) -> np.ndarray:
    """:func:`crps_grid` without the checks."""
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
        Any representation (interp, mixmod, ...); n >= 1 p(z), finite data.
    z_true : ndarray, shape (n,)
        Finite, within :data:`CRPS_LIMITS`.
    cdf_at_truth : ndarray, shape (n,), optional
        F(z_true) if already known (the PIT), in [0, 1]; computed otherwise.
    dz : float, z
        Step of the grid (:func:`crps_grid`).

    Returns
    -------
    ndarray, shape (n,), z
        :func:`crps_from_cdf` of each p(z), in blocks of 500 galaxies.

    Raises
    ------
    PhotozValueError
        Naming the argument, as :func:`crps_grid`, or ``cdf_at_truth`` given but not of shape
        (n,) or outside [0, 1].
    """
    ens = _check_ensemble(ens)
    z_true = _check_truths("z_true", z_true, ens.npdf)
    if cdf_at_truth is not None:
        cdf_at_truth = check_array("cdf_at_truth", cdf_at_truth, shape=(ens.npdf,), low=0.0,
                                   high=1.0)
    return _crps_ensemble(ens, z_true, cdf_at_truth, _check_dz(dz))


def _crps_ensemble(ens, z_true: np.ndarray, cdf_at_truth: np.ndarray | None = None,
                   dz: float = CRPS_DZ) -> np.ndarray:
    """:func:`crps_ensemble` without the checks (:func:`score_pdfs`)."""
    z_true = np.asarray(z_true, dtype=np.float64)
    if cdf_at_truth is None:
        cdf_at_truth = np.asarray(ens.cdf(z_true[:, None]), dtype=np.float64).ravel()
    grid = _crps_grid(ens, z_true, dz)
    out = np.empty(len(z_true))
    for start in range(0, len(z_true), _CHUNK):
        sl = slice(start, start + _CHUNK)
        block = ens if len(z_true) <= _CHUNK else ens[sl]  # qp cannot slice a lone p(z)
        cdf = np.asarray(block.cdf(grid), dtype=np.float64).reshape(-1, grid.size)
        out[sl] = _crps_from_cdf(cdf, grid, z_true[sl], cdf_at_truth[sl])
    return out


# --------------------------------------------------------------------------------------------
# The scores
# --------------------------------------------------------------------------------------------
def score_pdfs(ens, z_true: np.ndarray) -> dict:
    """The p(z) scores of one method: the one function every method's p(z) goes through.

    Parameters
    ----------
    ens : qp.Ensemble
        The p(z) of n galaxies, any qp representation (finite data).
    z_true : ndarray, shape (n,)
        Their true redshifts: finite, within :data:`CRPS_LIMITS`, n >= :data:`MIN_GALAXIES`.

    Returns
    -------
    dict
        ``crps`` (mean, in z; :func:`crps_ensemble`), ``pit_ks``, ``pit_cvm``, ``pit_ad``
        (statistics of :class:`qp.metrics.pit.PIT` against U(0, 1)), ``pit_outlier_rate`` (PIT
        below 1e-4 or above 0.9999, qp's definition), ``coverage_68``, ``coverage_95`` and
        ``nll`` (mean -ln p(z_true), p floored at :data:`PDF_FLOOR`). Where qp cannot compute
        the PIT statistics (every PIT value 0 or 1: every true z far outside its p(z)), the four
        ``pit_*`` are NaN (``null`` in summary.json), with a warning; the coverages then come
        from the ensemble's CDF at the true z.

    Raises
    ------
    PhotozValueError
        Naming the argument: ``ens`` not a qp ensemble of finite data, or ``z_true`` not one
        finite redshift per p(z) (at least :data:`MIN_GALAXIES`) within :data:`CRPS_LIMITS`.
    """
    ens = _check_ensemble(ens)
    z = _check_truths("z_true", z_true, ens.npdf, MIN_GALAXIES)
    return _score_pdfs(ens, z)


def _score_pdfs(ens, z: np.ndarray) -> dict:
    """:func:`score_pdfs` without the checks."""
    from qp.metrics.pit import PIT

    try:
        pit = PIT(ens, z)
        samples = np.asarray(pit.pit_samps, dtype=np.float64)
        meta = pit.calculate_pit_meta_metrics()
        stats = {"pit_ks": float(meta["ks"].statistic),
                 "pit_cvm": float(meta["cvm"].statistic),
                 "pit_ad": float(meta["ad"].statistic),
                 "pit_outlier_rate": float(meta["outlier_rate"])}
    except (ValueError, IndexError, TypeError) as exc:  # qp on a degenerate PIT distribution
        log.warning("PIT statistics undefined for these %d galaxies (qp: %s): reported as NaN",
                    z.size, exc)
        samples = np.asarray(ens.cdf(z[:, None]), dtype=np.float64).ravel()
        stats = dict.fromkeys(("pit_ks", "pit_cvm", "pit_ad", "pit_outlier_rate"), np.nan)
    out = {"crps": float(_crps_ensemble(ens, z, samples).mean()), **stats}
    for c in COVERAGES:
        lo, hi = (1 - c) / 2, (1 + c) / 2
        out[f"coverage_{round(100 * c)}"] = float(((samples >= lo) & (samples <= hi)).mean())
    dens = np.asarray(ens.pdf(z[:, None]), dtype=np.float64).ravel()
    out["nll"] = float(-np.log(np.maximum(dens, PDF_FLOOR)).mean())
    return out


def score_arrays(z: np.ndarray, w: np.ndarray, mu: np.ndarray, sig: np.ndarray) -> dict:
    """:func:`score_pdfs` of untruncated Gaussian mixtures (n, K), as a ``qp.mixmod`` ensemble.

    Parameters
    ----------
    z : ndarray, shape (n,)
        True redshifts: finite, within :data:`CRPS_LIMITS`, n >= :data:`MIN_GALAXIES`.
    w, mu, sig : ndarray, shape (n, K)
        The mixtures (:func:`photoz.mixture.check_mixture`).

    Returns
    -------
    dict
        As :func:`score_pdfs`.

    Raises
    ------
    PhotozValueError
        Naming the argument: ``z`` as ``z_true`` of :func:`score_pdfs`, or as
        :func:`photoz.mixture.check_mixture`.
    """
    import qp

    w, mu, sig = check_mixture(w, mu, sig)
    z = _check_truths("z", z, w.shape[0], MIN_GALAXIES)
    return _score_pdfs(qp.Ensemble(qp.mixmod, data={"weights": w, "means": mu, "stds": sig}), z)


def _file_mixture(ens) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The calibrated mixture a network's p(z) file holds (:func:`ensemble_arrays`), checked and
    named after its columns (``ens.mixture_weights`` ..., ``ens.weights`` ... for a mixmod)."""
    mixmod = "means" in ens.objdata
    columns = ("weights", "means", "stds") if mixmod else MIXTURE_ANCIL
    ancil = ens.ancil or {}
    if not mixmod and not all(k in ancil for k in MIXTURE_ANCIL):
        raise PhotozValueError("ens", f"must hold its mixture in ancillary {list(MIXTURE_ANCIL)} "
                               "to score its raw p(z) (a network's file)")
    try:
        return check_mixture(*ensemble_arrays(ens))
    except PhotozValueError as exc:
        column = dict(zip(("w", "mu", "sig"), columns, strict=True)).get(exc.argument,
                                                                         exc.argument)
        raise PhotozValueError(f"ens.{column}", exc.requirement, exc.value) from None


def score_ensemble(ens, z_true: np.ndarray | None = None, raw_too: bool = True) -> dict:
    """:func:`score_pdfs` of a p(z) file, and for a network's the scores of its raw p(z).

    Parameters
    ----------
    ens : qp.Ensemble
        Any method's p(z) (:func:`photoz.products.train.read_qp`); a network's
        (:func:`photoz.products.train.make_ensemble`) holds ancillary ``width_scale`` and its
        mixture (:data:`photoz.products.train.MIXTURE_ANCIL`).
    z_true : ndarray, optional
        Default the ensemble's ancillary ``z_true``; as in :func:`score_pdfs`.
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
    PhotozValueError
        Naming the argument: ``ens`` as in :func:`score_pdfs` (and, with ``raw_too``, a
        network's file without a valid mixture: ``ens.<column>``); ``z_true`` not given and not
        in the file, or as in :func:`score_pdfs`; an ancillary ``width_scale`` that is not a
        finite number > 0; ``raw_too`` not a bool.
    """
    ens = _check_ensemble(ens)
    if not isinstance(raw_too, (bool, np.bool_)):
        raise PhotozValueError("raw_too", "must be True or False", raw_too)
    ancil = ens.ancil or {}
    if z_true is None and "z_true" not in ancil:
        raise PhotozValueError("z_true", "must be given: the ensemble holds no ancillary z_true")
    z = _check_truths("z_true", ancil["z_true"] if z_true is None else z_true, ens.npdf,
                      MIN_GALAXIES)
    if "width_scale" not in ancil:
        return _score_pdfs(ens, z)
    scales = check_array("width_scale", ancil["width_scale"], low=0.0, low_open=True)
    if scales.size == 0:
        raise PhotozValueError("width_scale", "must hold the width factor of the calibration")
    scale = float(scales.ravel()[0])
    raw_ens = _raw_ensemble(ens, z, scale) if raw_too else None
    out = _score_pdfs(ens, z)
    out["width_scale"] = scale
    if raw_ens is not None:
        out.update({f"{k}_raw": v for k, v in _score_pdfs(raw_ens, z).items()})
    return out


def _raw_ensemble(ens, z: np.ndarray, scale: float):
    """The p(z) of a network's file before calibration: its mixture with the widths divided by
    ``scale``, as the file's representation (mixmod, or truncated and gridded)."""
    import qp

    w, mu, sig = _file_mixture(ens)
    try:
        w, mu, raw_sig = check_mixture(w, mu, sig / scale)
    except PhotozValueError as exc:
        raise PhotozValueError("width_scale", f"must leave valid raw widths ({exc})",
                               scale) from None
    if "means" in ens.objdata:  # an untruncated mixmod (a member's, or an older file)
        return qp.Ensemble(qp.mixmod, data={"weights": w, "means": mu, "stds": raw_sig})
    ids = (ens.ancil or {}).get("object_id", np.arange(len(z)))
    return make_ensemble(w, mu, raw_sig, ids, z, 1.0)


def score_file(path, object_id: np.ndarray, z_true: np.ndarray) -> dict:
    """:func:`score_ensemble` of the given galaxies of any method's p(z) file.

    The file's rows are matched to ``object_id`` by its ancillary ``object_id`` (a network's file
    holds the test galaxies, a RAIL peer's every selected one, in its own order); the true
    redshifts are the caller's (the predictions table's).

    Parameters
    ----------
    path : path-like
        A qp file (``results/pdfs/<net>.hdf5``, ``results/peers/<peer>_pz.hdf5``) with its digest
        (:func:`photoz.products.train.read_qp`).
    object_id : ndarray, shape (n,), int
    z_true : ndarray, shape (n,)
        As in :func:`score_pdfs`.

    Returns
    -------
    dict
        As :func:`score_ensemble`.

    Raises
    ------
    PhotozValueError
        Naming the argument: ``path`` not a path, ``object_id`` not integers of shape (n,),
        ``z_true`` as in :func:`score_pdfs`.
    PhotozDataError
        If the file is missing, unreadable, corrupt (its digest), holds p(z) that cannot be
        scored, has no ``object_id`` per p(z) or lacks one of the galaxies.
    """
    if not isinstance(path, (str, os.PathLike)):
        raise PhotozValueError("path", "must be a path (str or os.PathLike)", type(path).__name__)
    wanted = check_array("object_id", object_id, shape=(None,))
    if wanted.dtype.kind not in "iu":
        raise PhotozValueError("object_id", "must be integers", str(wanted.dtype))
    z = _check_truths("z_true", z_true, wanted.size, MIN_GALAXIES)
    ens = read_qp(path)
    ids = np.asarray((ens.ancil or {}).get("object_id", []), dtype=np.int64).ravel()
    if len(ids) != ens.npdf:
        raise PhotozDataError(f"p(z) file {path}: no ancillary object_id per p(z); rerun the "
                              "job that writes it")
    wanted = np.asarray(wanted, dtype=np.int64)
    missing = ~np.isin(wanted, ids)
    if missing.any():
        raise PhotozDataError(f"p(z) file {path}: no p(z) for test galaxy object_id "
                              f"{wanted[missing][0]} ({int(missing.sum())} missing); rerun the "
                              "job that writes it")
    order = np.argsort(ids, kind="stable")
    rows = order[np.searchsorted(ids, wanted, sorter=order)]
    sub = ens if np.array_equal(rows, np.arange(ens.npdf)) else ens[rows]
    try:
        return score_ensemble(sub, z)
    except PhotozValueError as exc:  # z_true is checked above: the file's content is at fault
        raise PhotozDataError(f"p(z) file {path}: cannot be scored ({exc}); rerun the job that "
                              "writes it") from None
