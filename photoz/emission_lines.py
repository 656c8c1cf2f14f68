"""Nebular emission lines for the SED templates: LePhare's empirical UV recipe (Ilbert et al. 2009).

The paper's CSST fluxes (Zhou et al. 2022, Sect. 2; PAPER_SPEC §2) come from a LePhare fit with the
31 COSMOS templates, dust AND emission lines. LePhare adds the lines with the recipe of Ilbert et al.
(2009, ApJ 690, 1236, Sect. 3.2), which this module follows:

1. The intrinsic (dust-free) UV luminosity of the template gives its star-formation rate, and the
   same SFR gives the [OII] 3727 luminosity, both with Kennicutt (1998, ARA&A 36, 189; Salpeter IMF):
   SFR = 1.4e-28 L_nu(UV) [erg/s/Hz] (eq. 1) = 1.4e-41 L([OII]) [erg/s] (eq. 3), so
   L([OII]) = 1e13 Hz x L_nu(UV). LePhare measures L_nu(UV) as the mean f_lambda of the template in a
   top-hat 2100-2500 A times (2300 A)^2 / c (``GalSED::SEDproperties``); we do the same.
2. The other lines are fixed multiples of [OII]: Lyalpha 1, Hbeta 0.61, [OIII] 4959 0.13,
   [OIII] 5007 0.36, Halpha 1.77 (:data:`LINES`).
3. Lines are added only to star-forming templates: LePhare's rule is an intrinsic rest-frame
   NUV - r < 4, with NUV the 2100-2500 A and r the 5500-6500 A top-hat (:func:`nuv_minus_r`); for the
   COSMOS library this gives lines to 20 of the 31 templates, Sb_A_1 .. SB11_A_0 (NUV - r from 3.65
   down to -0.33; rest-frame EW([OII]) 11 to 66 A, EW(Halpha) 8 to 396 A), and none to the seven
   ellipticals, S0, Sa_A_0/1 and Sb_A_0 (NUV - r 4.02 to 5.54) (tests/test_sed.py checks the split).
4. Dust: the lines get the continuum's E(B-V) and the same (Calzetti) curve at the line's
   wavelength, no extra attenuation of the nebular gas (LePhare ``SED::applyExtLines`` uses a factor
   1.0 for every line; the Calzetti 2000 0.44 stellar/nebular factor is commented out there). The
   IGM (:func:`photoz.sed.igm_transmission`) acts on lines and continuum alike, so the blue half of
   Lyalpha is absorbed, as LePhare's ``applyOpa`` does.

Sources, every number (LePhare is read at the commits given; ``lephare-photoz/lephare`` is the C++
rewrite, ``addEmission2`` the Fortran routine of LePhare 2.2 that the 2009 work used):

- Kennicutt (1998) eqs. 1 and 3: the 1.4e-28 and 1.4e-41 Msun/yr coefficients.
- Line ratios to [OII]: the Fortran ``addEmission2`` (S. Arnouts' version, "fac_line": Lya 1, OII 1,
  Hb 0.61 [from Halpha/Hbeta = 2.91, McCall 1982], OIIIa 0.13, OIIIb 0.36 [OIII 5007/Hbeta = 0.6 for
  star-forming galaxies and OIII(4959+5007)/Hbeta = 1.35 OIII 5007/Hbeta, McCall 1985], Ha 1.77
  [Kennicutt 1998's Halpha and [OII] SFR coefficients]). The C++ rewrite keeps them as the "original
  ratio used in 2009 paper" (``GalSED::generateEmEmpUV``, ``src/lib/SED.cpp``: relative to Hbeta,
  Lya 1.62, [OII] 0.81 + 0.81, [OIII] 0.21 and 0.59, Halpha 2.90, i.e. 1.00, 0.62, 0.13, 0.36, 1.79
  of [OII]; ``src/lib/emission_lines.h`` notes that the paper printed them "in a slightly different
  form"). We use the Fortran values.
- Line wavelengths (air, A): ``lb_line`` of ``src/lib/emission_lines.h`` / ``SED.cpp`` (1215.67,
  3726.04 and 3728.8, 4861.352, 4958.911, 5006.843, 6562.787); [OII] is split evenly between the
  two doublet lines as the C++ table does (0.81 + 0.81).
- NUV - r < 4 and the 2100-2500 A / 5500-6500 A windows: ``GalSED::generateEmEmpUV`` and
  ``GalSED::SEDproperties`` in ``src/lib/SED.cpp``.

Ours (not LePhare's): the line shape, a Gaussian of rest-frame sigma :data:`LINE_SIGMA_A` = 10 A
(LePhare's Fortran spreads each line over a Gaussian of sigma 10 A in the observed frame, the C++
over FWHM 100 km/s; for broad-band fluxes the width matters only for a line on a band edge). 10 A
keeps every line resolved by :func:`photoz.sed.build_flux_grid`'s 0.5 nm integration step. We also
use Kennicutt's [OII] coefficient directly where the C++ code goes through Halpha with the
Kennicutt & Evans (2012) UV and Halpha calibrations (its [OII] is 0.03 dex lower), and we do not draw
LePhare's optional line-flux dispersion (``EM_DISPERSION``, factors 0.5-2 in its COSMOS example).

Units: a template is f_lambda in erg/s/cm^2/A (any normalisation); its lines come out in erg/s/cm^2
for the same normalisation, so the equivalent widths do not depend on the template's amplitude or
distance (L([OII]) is proportional to L_nu(UV)).
"""

