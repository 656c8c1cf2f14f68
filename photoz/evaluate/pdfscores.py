"""Scores of a p(z) file: PIT statistics, coverage of the central intervals, CRPS.

PIT, its KS / CvM / AD statistics and outlier rate come from :class:`qp.metrics.pit.PIT` (the code
RAIL's evaluation stages call); the coverage of the central 68% and 95% intervals is the fraction of
PIT values inside [0.16, 0.84] and [0.025, 0.975]; the CRPS is the closed form for a Gaussian
mixture (:func:`photoz.mixture.crps_mixture`).
"""

from __future__ import annotations

import logging

import numpy as np

from photoz.errors import PhotozValueError, check_array
from photoz.mixture import check_mixture, crps_mixture, mixture_cdf, mixture_nll_np
from photoz.products.train import ensemble_arrays

log = logging.getLogger(__name__)

#: Central intervals scored: 68% and 95% (PIT between (1 -/+ c) / 2).
COVERAGES = (0.68, 0.95)
#: Fewest galaxies a p(z) is scored on: qp's PIT (its quantile interpolation) fails for 1 or 2.
MIN_GALAXIES = 3


def score_arrays(z: np.ndarray, w: np.ndarray, mu: np.ndarray, sig: np.ndarray) -> dict:
    """Scores of the mixtures at the true ``z``: see :func:`score_ensemble`.

    Parameters
    ----------
    z : ndarray, shape (n,)
        True redshifts (finite), n >= :data:`MIN_GALAXIES`.
    w, mu, sig : ndarray, shape (n, K)
        The mixtures (:func:`photoz.mixture.check_mixture`).

    Returns
    -------
    dict
        As :func:`score_ensemble` without ``width_scale``. Where qp cannot compute the PIT
        statistics (every PIT value 0 or 1: every true z far outside its p(z)), ``pit_ks``,
        ``pit_cvm``, ``pit_ad`` and ``pit_outlier_rate`` are NaN (``null`` in summary.json),
        with a warning; the coverages then come from the mixtures' CDF.

    Raises
    ------
    PhotozValueError
        Naming the argument: ``z`` not finite, not of shape (n,) or with fewer than
        :data:`MIN_GALAXIES` galaxies (qp's PIT needs them), or as
        :func:`photoz.mixture.check_mixture`.
    """
    import qp
    from qp.metrics.pit import PIT

    w, mu, sig = check_mixture(w, mu, sig)
    z = check_array("z", z, shape=(w.shape[0],))
    if z.size < MIN_GALAXIES:
        raise PhotozValueError("z", f"must hold at least {MIN_GALAXIES} galaxies to score "
                               "(qp's PIT statistics need them)", z.size)
    ens = qp.Ensemble(qp.mixmod, data={"weights": w, "means": mu, "stds": sig})
    out = {"crps": float(crps_mixture(z, w, mu, sig).mean())}
    try:
        pit = PIT(ens, z)
        samples = np.asarray(pit.pit_samps, dtype=np.float64)
        meta = pit.calculate_pit_meta_metrics()
        out.update({"pit_ks": float(meta["ks"].statistic),
                    "pit_cvm": float(meta["cvm"].statistic),
                    "pit_ad": float(meta["ad"].statistic),
                    "pit_outlier_rate": float(meta["outlier_rate"])})
    except (ValueError, IndexError, TypeError) as exc:  # qp on a degenerate PIT distribution
        log.warning("PIT statistics undefined for these %d galaxies (qp: %s): reported as NaN",
                    z.size, exc)
        samples = mixture_cdf(z, w, mu, sig)
        out.update(dict.fromkeys(("pit_ks", "pit_cvm", "pit_ad", "pit_outlier_rate"), np.nan))
    for c in COVERAGES:
        lo, hi = (1 - c) / 2, (1 + c) / 2
        out[f"coverage_{round(100 * c)}"] = float(((samples >= lo) & (samples <= hi)).mean())
    out["nll"] = mixture_nll_np(z, w, mu, sig)
    return out


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

    Raises
    ------
    PhotozValueError
        Naming the argument: ``ens`` not a qp mixmod ensemble (weights, means, stds) with an
        ancillary ``z_true`` (or ``z_true`` given), ``z_true`` as :func:`score_arrays`, an
        ancillary ``width_scale`` that is not a finite number > 0, or ``raw_too`` not a bool.
    """
    objdata, ancil = getattr(ens, "objdata", None), getattr(ens, "ancil", None)
    if not isinstance(objdata, dict) or not {"weights", "means", "stds"} <= set(objdata):
        raise PhotozValueError("ens", "must be a qp mixmod ensemble (weights, means, stds)",
                               type(ens).__name__)
    if z_true is None and (ancil is None or "z_true" not in ancil):
        raise PhotozValueError("z_true", "must be given: the ensemble has no ancillary z_true")
    if not isinstance(raw_too, (bool, np.bool_)):
        raise PhotozValueError("raw_too", "must be True or False", raw_too)
    check_mixture(objdata["weights"], objdata["means"], objdata["stds"])
    w, mu, sig = ensemble_arrays(ens)
    z = np.asarray(check_array("z_true", ancil["z_true"] if z_true is None else z_true,
                               shape=(len(w),)), dtype=np.float64)
    out = score_arrays(z, w, mu, sig)
    scales = check_array("width_scale", (ancil or {}).get("width_scale", [1.0]), low=0.0,
                         low_open=True)
    if scales.size == 0:
        raise PhotozValueError("width_scale", "must hold the width factor of the calibration")
    scale = float(scales.ravel()[0])
    out["width_scale"] = scale
    if raw_too:
        out.update({f"{k}_raw": v for k, v in score_arrays(z, w, mu, sig / scale).items()})
    return out
