"""Galaxy SEDs: templates, dust, intergalactic absorption, synthetic photometry and template fits.

The paper (Zhou et al. 2022, MNRAS 512, 4593, Sect. 2; PAPER_SPEC §2) took each galaxy's CSST fluxes
from a LePhare fit of the 31 COSMOS templates (Ilbert et al. 2009) at the catalogue redshift. This
module does the same fit with numpy:

1. :func:`load_templates` reads the templates shipped in ``pz-rail-base`` (``COSMOS_seds.list``: the
   31 Polletta et al. 2007 + BC03 templates of Ilbert et al. 2009; ``CWWSB4.list``: the CWW +
   Kinney set of Benitez 2000).
2. :func:`calzetti_k` (Calzetti et al. 2000 eq. 4) and :func:`igm_transmission` (Madau 1995) give
   dust and intergalactic attenuation.
3. :func:`build_flux_grid` integrates every template x E(B-V) on a redshift grid through any set of
   ``galsim.Bandpass`` (paper eq. 1 without the area), so that a fit of tens of thousands of galaxies
   is a few array operations (:func:`fit_templates`) instead of one GalSim integral per galaxy and
   template.
4. :func:`observed_sed` returns the same model as a ``galsim.SED`` for drawing and plotting.
5. With ``emission_lines`` (config ``catalog.emission_lines``) every function above adds LePhare's
   nebular lines (Ilbert et al. 2009: [OII] from the UV SFR, Kennicutt 1998; Lyalpha, Hbeta,
   [OIII], Halpha at fixed ratios to it; star-forming templates only) to the rest-frame template
   before dust, IGM and redshift: :mod:`photoz.emission_lines` (COSMOS library only,
   :data:`LINE_LIBRARIES`). Without it the templates are the files' continua, bit for bit.

Conventions
-----------
Every template is normalised to a mean rest-frame f_lambda of 1 erg/s/cm^2/A between 5450 and
5550 A. A galaxy's observed-frame SED is

    f_lambda,obs(lambda) = A * F_t(lambda / (1+z)) * 10^(-0.4 E(B-V) k(lambda/(1+z))) * T_IGM(lambda, z)

(F_t including its lines when they are on: continuum and lines share the dust and the IGM).

in erg/s/cm^2/A, with A the ``sed_amplitude`` of the truth table. (The (1+z) and distance factors of
a physical redshift are absorbed into A.) ``observed_sed(...).calculateFlux(bp)`` is then the
photon flux (photons/s/cm^2) of paper eq. 1 divided by the collecting area.

The dust curve and the IGM are short closed formulae written here rather than imported: the
installed ``dust_extinction`` (1.7) ships no Calzetti curve, the usual implementations stop at
0.12 micron while the fit needs the rest-frame far-UV (NUV and u at z > 1), and no maintained
Python package installed here ships the Madau (1995) IGM. Both are tested against hand values.
"""

from __future__ import annotations

import functools
import importlib.resources
import logging
from dataclasses import dataclass
from pathlib import Path

import galsim
import numpy as np
from astropy import constants
from tqdm import tqdm

from photoz.emission_lines import add_lines
from photoz.errors import PhotozConfigError, PhotozDataError

log = logging.getLogger(__name__)

#: Template lists in ``rail/examples_data/estimation_data/data/SED`` (pz-rail-base 2.0.11).
LIBRARIES = {"cosmos": "COSMOS_seds.list", "cww": "CWWSB4.list"}
#: Rest-frame window (A) in which every template is normalised to mean f_lambda = 1.
NORM_WINDOW_A = (5450.0, 5550.0)
#: Planck constant x speed of light, erg cm (CODATA 2018, from ``astropy.constants``; the product of
#: the cgs values, which are exact, rather than a unit conversion, which rounds the last bit).
HC_ERG_CM = constants.h.cgs.value * constants.c.cgs.value
#: Calzetti et al. (2000) total-to-selective attenuation R_V' for the stellar continuum.
CALZETTI_RV = 4.05
#: Libraries that get emission lines: the COSMOS templates are line-free models (Polletta et al. 2007
#: GRASIL, BC03), to which LePhare adds its lines; the CWW + Kinney set are observed spectra that
#: already carry theirs (adding more would count them twice), so ``emission_lines`` leaves them as
#: they are.
LINE_LIBRARIES = ("cosmos",)
#: Lyman-series wavelengths (A) and Madau (1995, eq. 15 and footnote 3) line-blanketing coefficients.
LYMAN_LINES_A = (1215.67, 1025.72, 972.537, 949.743)
LYMAN_COEFFS = (3.6e-3, 1.7e-3, 1.2e-3, 9.3e-4)
#: Lyman limit, A.
LYMAN_LIMIT_A = 911.75


