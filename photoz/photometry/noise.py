"""The aperture flux error model and the signal-to-noise ratio (Zhou et al. 2022, eq. 6).

The photometry stage gives every measured flux its error with :func:`aperture_flux_error`, selects
galaxies by :func:`snr`, and the training stage recomputes the error of each augmented flux
realisation with the same function, so the two can never differ. Our own code because the noise
model is the paper's (eqs. 4 and 6), not a library's.
"""

from __future__ import annotations

import numpy as np

from photoz.errors import PhotozValueError, check_array, check_number

#: Largest aperture area, background, read noise and number of exposures
#: :func:`aperture_flux_error` accepts (far beyond any instrument; their products stay finite).
MAX_NOISE_INPUT = 1e50
#: Largest |flux| (electrons) it accepts, so that the variance stays finite in float64.
MAX_FLUX = 1e300


def aperture_flux_error(flux: np.ndarray, npix: np.ndarray, background_per_pixel: np.ndarray,
                        read_noise: float, n_exposures: np.ndarray) -> np.ndarray:
    """1-sigma error of an aperture flux: the denominator of paper eq. 6.

    sigma^2 = max(F, 0) + N_pix (B_sky + B_dark) t_exp N_exp + R_n^2 N_exp N_pix.

    Parameters
    ----------
    flux : ndarray, shape (n_gal, 7), electrons
        Aperture flux F (negative values contribute no source shot noise).
    npix : ndarray, shape (n_gal,) or (n_gal, 1), pixels
        Aperture area N_pix.
    background_per_pixel : ndarray, shape (7,), electrons
        (B_sky + B_dark) t_exp N_exp (:meth:`Instrument.background_per_pixel`).
    read_noise : float, electrons per pixel per exposure
    n_exposures : ndarray, shape (7,)

    Returns
    -------
    ndarray, shape (n_gal, 7), electrons
        NaN where ``flux`` is NaN (not measured).

    Raises
    ------
    PhotozValueError
        Naming the argument: ``flux`` not of shape (n_gal, n_band), holding +-inf or beyond
        +-:data:`MAX_FLUX`; ``npix`` not of shape (n_gal,) or (n_gal, 1); ``npix``,
        ``background_per_pixel``, ``n_exposures`` (shape (n_band,)) or ``read_noise`` not
        finite, negative or beyond :data:`MAX_NOISE_INPUT`.

    Notes
    -----
    With N_bkg^2 = (B_sky + B_dark) t_exp N_exp + R_n^2 N_exp (eq. 4) this is
    sqrt(max(F, 0) + N_pix N_bkg^2): for F = 0 and N_pix = 1 it gives the paper's
    10.65, 7.84, 9.93, 10.59, 10.59, 9.56, 11.53 e-. It assumes uncorrelated pixel noise and
    counts each aperture pixel fully; the exact-overlap sum weights edge pixels by their
    overlap o < 1, whose noise is o^2 sigma^2, so it overestimates the error by about 1-3 %
    for apertures of ~100 pixels (tests/test_photometry.py).
    """
    n, nb = check_array("flux", flux, shape=(None, None), allow_nan=True, low=-MAX_FLUX,
                        high=MAX_FLUX).shape
    limit = {"low": 0.0, "high": MAX_NOISE_INPUT}
    if check_array("npix", npix, **limit).shape not in ((n,), (n, 1)):
        raise PhotozValueError("npix", f"must have shape (n_gal,) = ({n},) or ({n}, 1)",
                               np.shape(npix))
    check_array("background_per_pixel", background_per_pixel, shape=(nb,), **limit)
    check_array("n_exposures", n_exposures, shape=(nb,), **limit)
    check_number("read_noise", read_noise, **limit)
    flux = np.asarray(flux, dtype=float)
    npix = np.asarray(npix, dtype=float).reshape(-1, 1)
    var = (np.clip(flux, 0.0, None) + npix * np.asarray(background_per_pixel)
           + read_noise**2 * np.asarray(n_exposures, dtype=float) * npix)
    return np.sqrt(var)


def snr(flux: np.ndarray, flux_err: np.ndarray) -> np.ndarray:
    """Signal-to-noise ratio F / sigma (paper eq. 6 when ``flux_err`` is :func:`aperture_flux_error`).

    Parameters
    ----------
    flux, flux_err : ndarray, same shape (or broadcastable), electrons
        NaN where not measured (the ratio is then NaN).

    Returns
    -------
    ndarray, the broadcast shape

    Raises
    ------
    PhotozValueError
        Naming the argument: not numbers, +-inf, shapes that do not broadcast, or a
        ``flux_err`` <= 0 (``snr(flux, 0)`` was +-inf).
    """
    shape = check_array("flux", flux, allow_nan=True).shape
    err = check_array("flux_err", flux_err, allow_nan=True, low=0.0, low_open=True)
    try:
        np.broadcast_shapes(shape, err.shape)
    except ValueError:
        raise PhotozValueError("flux_err", f"must have the shape of flux {shape}",
                               err.shape) from None
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        out = np.asarray(flux, dtype=float) / np.asarray(flux_err, dtype=float)
    if np.any(np.isinf(out)):
        raise PhotozValueError("flux_err", "too small for its flux: the ratio overflows")
    return out
