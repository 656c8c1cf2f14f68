"""The MLP's 20 input features (Zhou et al. 2022, Sect. 3, eq. 7).

One function builds the features for training and for prediction, so the two can never differ.
This is our own code because the features are the paper's science (eq. 7), not a library's.
"""

from __future__ import annotations

import numpy as np

from photoz import BANDS
from photoz.errors import PhotozValueError, check_array, float_array

N_FEATURES = 20
"""7 scaled fluxes + 6 adjacent-band flux ratios + 7 relative errors (paper eq. 7)."""

FEATURE_NAMES: tuple[str, ...] = (
    tuple(f"f(flux_{b}/flux_lim_{b})" for b in BANDS)
    + tuple(f"f(flux_{b1}/flux_{b2})" for b1, b2 in zip(BANDS[:-1], BANDS[1:], strict=True))
    + tuple(f"f(|flux_err_{b}/flux_{b}|)" for b in BANDS)
)
"""Names of the 20 columns returned by :func:`flux_features`, in order."""




def signed_log10(x: np.ndarray) -> np.ndarray:
    """The paper's f(x): log10(x) for x > 0 and -log10(-x) otherwise (eq. 7).

    Zero maps to 0 rather than infinity (the paper is silent; a zero flux is measure-zero for
    real photometry and would otherwise poison a batch).

    Parameters
    ----------
    x : ndarray, any shape

    Returns
    -------
    ndarray, same shape, float64
        NaN stays NaN and +-inf gives +-inf, as ``log10`` does.

    Raises
    ------
    PhotozValueError
        If ``x`` is not an array of numbers.
    """
    check_array("x", x, finite=False)
    x = np.asarray(x, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.where(x > 0, np.log10(np.abs(x)), -np.log10(np.abs(x)))
    return np.where(x == 0, 0.0, out)


def flux_features(flux: np.ndarray, flux_err: np.ndarray, limiting_flux: np.ndarray) -> np.ndarray:
    """The 20 MLP inputs of paper eq. 7.

    Parameters
    ----------
    flux : ndarray, shape (n_gal, 7), electrons
        Aperture fluxes F_j in NUV u g r i z y; negative values allowed.
    flux_err : ndarray, shape (n_gal, 7), electrons
        Their 1-sigma errors sigma_j.
    limiting_flux : ndarray, shape (7,), electrons
        F_lim,j, the flux of a source at the band's 5-sigma limiting magnitude
        (:meth:`photoz.instrument.Instrument.limiting_flux`).

    Returns
    -------
    ndarray, shape (n_gal, 20), float32
        Columns 0-6: f(F_j / F_lim,j); 7-12: f(F_j / F_j+1) for adjacent bands;
        13-19: f(|sigma_j / F_j|), with f the :func:`signed_log10` of eq. 7
        (names in :data:`FEATURE_NAMES`). Non-finite values, which only a zero or NaN flux can
        give, become +-10 (infinities) and 0 (NaN); the photometry stage never selects a
        galaxy with a NaN flux.

    Raises
    ------
    PhotozValueError
        Naming the argument: ``flux`` not of shape (n_gal, 7) or holding +-inf; ``flux_err``
        not of ``flux``'s shape, negative or +-inf; ``limiting_flux`` not of shape (7,) or not
        finite and > 0; any of them not numeric. NaN fluxes and errors (not measured) are
        allowed.
    """
    nb = len(BANDS)
    flux = float_array("flux", flux)
    flux_err = float_array("flux_err", flux_err)
    limiting_flux = float_array("limiting_flux", limiting_flux)
    if flux.ndim != 2 or flux.shape[1] != nb:
        raise PhotozValueError("flux", f"must have shape (n_gal, {nb})", flux.shape)
    if flux_err.shape != flux.shape:
        raise PhotozValueError("flux_err", f"must have the shape of flux (n_gal, {nb}) = "
                               f"{flux.shape}", flux_err.shape)
    if limiting_flux.shape != (nb,):
        raise PhotozValueError("limiting_flux", f"must have shape ({nb},), one value per band of "
                               f"flux (n_gal, {nb})", limiting_flux.shape)
    if not np.all(np.isfinite(limiting_flux) & (limiting_flux > 0)):
        raise PhotozValueError("limiting_flux", "must be finite and > 0 in every band",
                               limiting_flux.tolist())
    if np.any(np.isinf(flux)):
        raise PhotozValueError("flux", "must be finite (or NaN where not measured); holds +-inf")
    with np.errstate(invalid="ignore"):
        if np.any(np.isinf(flux_err) | (flux_err < 0)):
            raise PhotozValueError("flux_err", "must be finite and >= 0 (or NaN where not "
                                   "measured); holds a negative value or +-inf")
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        scaled = flux / limiting_flux
        ratio = flux[:, :-1] / flux[:, 1:]
        rel_err = np.abs(flux_err / flux)
    feats = np.concatenate([signed_log10(scaled), signed_log10(ratio), signed_log10(rel_err)], axis=1)
    # A zero flux gives an infinite ratio or relative error; clip to the float32-safe range.
    feats = np.nan_to_num(feats, nan=0.0, posinf=10.0, neginf=-10.0)
    return feats.astype(np.float32)




