"""Matched-filter (Gaussian-weighted) fluxes, forced in all seven bands: colours at higher S/N.

The 1 x Kron aperture of the paper is a top-hat holding about 55% of the light; colours want the
highest S/N per band, which a weight shaped like the galaxy gives (the matched filter). As
KiDS's GAaP (Gaussian Aperture and PSF; Kuijken 2008, A&A 482, 1053; Kuijken et al. 2015,
MNRAS 454, 3500) the weight is an elliptical Gaussian, here matched to the galaxy's detection
ellipse; as in optimal extraction (Horne 1986, PASP 98, 609; Naylor 1998, MNRAS 296, 339) the
flux is the weighted sum scaled so that its noise follows from the weights.

Per galaxy, with the detection ellipse of :func:`photoz.photometry.kron.measure_stamps` (centroid
x, y; sep's second-moment semi-axes a, b and angle theta, pixels), the weight is

    W(p) = exp(-q / 2),   q = (u / (s a'))^2 + (v / (s b'))^2,

u, v the pixel-centre offsets from (x, y) along the major and minor axes, s =
:data:`MATCHED_SCALE`, and a' = max(a, m), b' = max(b, m) with the floor m =
:data:`MIN_SIGMA_PIXELS` (a point source's weight is no narrower than a pixel). The same W, on
the same pixels, is applied in all seven bands (forced photometry), and

    F = k sum_p W I,   k = sum W^2 / sum W^3,   N_eff = (sum W^2)^3 / (sum W^3)^2.

Noise: for uncorrelated pixels of variance N_bkg^2 (paper eq. 4) plus the source's Poisson
variance S(p), Var F = k^2 sum W^2 (N_bkg^2 + S). The normalisation k makes this exactly the
paper's eq. 6 denominator with N_pix = N_eff when the profile follows the weight (S = c W):
Var F = F + N_eff N_bkg^2 (then E F = k c sum W^2 and the source term k^2 c sum W^3 = E F,
since k sum W^3 = sum W^2). The error is therefore :func:`photoz.photometry.noise.aperture_flux_error` with
``npix = N_eff``, and the MLP's flux augmentation (:func:`photoz.train.augment.flux_realisations`)
recomputes it with the same formula. The background term is exact for any profile; the source
term is exact for a profile shaped like the weight and lies between 0.75 F (a flat profile) and
1.5 F (a point source) otherwise (well-sampled Gaussian weight): it matters only where the
source dominates the noise. For a well-sampled circular Gaussian weight of sigma s_w,
sum W = 2 pi s_w^2, sum W^2 = pi s_w^2, sum W^3 = 2 pi s_w^2 / 3, so k = 3/2 and N_eff =
9 pi s_w^2 / 4; a Gaussian galaxy of flux F_tot and sigma s_g gives F = 1.5 F_tot s_w^2 /
(s_w^2 + s_g^2) (0.75 F_tot when matched).

The weight is centred and shaped by the noisy detection image, so, like the Kron aperture, its
size follows the noise: single-band fluxes scatter somewhat more than the stated error, while
colours (the same weight in every band) scatter as stated (tests/test_photometry.py, on
noise realisations of analytic profiles).

PSFs: the default run's PSF is the same in every band (``simulate.psf: gaussian``), so one
weight in all bands measures the same part of every band's light and the colours are unbiased.
With per-band PSFs (``simulate.psf: images``) the weight is not PSF-matched: colours of small
galaxies then carry the PSF's colour term, as the paper's Kron fluxes do, and the networks learn
it from the simulated training set, which has the same PSFs. For Gaussian PSFs of sigma p_j,
GAaP's correction is the weight covariance C + (p_max^2 - p_j^2) I in band j, rescaled by
sqrt(|C + p_max^2 I| / |C_j|) (Kuijken 2008, Sect. 2): not implemented here.

Speed: the weight is evaluated once per galaxy (not per band) on a square window around the
stamp centre just large enough to hold 4 s a' around the centroid, galaxies grouped by window
size; the seven band sums are one matrix product per group. Measured
(``python -m photoz benchmark photometry``, 4,000 64x64 stamps, machine shared by five
sessions): 53,000-85,000 galaxy-bands/s alone, 4.5-7x the rate of the Kron measurement of the
same stamps in the same run, so Kron + matched takes 15-22% longer than Kron alone (24,100
galaxy-bands per CPU-second against 29,700).
"""