from __future__ import annotations

import numpy as np
from astropy import constants

#: Kennicutt (1998, ARA&A 36, 189) eq. 1: SFR [Msun/yr] per UV L_nu [erg/s/Hz] (1500-2800 A, Salpeter).
K98_SFR_PER_LNU_UV = 1.4e-28
#: Kennicutt (1998) eq. 3: SFR [Msun/yr] per L([OII] 3727) [erg/s].
K98_SFR_PER_L_OII = 1.4e-41
#: L([OII]) / L_nu(UV) in Hz, from the two Kennicutt relations (1e13 Hz).
OII_PER_LNU_UV_HZ = K98_SFR_PER_LNU_UV / K98_SFR_PER_L_OII
#: Speed of light, A/s (CODATA 2018, ``astropy.constants``: the SI value in m/s times 1e10).
C_A_PER_S = constants.c.value * 1e10
#: LePhare's UV and optical top-hats (A) and the wavelengths it converts them to f_nu with
#: (``GalSED::SEDproperties``: 2100-2500 A at 2300 A, 5500-6500 A at 6000 A).
UV_WINDOW_A = (2100.0, 2500.0)
UV_PIVOT_A = 2300.0
OPT_WINDOW_A = (5500.0, 6500.0)
OPT_PIVOT_A = 6000.0
#: Lines only where the intrinsic NUV - r is below this (``GalSED::generateEmEmpUV``: NUVR < 4).
NUV_R_MAX = 4.0
#: (name, rest wavelength in A (air; LePhare ``emission_lines.h``), flux / F([OII] 3727 total))
#: ratios from LePhare's Fortran ``addEmission2`` (module notes).
LINES = (
    ("Lya", 1215.67, 1.0),
    ("[OII]3726", 3726.04, 0.5),
    ("[OII]3729", 3728.80, 0.5),
    ("Hbeta", 4861.352, 0.61),
    ("[OIII]4959", 4958.911, 0.13),
    ("[OIII]5007", 5006.843, 0.36),
    ("Halpha", 6562.787, 1.77),
)
#: Rest-frame Gaussian sigma of every line, A (ours; module notes).
LINE_SIGMA_A = 10.0
#: Half width of a line's sampling grid, in sigma, and its step, in sigma.
LINE_HALF_WIDTH_SIGMA = 6.0
LINE_STEP_SIGMA = 0.25


def _window_mean(wave: np.ndarray, flux: np.ndarray, window: tuple[float, float]) -> float:
    """Mean of the piecewise-linear f_lambda over a top-hat window (trapezoid on a 1 A grid)."""
    grid = np.arange(window[0], window[1] + 0.5, 1.0)
    f = np.interp(grid, wave, flux, left=0.0, right=0.0)
    return float(np.trapezoid(f, grid) / (window[1] - window[0]))


