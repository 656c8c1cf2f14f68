"""Galaxy shapes for catalogues without them: a size-luminosity-redshift relation per galaxy type.

The DC2 catalogues carry redshifts and magnitudes but no shapes, while the paper's galaxies have
HST F814W morphology (Zhou et al. 2022, Sect. 2). This module assigns each galaxy a single Sersic
profile from published relations:

- Type: early (Sersic n > 2.5) or late (n <= 2.5), the split of Shen et al. 2003 (MNRAS 343, 978),
  decided here by the best-fit SED template (elliptical and S0 templates are early types).
- Half-light radius: Shen et al. 2003, eqs. 14-16 with their Table 1 r-band fits for the Sersic-n
  classification (early: a = 0.65, b = -5.06, sigma1 = 0.45, sigma2 = 0.27, M0 = -20.91; late:
  alpha = 0.21, beta = 0.53, gamma = -1.31, M0 = -20.52, sigma1 = 0.48, sigma2 = 0.25), R in kpc
  for h = 0.7, log-normal scatter sigma_lnR, M the rest-frame r absolute magnitude of the fitted SED.
  Redshift evolution: R ∝ (1+z)^beta_z with beta_z = -0.75 for late and -1.48 for early types
  (van der Wel et al. 2014, ApJ 788, 28, Sect. 4; measured at fixed stellar mass, applied here at
  fixed luminosity: an approximation, checked against COSMOS F814W sizes in the tests).
- Axis ratio: late types are oblate discs of intrinsic thickness q0 = 0.2 seen at random
  inclination, q^2 = cos^2 i + q0^2 sin^2 i (Holmberg 1946; q0 ~ 0.2 from Padilla & Strauss 2008,
  MNRAS 388, 1321); early types q ~ N(0.75, 0.15) clipped to [0.3, 1] (the apparent axis-ratio
  distribution of ellipticals in Padilla & Strauss 2008, Fig. 4).
- Sersic index: log-normal about 4 (early) or 1 (late) with 0.2 dex-ish scatter, kept on the side of
  n = 2.5 its type requires (our choice; the paper used real HST morphology).
- Position angle: uniform in [0, 180) degrees.

Angular sizes use a flat LambdaCDM cosmology with H0 = 70 km/s/Mpc and Omega_m = 0.3 (astropy), the
h = 0.7 of Shen et al. 2003. The half-light radius is circularised, as GalSim's
``Sersic(half_light_radius=...).shear(q=...)`` uses it and as the COSMOS ``hlr`` column is.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from astropy.cosmology import FlatLambdaCDM

from photoz.errors import PhotozDataError

#: Cosmology of the angular sizes (h = 0.7 as in Shen et al. 2003).
COSMOLOGY = FlatLambdaCDM(H0=70.0, Om0=0.3)
#: Shen et al. 2003, Table 1, r band, Sersic-n classification.
SHEN03_EARLY = {"a": 0.65, "b": -5.06, "sigma1": 0.45, "sigma2": 0.27, "M0": -20.91}
SHEN03_LATE = {"alpha": 0.21, "beta": 0.53, "gamma": -1.31, "sigma1": 0.48, "sigma2": 0.25,
               "M0": -20.52}
#: Size evolution R ∝ (1+z)^beta_z (van der Wel et al. 2014).
BETA_Z = {"early": -1.48, "late": -0.75}
#: Smallest half-light radius assigned, arcsec (one HST ACS pixel).
MIN_HLR_ARCSEC = 0.03
#: Template-name prefixes of early-type SEDs (COSMOS: Ell*, S0; CWW: El_).
EARLY_PREFIXES = ("Ell", "S0", "El_")


def is_early_type(template: np.ndarray | list[str]) -> np.ndarray:
    """True for elliptical/S0 SED templates (early types, Sersic n > 2.5).

    Parameters
    ----------
    template : array of str, shape (N,)

    Returns
    -------
    ndarray of bool, shape (N,)
    """
    return np.array([str(t).startswith(EARLY_PREFIXES) for t in template], dtype=bool)


def mean_size_kpc(abs_mag_r: np.ndarray, redshift: np.ndarray, early: np.ndarray) -> np.ndarray:
    """Median half-light radius R (kpc) of Shen et al. 2003 eqs. 14-15, times (1+z)^beta_z.

    Parameters
    ----------
    abs_mag_r : ndarray, shape (N,), AB mag
        Rest-frame r-band absolute magnitude (h = 0.7).
    redshift : ndarray, shape (N,)
    early : ndarray of bool, shape (N,)

    Returns
    -------
    ndarray, shape (N,), kpc
    """
    m = np.asarray(abs_mag_r, dtype=float)
    e, lt = SHEN03_EARLY, SHEN03_LATE
    log_r_early = -0.4 * e["a"] * m + e["b"]
    log_r_late = (-0.4 * lt["alpha"] * m
                  + (lt["beta"] - lt["alpha"]) * np.log10(1.0 + 10.0 ** (-0.4 * (m - lt["M0"])))
                  + lt["gamma"])
    zp1 = 1.0 + np.asarray(redshift, dtype=float)
    evol = np.where(early, zp1 ** BETA_Z["early"], zp1 ** BETA_Z["late"])
    return np.where(early, 10.0**log_r_early, 10.0**log_r_late) * evol


def size_scatter(abs_mag_r: np.ndarray, early: np.ndarray) -> np.ndarray:
    """Log-normal scatter sigma_lnR of Shen et al. 2003 eq. 16; shape (N,)."""
    m = np.asarray(abs_mag_r, dtype=float)

    def sig(p):
        return p["sigma2"] + (p["sigma1"] - p["sigma2"]) / (1.0 + 10.0 ** (-0.8 * (m - p["M0"])))

    return np.where(early, sig(SHEN03_EARLY), sig(SHEN03_LATE))


def kpc_per_arcsec(redshift: np.ndarray) -> np.ndarray:
    """Proper transverse kpc per arcsec at ``redshift`` (astropy, :data:`COSMOLOGY`); shape (N,)."""
    z = np.clip(np.asarray(redshift, dtype=float), 1e-4, None)
    return COSMOLOGY.kpc_proper_per_arcmin(z).value / 60.0


def assign_morphology(redshift: np.ndarray, abs_mag_r: np.ndarray, early: np.ndarray,
                      rng: np.random.Generator) -> pd.DataFrame:
    """Draw a Sersic profile for each galaxy (see the module notes for the relations).

    Parameters
    ----------
    redshift : ndarray, shape (N,)
    abs_mag_r : ndarray, shape (N,), AB mag
        Rest-frame r-band absolute magnitude.
    early : ndarray of bool, shape (N,)
        Early type (:func:`is_early_type`).
    rng : numpy.random.Generator
        Source of all randomness (scatter, inclination, angle).

    Returns
    -------
    pandas.DataFrame
        Columns ``sersic_n``, ``half_light_radius`` (arcsec, circularised), ``axis_ratio`` (b/a),
        ``position_angle`` (degrees, counter-clockwise from +x), N rows.

    Raises
    ------
    PhotozDataError
        If an input is not finite.
    """
    z = np.asarray(redshift, dtype=float)
    m = np.asarray(abs_mag_r, dtype=float)
    early = np.asarray(early, dtype=bool)
    for name, arr in (("redshift", z), ("abs_mag_r", m)):
        bad = np.flatnonzero(~np.isfinite(arr))
        if bad.size:
            raise PhotozDataError(f"assign_morphology: {name} is not finite in row {bad[0]}")
    n = len(z)
    r_kpc = mean_size_kpc(m, z, early) * np.exp(size_scatter(m, early) * rng.standard_normal(n))
    hlr = np.maximum(r_kpc / kpc_per_arcsec(z), MIN_HLR_ARCSEC)
    sersic = np.where(early,
                      np.clip(4.0 * np.exp(0.25 * rng.standard_normal(n)), 2.5, 6.0),
                      np.clip(1.0 * np.exp(0.30 * rng.standard_normal(n)), 0.5, 2.5))
    cos_i = rng.uniform(0.0, 1.0, n)
    q_disc = np.sqrt(cos_i**2 + 0.2**2 * (1.0 - cos_i**2))
    q_early = np.clip(rng.normal(0.75, 0.15, n), 0.3, 1.0)
    q = np.where(early, q_early, q_disc)
    pa = rng.uniform(0.0, 180.0, n)
    return pd.DataFrame({"sersic_n": sersic, "half_light_radius": hlr, "axis_ratio": q,
                         "position_angle": pa})