from __future__ import annotations

import numpy as np

from photoz.errors import PhotozValueError, check_array, check_choice, check_number
from photoz.products.photometry import MATCHED_SHAPE_COLUMNS, MATCHED_TEMPLATES

#: Weight sigma in units of the detection ellipse's second-moment semi-axes (a, b). For a
#: Gaussian galaxy the matched filter (highest S/N) has s = 1 in the true moments; sep's
#: isophotal moments underestimate them for faint galaxies. Measured on the default run's shard
#: 0 (1,825 selected galaxies): the NMAD of measured minus catalogue adjacent-band colours
#: (NUV-u ... z-y, mag) is lowest for s = 1.0-1.25; s = 1.25 gives 0.700 0.359 0.076 0.047
#: 0.044 0.067 against 0.758 0.387 0.082 0.050 0.047 0.073 for 1 x Kron (s = 0.75: 0.722 ...
#: 0.074; s = 2: 0.818 ... 0.072). The weight then holds a median 67% of the i-band flux.
#: Re-measured on the whole default run (issue 17; 16,096 selected, 4,005 test galaxies): the
#: median S/N over 1 x Kron is 1.10 (s = 1), 1.14 (1.25), 1.14 (1.5), 1.10 (2) in i, and an
#: adaptive-moment Gaussian (sigma^2 = the detection image's adaptive second moments) or a
#: per-galaxy S/N-maximising s gives no more (1.13-1.14): the S/N is at its plateau. A random
#: forest on the eq. 7 features (mean of 3 forest seeds) gives sigma_NMAD 0.0321 (s = 1.25),
#: 0.0327 (1.5), 0.0321 (adaptive) against 0.0356 for Kron; the point MLP, seed 2022: 0.0304
#: (1.25), 0.0308 (1.5), 0.0309 (adaptive). No weight reached issue 17's 10% below Kron; 1.25
#: stays (docs/science.md, "Matched-filter fluxes").
MATCHED_SCALE = 1.25
#: Floor on the weight's sigma, pixels (about the default Gaussian PSF's sigma of 1.1 pixels:
#: R80 = 0.15" at 0.074"/pixel).
MIN_SIGMA_PIXELS = 1.0
#: Half width of the weight's window in weight sigmas along the major axis (W = exp(-8) there).
WINDOW_SIGMAS = 4.0
#: Window sizes (pixels) galaxies are grouped into; larger windows are the whole stamp.
_WINDOWS = (9, 13, 17, 25, 33, 49)
#: Smallest ``min_sigma`` :func:`matched_fluxes` accepts, pixels: with a centre inside the stamp
#: the nearest pixel centre is then within 5 sigma, so the weight never vanishes on every pixel.
MIN_SIGMA_FLOOR = 0.15
#: Largest ``a``, ``b``, ``scale`` and ``min_sigma`` it accepts (pixels; far beyond any stamp).
MAX_SIGMA_PIXELS = 1e8


def _windows_for(x, y, sa, h, w):
    """Odd window size centred on the stamp centre that holds the weight of each galaxy."""
    cx, cy = (w - 1) / 2.0, (h - 1) / 2.0
    half = np.ceil(np.maximum(np.abs(x - cx), np.abs(y - cy)) + WINDOW_SIGMAS * sa)
    need = 2 * half + 1
    out = np.full(len(x), 0, dtype=int)  # 0: the whole stamp
    for size in reversed(_WINDOWS):
        out[(need <= size) & (size <= min(h, w))] = size
    return out


