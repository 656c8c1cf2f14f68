"""Scores of a p(z) file: PIT statistics, coverage of the central intervals, CRPS.

PIT, its KS / CvM / AD statistics and outlier rate come from :class:`qp.metrics.pit.PIT` (the code
RAIL's evaluation stages call); the coverage of the central 68% and 95% intervals is the fraction of
PIT values inside [0.16, 0.84] and [0.025, 0.975]; the CRPS is the closed form for a Gaussian
mixture (:func:`photoz.mixture.crps_mixture`).
"""

from __future__ import annotations

import numpy as np

from photoz.mixture import crps_mixture, mixture_nll_np
from photoz.products.train import ensemble_arrays

#: Central intervals scored: 68% and 95% (PIT between (1 -/+ c) / 2).
COVERAGES = (0.68, 0.95)


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