def window_fnu(wave: np.ndarray, flux: np.ndarray, window: tuple[float, float],
               pivot: float) -> float:
    """LePhare's top-hat f_nu: mean f_lambda in ``window`` times pivot^2 / c.

    Parameters
    ----------
    wave, flux : ndarray, shape (L,)
        Rest wavelength (A, increasing) and f_lambda (erg/s/cm^2/A) of a template.
    window : (float, float), A
    pivot : float, A

    Returns
    -------
    float, erg/s/cm^2/Hz
    """
    return _window_mean(wave, flux, window) * pivot**2 / C_A_PER_S


def nuv_minus_r(wave: np.ndarray, flux: np.ndarray) -> float:
    """Intrinsic rest-frame NUV - r (AB) of a template, LePhare's definition (module notes).

    Returns ``inf`` when the template has no NUV flux.
    """
    uv = window_fnu(wave, flux, UV_WINDOW_A, UV_PIVOT_A)
    opt = window_fnu(wave, flux, OPT_WINDOW_A, OPT_PIVOT_A)
    if not uv > 0 or not opt > 0:
        return float("inf")
    return float(-2.5 * np.log10(uv / opt))


def line_fluxes(wave: np.ndarray, flux: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rest-frame line fluxes of a (dust-free) template by LePhare's UV recipe.

    F([OII]) = 1e13 Hz x f_nu(UV) (Kennicutt 1998 eqs. 1 and 3), the other lines at the fixed
    ratios of :data:`LINES`; all zero when NUV - r >= 4 (:func:`nuv_minus_r`).

    Parameters
    ----------
    wave, flux : ndarray, shape (L,)
        Rest wavelength (A) and f_lambda (erg/s/cm^2/A) of the template, before dust.

    Returns
    -------
    line_wave : ndarray, shape (7,), A
    line_flux : ndarray, shape (7,), erg/s/cm^2 (for the template's normalisation)
    """
    line_wave = np.array([w for _, w, _ in LINES])
    ratios = np.array([r for _, _, r in LINES])
    if not nuv_minus_r(wave, flux) < NUV_R_MAX:
        return line_wave, np.zeros_like(ratios)
    f_oii = OII_PER_LNU_UV_HZ * window_fnu(wave, flux, UV_WINDOW_A, UV_PIVOT_A)
    return line_wave, f_oii * ratios


def add_lines(wave: np.ndarray, flux: np.ndarray, sigma: float = LINE_SIGMA_A
              ) -> tuple[np.ndarray, np.ndarray]:
    """The template with its emission lines added as Gaussians (rest frame, before dust).

    The continuum keeps its piecewise-linear shape: the output grid is the template's plus a grid
    of step sigma/4 over +-6 sigma around each line, with the continuum linearly interpolated onto
    the new points. A template without lines (:func:`line_fluxes` all zero) is returned unchanged
    (the same arrays).

    Parameters
    ----------
    wave, flux : ndarray, shape (L,)
        Rest wavelength (A, increasing) and f_lambda (erg/s/cm^2/A).
    sigma : float, A
        Gaussian sigma of every line.

    Returns
    -------
    wave, flux : ndarray, shape (L',)
        f_lambda including the lines; the integral of the lines is :func:`line_fluxes`.
    """
    line_wave, line_flux = line_fluxes(wave, flux)
    if not np.any(line_flux > 0):
        return wave, flux
    offsets = np.arange(-LINE_HALF_WIDTH_SIGMA, LINE_HALF_WIDTH_SIGMA + 1e-9, LINE_STEP_SIGMA) * sigma
    extra = np.concatenate([lw + offsets for lw, lf in zip(line_wave, line_flux, strict=True)
                            if lf > 0])
    grid = np.union1d(wave, extra)
    out = np.interp(grid, wave, flux)
    for lw, lf in zip(line_wave, line_flux, strict=True):
        near = np.abs(grid - lw) <= LINE_HALF_WIDTH_SIGMA * sigma
        out[near] += lf * np.exp(-0.5 * ((grid[near] - lw) / sigma) ** 2) / (sigma * np.sqrt(2 * np.pi))
    return grid, out