def _checked_inputs(images, x, y, a, b, theta, scale, min_sigma):
    """:func:`matched_fluxes`'s ``images`` (float32) and ellipse arrays (float64), checked.

    Raises
    ------
    PhotozValueError
        As :func:`matched_fluxes`.
    """
    check_array("images", images)
    with np.errstate(over="ignore"):
        images = np.asarray(images, dtype=np.float32)
    if images.ndim != 4 or 0 in images.shape[1:]:
        raise PhotozValueError("images", "must have shape (n_gal, n_band, H, W) with H, W >= 1",
                               images.shape)
    if not np.all(np.isfinite(images)):
        raise PhotozValueError("images", "pixels must be finite (within the float32 range)")
    n, _, h, w = images.shape
    arrs = []
    for name, v in (("x", x), ("y", y), ("a", a), ("b", b), ("theta", theta)):
        v = np.asarray(check_array(name, v, shape=(n,)), dtype=float)
        arrs.append(v)
    x, y, a, b, theta = arrs
    # The weight's centre inside the stamp (its pixel centres span -0.5 ... W - 0.5): a centre
    # far outside gave a weight of 0 on every pixel and a NaN flux.
    check_array("x", x, low=-0.5, high=w - 0.5)
    check_array("y", y, low=-0.5, high=h - 0.5)
    check_array("a", a, low=0.0, low_open=True, high=MAX_SIGMA_PIXELS)
    check_array("b", b, low=0.0, low_open=True, high=MAX_SIGMA_PIXELS)
    check_number("scale", scale, low=0.0, low_open=True, high=MAX_SIGMA_PIXELS)
    check_number("min_sigma", min_sigma, low=MIN_SIGMA_FLOOR, high=MAX_SIGMA_PIXELS)
    return images, x, y, a, b, theta


def _window_fluxes(images: np.ndarray, sel: np.ndarray, size: int, x, y, qa, qb,
                   qc) -> tuple[np.ndarray, np.ndarray]:
    """``flux`` (m, n_band) and ``npix`` (m,) of galaxies ``sel``, weights on one window.

    ``size`` is the side of the window centred on the stamp centre (0: the whole stamp);
    ``qa``, ``qb``, ``qc`` the weight's quadratic form (all galaxies). The weight is evaluated
    in float32, its sums W^2, W^3 accumulated in float64.
    """
    nb, h, w = images.shape[1:]
    if size == 0:
        r0, c0, hh, ww = 0, 0, h, w
    else:
        r0, c0, hh, ww = (h - size) // 2, (w - size) // 2, size, size
    cut = images[sel, :, r0:r0 + hh, c0:c0 + ww].reshape(len(sel), nb, hh * ww)
    dx = (np.arange(c0, c0 + ww, dtype=np.float32)[None, None, :]
          - x[sel, None, None].astype(np.float32))
    dy = (np.arange(r0, r0 + hh, dtype=np.float32)[None, :, None]
          - y[sel, None, None].astype(np.float32))
    q = (qa[sel, None, None].astype(np.float32) * dx * dx
         + (2.0 * qb[sel, None, None]).astype(np.float32) * dx * dy
         + qc[sel, None, None].astype(np.float32) * dy * dy)
    wgt = np.exp(-0.5 * q).reshape(len(sel), hh * ww)
    w2 = np.einsum("ij,ij->i", wgt, wgt, dtype=np.float64)
    w3 = np.einsum("ij,ij,ij->i", wgt, wgt, wgt, dtype=np.float64)
    sums = np.matmul(cut, wgt[:, :, None])[..., 0].astype(np.float64)  # (m, nb)
    k = w2 / w3
    return k[:, None] * sums, w2**3 / w3**2