def sed_directory() -> Path:
    """Directory of the SED templates shipped in pz-rail-base (``.../estimation_data/data/SED``)."""
    root = importlib.resources.files("rail") / "examples_data" / "estimation_data" / "data" / "SED"
    return Path(str(root))


def template_names(library: str = "cosmos") -> list[str]:
    """Names (file stems, e.g. ``Sc_A_0``) of a template library, in the list file's order.

    Parameters
    ----------
    library : str
        ``"cosmos"`` (31 templates of Ilbert et al. 2009) or ``"cww"`` (CWW + Kinney, Benitez 2000).

    Raises
    ------
    PhotozConfigError
        For an unknown library name.
    PhotozDataError
        If the list file cannot be read.
    """
    if library not in LIBRARIES:
        raise PhotozConfigError(
            f"catalog.sed_library: {library!r} is not one of {sorted(LIBRARIES)}"
        )
    path = sed_directory() / LIBRARIES[library]
    try:
        lines = path.read_text().split()
    except OSError as exc:
        raise PhotozDataError(f"cannot read SED list {path}: {exc}") from exc
    return [Path(s).stem for s in lines if s.strip()]


@functools.lru_cache(maxsize=128)
def _template_arrays(name: str, emission_lines: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Rest wavelength (A) and normalised f_lambda of template ``name`` (see module notes).

    With ``emission_lines`` the lines of :func:`photoz.emission_lines.add_lines` (LePhare's UV
    recipe, computed from the normalised dust-free template) are added; a template that gets no
    lines returns the very arrays of ``emission_lines=False``.
    """
    if emission_lines:
        wave, flux = _template_arrays(name, False)
        wave_l, flux_l = add_lines(wave, flux)
        if wave_l is wave:
            return wave, flux
        wave_l.setflags(write=False)
        flux_l.setflags(write=False)
        return wave_l, flux_l
    path = sed_directory() / f"{name}.sed"
    try:
        data = np.loadtxt(path, ndmin=2)
    except (OSError, ValueError) as exc:
        raise PhotozDataError(f"cannot read SED template {path}: {exc}") from exc
    wave, flux = data[:, 0], np.clip(data[:, 1], 0.0, None)
    keep = np.concatenate([[True], np.diff(wave) > 0])  # drop repeated wavelengths
    wave, flux = wave[keep], flux[keep]
    window = (wave >= NORM_WINDOW_A[0]) & (wave <= NORM_WINDOW_A[1])
    norm = flux[window].mean() if window.any() else np.interp(5500.0, wave, flux)
    if not np.isfinite(norm) or norm <= 0:
        raise PhotozDataError(f"SED template {path}: no positive flux near 5500 A to normalise")
    wave.setflags(write=False)
    flux = flux / norm
    flux.setflags(write=False)
    return wave, flux


def load_templates(library: str = "cosmos", emission_lines: bool = False
                   ) -> dict[str, galsim.SED]:
    """Rest-frame SED templates as ``galsim.SED`` objects.

    Parameters
    ----------
    library : str
        ``"cosmos"`` (default; the 31 COSMOS templates, Ilbert et al. 2009) or ``"cww"``.
    emission_lines : bool
        Add LePhare's emission lines (:mod:`photoz.emission_lines`) to the star-forming templates
        (library ``cosmos`` only: :data:`LINE_LIBRARIES`).

    Returns
    -------
    dict of str to galsim.SED
        Keyed by template name, in list order; f_lambda in erg/s/cm^2/A, normalised to a mean of 1
        between 5450 and 5550 A (rest frame, redshift 0).
    """
    out = {}
    lines = bool(emission_lines) and library in LINE_LIBRARIES
    for name in template_names(library):
        wave, flux = _template_arrays(name, lines)
        table = galsim.LookupTable(wave, flux, interpolant="linear")
        out[name] = galsim.SED(table, wave_type="Angstrom", flux_type="flambda")
    return out


def calzetti_k(wave_rest: np.ndarray) -> np.ndarray:
    """Calzetti et al. (2000) starburst attenuation curve k(lambda).

    Eq. 4 of Calzetti et al. 2000 (ApJ 533, 682) with R_V' = 4.05, defined for 0.12-2.2 micron;
    below 0.12 micron it is extrapolated linearly with the slope at 0.12 micron (the usual choice
    of LePhare and hyperz), beyond 2.2 micron the 0.63-2.2 micron branch is continued; k >= 0.
    The attenuated flux is f * 10^(-0.4 E(B-V) k).

    Parameters
    ----------
    wave_rest : ndarray, any shape, Angstrom (rest frame)

    Returns
    -------
    ndarray, same shape
    """
    lam = np.asarray(wave_rest, dtype=float) / 1e4  # micron

    def blue(x):
        return 2.659 * (-2.156 + 1.509 / x - 0.198 / x**2 + 0.011 / x**3) + CALZETTI_RV

    def red(x):
        return 2.659 * (-1.857 + 1.040 / x) + CALZETTI_RV

    x0 = 0.12
    slope = 2.659 * (-1.509 / x0**2 + 2 * 0.198 / x0**3 - 3 * 0.011 / x0**4)
    with np.errstate(divide="ignore", invalid="ignore"):
        k = np.where(lam >= 0.63, red(lam), blue(np.maximum(lam, x0)))
        k = np.where(lam < x0, blue(x0) + slope * (lam - x0), k)
    return np.clip(k, 0.0, None)


def igm_transmission(wave_obs: np.ndarray, redshift: float) -> np.ndarray:
    """Mean intergalactic transmission exp(-tau_eff) of Madau (1995, ApJ 441, 18).

    Line blanketing by the first four Lyman-series lines (eq. 15 with the coefficients of its
    footnote 3: tau_j = A_j (lambda_obs / lambda_j)^3.46 for lambda_j < lambda_obs <
    lambda_j (1+z)) plus photoelectric absorption by optically thin clouds below the Lyman limit
    (the approximation of eq. 16 / footnote 3, x_c = lambda_obs / 912 A, x_em = 1+z). Shortward of
    the Lyman limit in the observed frame the transmission is set to 0.

    Parameters
    ----------
    wave_obs : ndarray, any shape, Angstrom (observed frame)
    redshift : float
        Source redshift (>= 0).

    Returns
    -------
    ndarray, same shape, in [0, 1]
    """
    lam = np.asarray(wave_obs, dtype=float)
    zp1 = 1.0 + float(redshift)
    tau = np.zeros_like(lam)
    for lam_j, a_j in zip(LYMAN_LINES_A, LYMAN_COEFFS, strict=True):
        on = (lam < lam_j * zp1) & (lam > lam_j)
        tau = tau + np.where(on, a_j * (lam / lam_j) ** 3.46, 0.0)
    xc = lam / LYMAN_LIMIT_A
    lyc = (xc < zp1) & (xc >= 1.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        tau_c = (0.25 * xc**3 * (zp1**0.46 - xc**0.46)
                 + 9.4 * xc**1.5 * (zp1**0.18 - xc**0.18)
                 - 0.7 * xc**3 * (xc**-1.32 - zp1**-1.32)
                 - 0.023 * (zp1**1.68 - xc**1.68))
    tau = tau + np.where(lyc, np.clip(tau_c, 0.0, None), 0.0)
    trans = np.exp(-tau)
    return np.where((xc < 1.0) & (redshift > 0), 0.0, trans)


def _attenuated(name: str, ebv: float, redshift: float, emission_lines: bool = False
                ) -> tuple[np.ndarray, np.ndarray]:
    """Observed wavelength (A) and f_lambda (amplitude 1) of template ``name`` with dust and IGM.

    Lines (``emission_lines``) are attenuated with the continuum: 10^(-0.4 E(B-V) k(lambda)) at
    their rest wavelength, the same Calzetti curve and E(B-V), as LePhare does.
    """
    wave, flux = _template_arrays(name, emission_lines)
    wave_obs = wave * (1.0 + redshift)
    f = flux * 10.0 ** (-0.4 * ebv * calzetti_k(wave)) * igm_transmission(wave_obs, redshift)
    return wave_obs, f


def observed_sed(template: str, amplitude: float, ebv: float, redshift: float,
                 library: str = "cosmos", emission_lines: bool = False,
                 template_2: str | None = None, amplitude_2: float = 0.0) -> galsim.SED:
    """Observed-frame SED of a fitted galaxy, dust and IGM applied.

    With ``template_2`` (``catalog.template_mixing``) the SED is the non-negative mixture
    ``amplitude x template + amplitude_2 x template_2``, both with the same E(B-V), IGM and
    redshift, so each band flux is the sum of the two single-template fluxes.

    ``observed_sed(...).calculateFlux(instrument.bandpasses[b]) * instrument.area *
    instrument.total_exposure_time[j]`` is the truth table's ``flux_<b>`` (paper eqs. 1-2).

    Parameters
    ----------
    template : str
        Template name (the truth table's ``sed_template``), e.g. ``"Sc_A_0"``.
    amplitude : float
        ``sed_amplitude``: observed f_lambda (erg/s/cm^2/A) = amplitude x normalised template.
    ebv : float, mag
        Calzetti E(B-V) (:func:`calzetti_k`).
    redshift : float
    library : str
        Kept for symmetry with :func:`load_templates`; ``template`` must belong to it.
    emission_lines : bool
        The ``catalog.emission_lines`` the truth table was made with (LePhare's lines,
        :mod:`photoz.emission_lines`); library ``cosmos`` only (:data:`LINE_LIBRARIES`).
    template_2 : str, optional
        The truth table's ``sed_template_2``: second template of a mixture; None or ``""``
        for a single template.
    amplitude_2 : float
        ``sed_amplitude_2``, in the units of ``amplitude`` (>= 0).

    Returns
    -------
    galsim.SED
        Observed frame (``redshift`` already applied, so do not call ``atRedshift``), f_lambda.

    Raises
    ------
    PhotozDataError
        If a template is not in the library.
    """
    names = template_names(library)
    for name in (template, template_2 or template):
        if name not in names:
            raise PhotozDataError(f"SED template {name!r} is not in library {library!r}")
    lines = bool(emission_lines) and library in LINE_LIBRARIES
    wave_obs, f = _attenuated(template, float(ebv), float(redshift), lines)
    f = float(amplitude) * f
    if template_2:  # mixture: both components on the union of their wavelength grids
        wave_2, f_2 = _attenuated(template_2, float(ebv), float(redshift), lines)
        wave_u = np.union1d(wave_obs, wave_2)
        f = (np.interp(wave_u, wave_obs, f, left=0.0, right=0.0)
             + float(amplitude_2) * np.interp(wave_u, wave_2, f_2, left=0.0, right=0.0))
        wave_obs = wave_u
    table = galsim.LookupTable(wave_obs, f, interpolant="linear")
    return galsim.SED(table, wave_type="Angstrom", flux_type="flambda")


@dataclass
class FluxGrid:
    """Template photon fluxes on a redshift x E(B-V) grid, for amplitude 1.

    Attributes
    ----------
    templates : list of str, length T
    ebv : ndarray, shape (E,), mag
    z : ndarray, shape (Z,), evenly spaced from 0
    bands : list of str, length B
    flux : ndarray, shape (T, E, Z, B), photons/s/cm^2
        ``observed_sed(t, 1, e, z).calculateFlux(bandpass)``.
    zeropoint : ndarray, shape (B,), AB mag
        AB magnitude of 1 photon/s/cm^2 in each band (``Bandpass.withZeropoint('AB')``).
    """

    templates: list[str]
    ebv: np.ndarray
    z: np.ndarray
    bands: list[str]
    flux: np.ndarray
    zeropoint: np.ndarray

    def at(self, redshift: np.ndarray, bands: list[str] | None = None) -> np.ndarray:
        """Fluxes linearly interpolated in redshift.

        Parameters
        ----------
        redshift : ndarray, shape (N,)
        bands : list of str, optional
            Subset of ``self.bands`` (default all), in the order wanted.

        Returns
        -------
        ndarray, shape (N, T, E, B'), photons/s/cm^2
        """
        z = np.asarray(redshift, dtype=float)
        if np.any(z < self.z[0]) or np.any(z > self.z[-1]):
            raise PhotozDataError(
                f"redshift outside the template grid [{self.z[0]}, {self.z[-1]}]"
            )
        cols = [self.bands.index(b) for b in (bands or self.bands)]
        dz = self.z[1] - self.z[0]
        pos = (z - self.z[0]) / dz
        lo = np.clip(np.floor(pos).astype(int), 0, len(self.z) - 2)
        w = (pos - lo)[:, None, None, None]
        g = self.flux[:, :, :, cols]
        return (1.0 - w) * np.moveaxis(g[:, :, lo], 2, 0) + w * np.moveaxis(g[:, :, lo + 1], 2, 0)

    def to_maggies(self, flux: np.ndarray, bands: list[str] | None = None) -> np.ndarray:
        """Convert photon fluxes (last axis = ``bands``) to AB maggies, 10^(-0.4 m_AB)."""
        cols = [self.bands.index(b) for b in (bands or self.bands)]
        return flux * 10.0 ** (-0.4 * self.zeropoint[cols])


def build_flux_grid(bandpasses: dict[str, galsim.Bandpass], library: str = "cosmos",
                    z_max: float = 6.0, dz: float = 0.01,
                    ebv: np.ndarray | list[float] = (0.0,),
                    step_nm: float = 0.5, emission_lines: bool = False) -> FluxGrid:
    """Integrate every template through every band on a redshift x E(B-V) grid.

    Implements paper eq. 1 per unit collecting area, C/A = int f_lambda T(lambda) lambda/(hc)
    dlambda, with the trapezoid rule on a common observed-frame grid of ``step_nm`` spacing (the
    template is linearly interpolated onto it, as GalSim's ``LookupTable`` does). This is our own
    code (rather than ``galsim.SED.calculateFlux`` per model) because it is a single matrix product
    per redshift, ~10^4 times faster for the 31 x E x Z models a fit needs; the test suite checks
    it against ``calculateFlux`` to 1%.

    Parameters
    ----------
    bandpasses : dict of str to galsim.Bandpass
        Bands to integrate (wavelengths in nm), with an AB zero point attached or attachable.
    library : str
        ``"cosmos"`` or ``"cww"``.
    z_max : float
        Largest redshift of the grid, which runs 0 .. z_max in steps of ``dz``.
    dz : float
    ebv : sequence of float, mag
        Calzetti E(B-V) values.
    step_nm : float
        Integration step, nm. It resolves the emission lines (rest sigma 10 A, so >= 10 A observed)
        at the default 0.5 nm.
    emission_lines : bool
        Add LePhare's emission lines to the star-forming templates before dust, IGM and redshift
        (:mod:`photoz.emission_lines`; ``catalog.emission_lines``); library ``cosmos`` only
        (:data:`LINE_LIBRARIES`).

    Returns
    -------
    FluxGrid
    """
    names = template_names(library)
    bands = list(bandpasses)
    z = np.arange(0.0, z_max + 0.5 * dz, dz)
    if len(z) < 2:
        raise PhotozConfigError(f"redshift grid needs z_max > dz; got z_max={z_max}, dz={dz}")
    ebv = np.atleast_1d(np.asarray(ebv, dtype=float))
    lo = min(bp.blue_limit for bp in bandpasses.values())
    hi = max(bp.red_limit for bp in bandpasses.values())
    wave_nm = np.arange(lo, hi + step_nm, step_nm)
    trap = np.full_like(wave_nm, step_nm)
    trap[0] = trap[-1] = 0.5 * step_nm
    # photons/s/cm^2 per (erg/s/cm^2/A): f_lambda [per A] x 10 A/nm x lambda/(hc) x T dlambda[nm]
    weights = np.stack([
        np.asarray(bandpasses[b](wave_nm), dtype=float) * 10.0 * (wave_nm * 1e-7) / HC_ERG_CM * trap
        for b in bands
    ])  # (B, L)
    wave_a = wave_nm * 10.0
    lines = bool(emission_lines) and library in LINE_LIBRARIES
    tmpl = [_template_arrays(n, lines) for n in names]
    flux = np.empty((len(names), len(ebv), len(z), len(bands)))
    for iz, zz in enumerate(tqdm(z, desc=f"template grid ({library}, {len(bands)} bands)",
                                   disable=None)):
        rest = wave_a / (1.0 + zz)
        f_rest = np.stack([np.interp(rest, w, f, left=0.0, right=0.0) for w, f in tmpl])  # (T, L)
        dust = 10.0 ** (-0.4 * ebv[:, None] * calzetti_k(rest)[None, :])  # (E, L)
        igm = igm_transmission(wave_a, zz)  # (L,)
        model = f_rest[:, None, :] * dust[None, :, :] * igm  # (T, E, L)
        flux[:, :, iz, :] = (model.reshape(-1, len(wave_nm)) @ weights.T).reshape(
            len(names), len(ebv), len(bands))
    zps = []
    for b in bands:
        bp = bandpasses[b]
        if bp.zeropoint is None:
            bp = bp.withZeropoint("AB")
        zps.append(bp.zeropoint)
    return FluxGrid(names, ebv, z, bands, flux, np.asarray(zps, dtype=float))