def matched_fluxes(images: np.ndarray, x, y, a, b, theta, scale: float = MATCHED_SCALE,
                   min_sigma: float = MIN_SIGMA_PIXELS) -> dict[str, np.ndarray]:
    """Gaussian-weighted (matched-filter) fluxes of seven-band stamps, one weight per galaxy.

    Parameters
    ----------
    images : ndarray, shape (n_gal, n_band, H, W), electrons
        Background-subtracted stamps (finite).
    x, y : ndarray, shape (n_gal,), pixels
        Weight centre (0 = centre of the first pixel; x along the second axis).
    a, b : ndarray, shape (n_gal,), pixels
        Second-moment semi-axes of the detection ellipse, a >= b > 0.
    theta : ndarray, shape (n_gal,), radians
        Angle of the major axis from +x.
    scale : float
        Weight sigma in units of a and b (:data:`MATCHED_SCALE`).
    min_sigma : float, pixels
        Floor on the weight's sigmas (:data:`MIN_SIGMA_PIXELS`).

    Returns
    -------
    dict of ndarray
        ``flux`` (n_gal, n_band) electrons, F = k sum W I (negative values kept); ``npix``
        (n_gal,) the effective area N_eff = (sum W^2)^3 / (sum W^3)^2, pixels, for which
        :func:`photoz.photometry.noise.aperture_flux_error` gives the error; ``sigma_a``,
        ``sigma_b`` (n_gal,) the weight's sigmas, pixels.

    Raises
    ------
    PhotozValueError
        Naming the argument: ``images`` not numbers, not of shape (n_gal, n_band, H, W) or with a
        pixel not finite in float32; an ellipse array not of shape (n_gal,) or not finite;
        ``x``, ``y`` outside the stamp (-0.5 to W - 0.5, H - 0.5); ``a``, ``b``, ``scale`` not in
        (0, :data:`MAX_SIGMA_PIXELS`]; ``min_sigma`` not in [:data:`MIN_SIGMA_FLOOR`,
        :data:`MAX_SIGMA_PIXELS`]; or pixels so large that a weighted sum overflows float32.

    Notes
    -----
    Formula and sources in the module docstring (Kuijken 2008; Horne 1986; Naylor 1998).
    """
    images, x, y, a, b, theta = _checked_inputs(images, x, y, a, b, theta, scale, min_sigma)
    n, nb, h, w = images.shape
    sa = np.maximum(scale * a, min_sigma)
    sb = np.maximum(scale * b, min_sigma)
    out = {"flux": np.full((n, nb), np.nan), "npix": np.full(n, np.nan),
           "sigma_a": sa, "sigma_b": sb}
    if n == 0:
        return out
    cos, sin = np.cos(theta), np.sin(theta)
    # q = A dx^2 + 2 B dx dy + C dy^2 (inverse covariance of the rotated ellipse).
    qa = (cos / sa) ** 2 + (sin / sb) ** 2
    qb = cos * sin * (1.0 / sa**2 - 1.0 / sb**2)
    qc = (sin / sa) ** 2 + (cos / sb) ** 2
    win = _windows_for(x, y, sa, h, w)
    for size in np.unique(win):
        sel = np.flatnonzero(win == size)
        out["flux"][sel], out["npix"][sel] = _window_fluxes(images, sel, size, x, y, qa, qb, qc)
    if not (np.all(np.isfinite(out["flux"])) and np.all(np.isfinite(out["npix"]))):
        raise PhotozValueError("images", "pixels too large: a weighted sum overflows float32")
    return out


# --------------------------------------------------------------------------------------------
# Table columns (docs/outputs.md §3)
# --------------------------------------------------------------------------------------------

#: RAIL-style name templates (``<quantity>_<band>_<survey>``, as RAIL's ``mag_{band}_lsst``) of


def _check_bands(bands) -> list[str]:
    """``bands`` as a list of band names (strings), or :class:`PhotozValueError`."""
    if isinstance(bands, (str, bytes)) or not isinstance(bands, (list, tuple)) or \
            not all(isinstance(bd, str) and bd for bd in bands):
        raise PhotozValueError("bands", "must be a list of band names", bands)
    return list(bands)


def matched_columns(bands) -> list[str]:
    """Names of the matched-filter columns, in table order, for ``bands``.

    Raises
    ------
    PhotozValueError
        If ``bands`` is not a list or tuple of non-empty strings.
    """
    bands = _check_bands(bands)
    cols = [tpl.format(band=bd) for tpl in MATCHED_TEMPLATES.values() for bd in bands]
    return cols + list(MATCHED_SHAPE_COLUMNS)


def matched_table(flux: np.ndarray, npix: np.ndarray, sigma_a: np.ndarray, sigma_b: np.ndarray,
                  instrument, bands) -> dict[str, np.ndarray]:
    """The matched-filter columns of the photometry table.

    Parameters
    ----------
    flux : ndarray, shape (n_gal, 7), electrons
        :func:`matched_fluxes` ``flux`` (NaN where not measured).
    npix, sigma_a, sigma_b : ndarray, shape (n_gal,), pixels
        N_eff and the weight's sigmas.
    instrument : photoz.instrument.Instrument
        Eq. 4 noise (errors) and zero points (AB magnitudes).
    bands : sequence of str

    Returns
    -------
    dict of str to ndarray, shape (n_gal,)
        The columns of :func:`matched_columns`. Errors: paper eq. 6 denominator with N_pix =
        N_eff (module docstring); mag_err = 2.5 / ln 10 sigma / F; magnitudes NaN for F <= 0.

    Raises
    ------
    PhotozValueError
        Naming the argument: ``instrument`` not an :class:`~photoz.instrument.Instrument`;
        ``bands`` as :func:`matched_columns`; ``flux`` not of shape
        (n_gal, len(bands)) or holding +-inf; ``npix``, ``sigma_a``, ``sigma_b`` not of shape
        (n_gal,), or ``npix`` not > 0 where measured (NaN: not measured).
    """
    from photoz.instrument import Instrument
    from photoz.photometry.noise import aperture_flux_error, snr

    if not isinstance(instrument, Instrument):
        raise PhotozValueError("instrument", "must be a photoz.instrument.Instrument",
                               type(instrument).__name__)
    bands = _check_bands(bands)
    n = check_array("flux", flux, shape=(None, len(bands)), allow_nan=True).shape[0]
    check_array("npix", npix, shape=(n,), allow_nan=True, low=0.0, low_open=True)
    check_array("sigma_a", sigma_a, shape=(n,), allow_nan=True)
    check_array("sigma_b", sigma_b, shape=(n,), allow_nan=True)

    ok = np.isfinite(npix)
    err = np.full_like(flux, np.nan)
    err[ok] = aperture_flux_error(flux[ok], npix[ok], instrument.background_per_pixel(),
                                  instrument.read_noise, np.asarray(instrument.n_exposures))
    mag = instrument.electrons_to_mag(flux)
    with np.errstate(divide="ignore", invalid="ignore"):
        mag_err = np.where(flux > 0, 2.5 / np.log(10.0) * err / flux, np.nan)
    out = {}
    for key, arr in (("flux", flux), ("flux_err", err), ("mag", mag), ("mag_err", mag_err),
                     ("snr", snr(flux, err))):
        for j, bd in enumerate(bands):
            out[MATCHED_TEMPLATES[key].format(band=bd)] = arr[:, j]
    for name, arr in zip(MATCHED_SHAPE_COLUMNS, (npix, sigma_a, sigma_b), strict=True):
        out[name] = arr
    return out


def network_flux_columns(flux_type: str, bands) -> tuple[list[str], list[str], str]:
    """Flux, error and area columns the networks read for ``photometry.flux_type``.

    Returns
    -------
    flux_cols, err_cols : list of str
        ``flux_<b>``, ``flux_err_<b>`` (``kron``) or the matched-filter columns (``matched``).
    npix_col : str
        ``npix`` or ``npix_matched`` (the N_pix of the eq. 6 error in the flux augmentation).

    Raises
    ------
    PhotozValueError
        For another ``flux_type``, or ``bands`` not a list of band names.
    """
    check_choice("flux_type", flux_type, ("kron", "matched"))
    bands = _check_bands(bands)
    if flux_type == "kron":
        return [f"flux_{b}" for b in bands], [f"flux_err_{b}" for b in bands], "npix"
    if flux_type == "matched":
        return ([MATCHED_TEMPLATES["flux"].format(band=b) for b in bands],
                [MATCHED_TEMPLATES["flux_err"].format(band=b) for b in bands], "npix_matched")
    raise PhotozValueError("flux_type", "must be 'kron' or 'matched'", flux_type)


def magnitude_columns(flux_type: str, bands) -> tuple[list[str], list[str]]:
    """AB magnitude and magnitude-error columns of the flux measurement ``flux_type``.

    The magnitudes the photometry stage wrote from the fluxes :func:`network_flux_columns` gives
    (m = ZP - 2.5 log10(F / t), NaN for F <= 0; sigma_m = 2.5 / ln 10 sigma_F / F): what the
    classical peers read (:mod:`photoz.peers.stage`), so they see the networks' measurement.

    Returns
    -------
    mag_cols, mag_err_cols : list of str
        ``mag_<b>``, ``mag_err_<b>`` (``kron``) or the matched-filter ones (``matched``).

    Raises
    ------
    PhotozValueError
        For another ``flux_type``, or ``bands`` not a list of band names.
    """
    bands = _check_bands(bands)
    if flux_type == "kron":
        return [f"mag_{b}" for b in bands], [f"mag_err_{b}" for b in bands]
    if flux_type == "matched":
        return ([MATCHED_TEMPLATES["mag"].format(band=b) for b in bands],
                [MATCHED_TEMPLATES["mag_err"].format(band=b) for b in bands])
    raise PhotozValueError("flux_type", "must be 'kron' or 'matched'", flux_type)
