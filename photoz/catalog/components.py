"""Galaxies as the field's image simulations draw them: a bulge, a disk and star-forming knots,
each with its own SED (``catalog.galaxy_model: bulge_disk_knots``).

The reference image simulation of the field, LSST DESC DC2 (cosmoDC2 rendered by skyCatalogs and
imSim), draws every galaxy as a de Vaucouleurs bulge (Sersic n = 4) plus an exponential disk
(n = 1) plus ``galsim.RandomKnots`` point-like knots that trace the sheared disk, each component
multiplied by its own SED and summed (LSSTDESC/skyCatalogs ``objects/galaxy_object.py``
``GalaxyObject.get_gsobject_components``, lines 87-143; LSSTDESC/imSim ``imsim/skycat.py``
``SkyCatalogInterface.getObj``, lines 148-198). The knots take a fraction of the disk light with
the disk's SED (skyCatalogs ``catalog_creator.py`` at f059f905, lines 652-663). So a galaxy's
colour changes across its image, and how it changes depends on its redshift.

This module turns each galaxy of the truth table into those components; :mod:`photoz.simulate`
draws them. Every galaxy keeps its fitted SED (template t, E(B-V), amplitude A;
:mod:`photoz.catalog.sedfit`), its seven CSST fluxes ``flux_<band>`` and its one-Sersic size,
axis ratio and position angle (:mod:`photoz.catalog.morphology`), and is split as follows:

bulge
    de Vaucouleurs. SED: an older template, :func:`bulge_template_index` places earlier in the
    31-template COSMOS sequence (same E(B-V)), scaled to a bulge-to-total ratio B/T at rest
    5500 A drawn by type (:func:`draw_bulge_fraction`; every template is normalised to f_lambda = 1
    at rest 5450-5550 A, :data:`photoz.sed.NORM_WINDOW_A`, so B/T is a ratio of amplitudes).
disk
    The rest, total - bulge, so the components add up to ``flux_<band>`` in every band exactly
    (:func:`component_band_fluxes`); B/T is lowered where the older bulge would leave the disk
    almost no light in some band (:func:`limit_bulge_fraction`). The disk grew inside out: it is
    an inner, older exponential (``disk_old``, the exact remainder) plus an outer, younger one
    (``disk_young``) ``young_kappa`` times its scale length, whose SED is a template
    ``young_step`` places younger than the disk's own (:func:`choose_young`) and which carries a
    share F of the disk light at rest 5500 A drawn by type. This is our extension of DC2 (whose
    disks have one SED): without it only the bulge differs in colour, and late types, mostly
    disk, would have the same size in every band, where GAMA finds them 25% smaller from g to K
    (Kelvin et al. 2012, MNRAS 421, 1007; de Jong 1996, A&A 313, 377: outer disks younger).
knots
    ``galsim.RandomKnots`` on the sheared young disk, each knot a Gaussian of 250 pc FWHM,
    carrying a fraction of the disk light that falls with the disk's size as cosmoDC2's does
    (:func:`knot_fraction_median`): the young disk's star-forming clumps, with its SED (as
    OpenUniverse2024's diffsky variant gives its knots a young SED of their own).

Sizes: the bulge/disk half-light-radius ratio is log-normal about the HST COSMOS bulge+disk fits'
median (:func:`component_sizes` solves the two radii so that the galaxy keeps its one-Sersic
half-light radius at rest 5500 A). The constants are the config section
``catalog.components`` (every key typed, ranged and sourced in the schema); the calibration
against cosmoDC2 and the COSMOS fits is tested in ``tests/test_catalog_components.py``.
Our own code: no library models a galaxy's components from a fitted SED.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import special

from photoz.catalog.morphology import COSMOLOGY

#: The components, in drawing order; ``disk_old`` + ``disk_young`` + ``knots`` is the disk, the
#: galaxy's light less the bulge's.
COMPONENTS: tuple[str, ...] = ("bulge", "disk_old", "disk_young", "knots")
#: Template classes without a young disk: the COSMOS library's ellipticals are not in age order
#: (rest u - r rises from Ell1 to Ell7), so none of them is "younger"; their disks are faint.
NO_YOUNG_CLASSES: tuple[str, ...] = ("E",)
#: ``young`` template index of a young disk with the disk's own SED: where no template is younger
#: than the disk's (:func:`choose_young`).
YOUNG_IS_DISK = -1
#: Sersic index of the bulge: de Vaucouleurs (cosmoDC2 ``sersic_bulge`` = 4; GalSim COSMOS
#: ``bulgefit``, n = 4).
BULGE_SERSIC_N = 4
#: Sersic index of the disk: exponential (cosmoDC2 ``sersic_disk`` = 1; COSMOS ``bulgefit``).
DISK_SERSIC_N = 1
#: b_n of the Sersic profile exp(-b_n (r/r_e)^(1/n)) such that r_e encloses half the light,
#: P(2n, b_n) = 1/2 (Ciotti & Bertin 1999), for n = 1 and 4.
SERSIC_B = {1: 1.678346990016661, 4: 7.669249442500034}
#: Physical FWHM of a star-forming knot, pc: skyCatalogs ``GalaxyObject.get_knot_size``
#: ("Using typical knot size 250pc"), a Gaussian of sigma = FWHM / 2.355.
KNOT_FWHM_PC = 250.0
#: Intrinsic thickness of a late type's disk (:mod:`photoz.catalog.morphology`: q0 = 0.2).
DISK_Q0 = 0.2
#: Morphological class of each COSMOS template-name prefix (Ilbert et al. 2009), longest first.
TEMPLATE_CLASSES = (("Ell", "E"), ("S0", "S0"), ("Sa", "Sa"), ("Sb", "Sb"), ("Sc", "Sc"),
                    ("Sdm", "Sdm"), ("Sd", "Sd"), ("SB", "SB"))
#: The template library the model is calibrated for (its red-to-blue order sets the bulge's
#: template): ``catalog.sed_library`` must be it.
LIBRARY = "cosmos"


# ---------------------------------------------------------------------------------------------
# SEDs and band fluxes
# ---------------------------------------------------------------------------------------------
def template_class(names) -> np.ndarray:
    """Morphological class (E, S0, Sa, Sb, Sc, Sd, Sdm, SB) of COSMOS template names.

    Parameters
    ----------
    names : sequence of str, length N

    Returns
    -------
    ndarray of str, shape (N,)

    Raises
    ------
    ValueError
        For a name of no class (not a COSMOS template).
    """
    out = []
    for name in map(str, names):
        cls = next((c for prefix, c in TEMPLATE_CLASSES if name.startswith(prefix)), None)
        if cls is None:
            raise ValueError(f"template {name!r} is not a COSMOS template (no class)")
        out.append(cls)
    return np.asarray(out)


def bulge_template_index(template_index: np.ndarray, redshift: np.ndarray, params: dict,
                         oldest: int) -> np.ndarray:
    """Index of each bulge's template: an older template than the galaxy's fitted one.

    The step is round(``bulge_step`` + ``bulge_step_z2`` z^2) places earlier in the COSMOS library
    (Ilbert et al. 2009: Ell1 ... Ell7, S0, Sa, Sb, Sc, Sd, Sdm, SB0 ... SB11), not past
    ``oldest`` (S0). From S0 on the library runs red to blue in every colour (rest u - r 2.45 for
    S0 down to -0.04 for SB11), so "earlier" is "older". The step grows with redshift because the
    young templates hardly differ in the rest-frame UV that g and i sample at z > 1.5, while
    cosmoDC2's bulges are ~1 mag redder than their disks there (the bulge - disk g - i of the
    cosmoDC2 galaxies in the skycatalogs 2.5.0 wheel: 0.26, 0.58, 0.72, 0.52, 0.68 mag from z < 0.5
    to z = 2-3, the calibration's target). The ellipticals are not in colour order (rest u - r
    1.79 for Ell1 up to 2.33 for Ell7), so a galaxy fitted by one keeps its own template for its
    bulge (it is mostly bulge anyway).

    Parameters
    ----------
    template_index : ndarray of int, shape (N,)
        The fitted template of each galaxy.
    redshift : ndarray, shape (N,)
    params : dict
        ``catalog.components``: ``bulge_step``, ``bulge_step_z2``.
    oldest : int
        Index of the oldest template a bulge may take (S0_A_0).

    Returns
    -------
    ndarray of int, shape (N,)
    """
    z = np.asarray(redshift, float)
    step = np.maximum(np.round(params["bulge_step"] + params["bulge_step_z2"] * z**2), 0)
    t = np.asarray(template_index, dtype=int)
    return np.where(t > oldest, np.maximum(t - step.astype(int), oldest), t)


def draw_bulge_fraction(classes: np.ndarray, rng: np.random.Generator, params: dict) -> np.ndarray:
    """Bulge-to-total ratio at rest 5500 A, Beta(mu k, (1 - mu) k) about the class mean mu.

    The means by class (``bt_mean``) follow Hubble type as Simien & de Vaucouleurs (1986, ApJ
    302, 564) measured them, ellipticals mostly bulge, the late classes set so that the galaxies
    with F814W < 23.5 match the HST COSMOS bulge+disk fits (median B/T 0.11, 49% below 0.1).

    Parameters
    ----------
    classes : ndarray of str, shape (N,)
        :func:`template_class` of each galaxy.
    rng : numpy.random.Generator
    params : dict
        ``catalog.components``: ``bt_mean`` (class -> mean), ``bt_concentration`` (k).

    Returns
    -------
    ndarray, shape (N,), in [0, 1]
    """
    mu = np.array([params["bt_mean"][c] for c in classes], dtype=float)
    k = float(params["bt_concentration"])
    return rng.beta(mu * k, (1.0 - mu) * k)


def limit_bulge_fraction(bulge_fraction: np.ndarray, flux: np.ndarray, bulge_unit_flux: np.ndarray,
                         min_disk_share: float) -> tuple[np.ndarray, np.ndarray]:
    """Lower B/T where the older bulge SED would leave the disk (almost) no light in some band.

    The disk, total - bulge, keeps in every band b at least ``min_disk_share`` s of the share of
    the light it has at rest 5500 A: flux_b - B/T u_b >= s (1 - B/T) flux_b, i.e. its colour is at
    most -2.5 log10(s) mag bluer than the galaxy's anywhere (our choice, s = 0.1: without it the
    disk of a bulge-dominated galaxy could be 5+ mag bluer in one band than in the next).

    Parameters
    ----------
    bulge_fraction : ndarray, shape (N,)
        Drawn B/T at rest 5500 A.
    flux : ndarray, shape (N, B)
        The galaxy's band fluxes, electrons.
    bulge_unit_flux : ndarray, shape (N, B)
        Band fluxes u of the bulge template at B/T = 1, electrons.
    min_disk_share : float
        s in [0, 1).

    Returns
    -------
    bulge_fraction : ndarray, shape (N,)
        min(drawn, min_b (1 - s) flux_b / (u_b - s flux_b)) over the bands where u_b > flux_b.
    limited : ndarray of bool, shape (N,)
        Where it was lowered.
    """
    bt = np.asarray(bulge_fraction, dtype=float)
    f, u, s = np.asarray(flux, dtype=float), np.asarray(bulge_unit_flux, dtype=float), min_disk_share
    binds = u > f * (1.0 + 1e-12)
    with np.errstate(divide="ignore", invalid="ignore"):
        cap = np.min(np.where(binds, (1.0 - s) * f / (u - s * f), np.inf), axis=1)
    limited = bt > cap
    return np.where(limited, np.clip(cap, 0.0, 1.0), bt), limited


def component_band_fluxes(flux: np.ndarray, bulge_unit_flux: np.ndarray,
                          bulge_fraction: np.ndarray, knot_fraction: np.ndarray,
                          young_unit_flux: np.ndarray, young_fraction: np.ndarray) -> dict:
    """Bulge, old disk, young disk and knots band fluxes that add up to ``flux`` exactly.

    bulge = B/T u_bulge; the rest, D = flux - bulge, is the disk, whose rest-5500 light is
    (1 - B/T) A. The young disk and its knots carry a share F of it with the young SED,
    F (1 - B/T) u_young, of which the knots take ``knot_fraction`` (<= F); the old disk is the
    remainder, D - young - knots. Rests below 0 (rounding, ~1e-16 of the flux, where B/T = 1 with
    the galaxy's own template or F at its cap) are clipped to 0, the bulge or the young disk taking
    the difference, and counted.

    Parameters
    ----------
    flux : ndarray, shape (N, B)
        ``flux_<band>`` of the truth table, electrons.
    bulge_unit_flux, young_unit_flux : ndarray, shape (N, B)
        The bulge's and the young disk's SED carrying the galaxy's whole rest-5500 light,
        electrons (:func:`young_unit_flux`).
    bulge_fraction, knot_fraction, young_fraction : ndarray, shape (N,)

    Returns
    -------
    dict
        ``bulge``, ``disk_old``, ``disk_young``, ``knots``: ndarray, shape (N, B), electrons,
        >= 0, adding up to ``flux`` to 1 ulp; ``clipped``: ndarray of bool, shape (N,).
    """
    flux = np.asarray(flux, dtype=float)
    bt = np.asarray(bulge_fraction, dtype=float)[:, None]
    rest = flux - bt * bulge_unit_flux
    clipped = np.any(rest < 0, axis=1)
    rest = np.clip(rest, 0.0, None)
    disk_sed = (1.0 - bt) * np.asarray(young_unit_flux, float)
    knots = np.asarray(knot_fraction, dtype=float)[:, None] * disk_sed
    young = np.asarray(young_fraction, dtype=float)[:, None] * disk_sed - knots
    old = rest - young - knots
    neg = old < 0
    clipped |= np.any(neg, axis=1)
    young = np.clip(np.where(neg, young + old, young), 0.0, None)
    old = np.clip(rest - young - knots, 0.0, None)
    return {"bulge": flux - rest, "disk_old": old, "disk_young": young, "knots": knots,
            "clipped": clipped}


# ---------------------------------------------------------------------------------------------
# the young disk
# ---------------------------------------------------------------------------------------------
def young_template_index(template_index: np.ndarray, step: int, youngest: int, oldest: int
                         ) -> np.ndarray:
    """Index of the young disk's template: ``step`` places later (younger) in the library.

    From S0 (``oldest``) on the COSMOS library runs old to young (red to blue, but Sdm -> SB0,
    ~0.1 mag back: hence a default step of 3, the smallest for which every template's young
    partner is bluer in CSST g - z at every redshift to 3). Templates before ``oldest`` (the
    ellipticals) keep their own; clipped to ``youngest`` (SB11).

    Parameters
    ----------
    template_index : ndarray of int, shape (N,)
        The disk's template (:func:`disk_template_index`).
    step, youngest, oldest : int

    Returns
    -------
    ndarray of int, shape (N,)
    """
    t = np.asarray(template_index, dtype=int)
    return np.where(t >= oldest, np.minimum(t + int(step), youngest), t)


def draw_young_fraction(classes: np.ndarray, rng: np.random.Generator, params: dict
                        ) -> np.ndarray:
    """The young disk's share F of the disk light at rest 5500 A, Beta about the class mean.

    The means (``young_mean``) rise along the Hubble sequence as the recent star formation
    relative to the past average does (Kennicutt 1998, ARA&A 36, 189: birthrate b ~ 0.1 for Sa
    to ~1 for Sc-Irr); their level is calibrated on GAMA's size-wavelength relation with
    ``young_kappa``. A mean of 0 (ellipticals) gives 0; the deviates are drawn for every galaxy,
    so the stream does not depend on the classes.

    Parameters
    ----------
    classes : ndarray of str, shape (N,)
    rng : numpy.random.Generator
    params : dict
        ``young_mean`` (class -> mean), ``young_concentration`` (k).

    Returns
    -------
    ndarray, shape (N,), in [0, 1]
    """
    mu = np.array([params["young_mean"][c] for c in classes], dtype=float)
    m = np.clip(mu, 1e-6, 1 - 1e-6)
    k = float(params["young_concentration"])
    return np.where(mu > 0, rng.beta(m * k, (1.0 - m) * k), 0.0)


def disk_template_index(template_index: np.ndarray, disk_flux: np.ndarray,
                        template_flux: np.ndarray, oldest: int) -> np.ndarray:
    """The template of the age-ordered run (``oldest`` on) closest in shape to the disk's SED.

    The disk (total - bulge) is bluer than the galaxy's template wherever the bulge is older;
    its young part must be bluer than the disk itself, so the young step starts from the disk's
    template. Shape match: least squares in ln flux over the bands where the disk and every
    template have flux, with a free offset; never older than the galaxy's own template.
    Ellipticals (before ``oldest``) keep their own.

    Parameters
    ----------
    template_index : ndarray of int, shape (N,)
    disk_flux : ndarray, shape (N, B)
    template_flux : ndarray, shape (N, T, B)
        Every template at amplitude 1, the unit of ``disk_flux``.
    oldest : int

    Returns
    -------
    ndarray of int, shape (N,)
    """
    t = np.asarray(template_index, int)
    d = np.asarray(disk_flux, float)
    tf = np.asarray(template_flux, float)[:, oldest:, :]
    ok = (d > 0) & np.all(tf > 0, axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        diff = np.where(ok[:, None, :], np.log(d)[:, None, :] - np.log(tf), 0.0)
    nb = np.maximum(ok.sum(axis=1), 1)[:, None]
    chi2 = (diff**2).sum(axis=2) / nb - (diff.sum(axis=2) / nb) ** 2
    best = oldest + np.argmin(chi2, axis=1)
    return np.where(t >= oldest, np.maximum(best, t), t)


def young_unit_flux(young_index: np.ndarray, amplitude: np.ndarray, template_flux: np.ndarray,
                    disk_flux: np.ndarray, bulge_fraction: np.ndarray) -> np.ndarray:
    """Band fluxes of the young SED carrying the galaxy's whole rest-5500 light (amplitude A).

    A template: A times its band fluxes; :data:`YOUNG_IS_DISK`: the disk's own SED,
    disk_flux / (1 - B/T) (0 where B/T = 1).

    Parameters
    ----------
    young_index : ndarray of int, shape (N,)
    amplitude : ndarray, shape (N,)
    template_flux : ndarray, shape (N, T, B), electrons at amplitude 1
    disk_flux : ndarray, shape (N, B), electrons
    bulge_fraction : ndarray, shape (N,)

    Returns
    -------
    ndarray, shape (N, B), electrons
    """
    idx = np.asarray(young_index, int)
    rows = np.arange(len(idx))
    tmpl = np.asarray(amplitude, float)[:, None] * template_flux[rows, np.maximum(idx, 0)]
    omb = (1.0 - np.asarray(bulge_fraction, float))[:, None]
    with np.errstate(divide="ignore", invalid="ignore"):
        own = np.where(omb > 0, np.asarray(disk_flux, float) / omb, 0.0)
    return np.where((idx == YOUNG_IS_DISK)[:, None], own, tmpl)


def choose_young(template_index, young_drawn, knot_fraction, disk_flux, amplitude,
                 bulge_fraction, template_flux, names: list[str], params: dict
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The young disk's share F and template, and the knots' share, of every galaxy.

    1. The young template is ``young_step`` places younger than the disk's own
       (:func:`disk_template_index`, :func:`young_template_index`); where none is younger, the
       young disk takes the disk's own SED (:data:`YOUNG_IS_DISK`: no gradient in the disk).
       F = the drawn share, lowered where the old disk would keep less than ``min_disk_share`` of
       its rest-5500 share in some band (:func:`limit_bulge_fraction`'s rule).
    2. The knots are part of the young disk, so F >= their share. Where the young SED cannot
       carry it (small disks, where cosmoDC2's knots take up to 95% of the disk light), the step
       is lowered one place at a time, down to 0, the disk's own SED, which carries any share:
       clumps that carry most of a disk's light must have most of its SED. The knots' share is
       never lowered below what that SED allows.

    Parameters
    ----------
    template_index : ndarray of int, shape (N,)
    young_drawn, knot_fraction : ndarray, shape (N,)
    disk_flux : ndarray, shape (N, B), electrons
    amplitude, bulge_fraction : ndarray, shape (N,)
    template_flux : ndarray, shape (N, T, B), electrons at amplitude 1
    names : list of str
        The library's templates.
    params : dict
        ``young_step``, ``young_youngest``, ``bulge_oldest``, ``min_disk_share``.

    Returns
    -------
    young_fraction, young_index, knot_fraction : ndarray, shape (N,)
    """
    n, rows = len(template_index), np.arange(len(template_index))
    oldest, youngest = names.index(params["bulge_oldest"]), names.index(params["young_youngest"])
    base = disk_template_index(template_index, disk_flux, template_flux, oldest)
    one_minus_bt = (1.0 - np.asarray(bulge_fraction, float))[:, None]
    caps, idxs = [], []
    for step in range(int(params["young_step"]), -1, -1):
        idx = young_template_index(base, step, youngest, oldest)
        idx = np.where(idx == base, YOUNG_IS_DISK, idx)
        at_one = one_minus_bt * np.asarray(amplitude, float)[:, None] * template_flux[
            rows, np.maximum(idx, 0)]
        cap, _ = limit_bulge_fraction(np.ones(n), disk_flux, at_one, params["min_disk_share"])
        caps.append(np.where(idx == YOUNG_IS_DISK, np.inf, cap))
        idxs.append(idx)
    caps, idxs = np.array(caps), np.array(idxs)  # (steps, N), from young_step down to 0
    kf = np.asarray(knot_fraction, float)
    need = kf > np.minimum(young_drawn, caps[0])
    ok = caps >= kf[None, :]
    first_ok = np.where(ok.any(axis=0), np.argmax(ok, axis=0), np.argmax(caps, axis=0))
    j = np.where(need, first_ok, 0)
    cap = caps[j, rows]
    kf = np.where(need, np.minimum(kf, cap), kf)
    fy = np.where(need, np.maximum(np.minimum(young_drawn, cap), kf),
                  np.minimum(young_drawn, caps[0]))
    return fy, idxs[j, rows], kf


def disk_scale_lengths(disk_hlr, young_fraction, kappa: float, iterations: int = 60
                       ) -> tuple[np.ndarray, np.ndarray]:
    """Old and young disk half-light radii whose sum keeps the disk's half-light radius.

    The disk at rest 5500 A is (1 - F) Exp(r_old) + F Exp(kappa r_old) (the knots as their
    expectation, the young profile): solves (1 - F) P(2, b_1 x) + F P(2, b_1 x / kappa) = 1/2 for
    x = r_disk / r_old.

    Parameters
    ----------
    disk_hlr : ndarray, shape (N,), arcsec
        The disk's circularised half-light radius (:func:`component_sizes`).
    young_fraction : ndarray, shape (N,)
        F in [0, 1].
    kappa : float
        Young over old scale length, >= 1.
    iterations : int

    Returns
    -------
    old_hlr, young_hlr : ndarray, shape (N,), arcsec (circularised)
    """
    f, k = np.asarray(young_fraction, float), float(kappa)
    lo, hi = np.full(f.shape, np.log(1e-3)), np.full(f.shape, np.log(1e3))
    for _ in range(iterations):
        mid = 0.5 * (lo + hi)
        x = np.exp(mid)
        enc = ((1 - f) * sersic_enclosed_fraction(x, 1.0, DISK_SERSIC_N)
               + f * sersic_enclosed_fraction(x / k, 1.0, DISK_SERSIC_N))
        big = enc >= 0.5
        hi, lo = np.where(big, mid, hi), np.where(big, lo, mid)
    r_old = np.asarray(disk_hlr, float) / np.exp(0.5 * (lo + hi))
    return r_old, k * r_old


# ---------------------------------------------------------------------------------------------
# sizes and shapes
# ---------------------------------------------------------------------------------------------
def sersic_enclosed_fraction(radius, hlr, n: int) -> np.ndarray:
    """Fraction of a circular Sersic profile's light within ``radius``: P(2n, b_n (r/r_e)^(1/n)).

    P is the regularised lower incomplete gamma function (:func:`scipy.special.gammainc`).

    Parameters
    ----------
    radius, hlr : array_like, broadcastable, arcsec
    n : int
        1 or 4 (:data:`SERSIC_B`).

    Returns
    -------
    ndarray
    """
    x = SERSIC_B[int(n)] * (np.asarray(radius, float) / np.asarray(hlr, float)) ** (1.0 / n)
    return special.gammainc(2.0 * n, x)


#: Nodes of the angle integral of :func:`elliptical_enclosed_fraction` (the periodic trapezoid
#: rule is spectrally accurate: 64 nodes give < 1e-6 for q >= 0.05).
_THETA = (np.arange(64) + 0.5) * (np.pi / 64)


def elliptical_enclosed_fraction(radius, hlr, q, n: int) -> np.ndarray:
    """Fraction of an elliptical Sersic profile's light within a circle of ``radius``.

    For a profile sheared with its area kept (GalSim ``.shear(q=...)``; ``hlr`` circularised) the
    light within radius R is (1/2 pi) int L(R s(theta)) / s(theta)^2 dtheta with
    s^2 = q cos^2 + sin^2 / q and L :func:`sersic_enclosed_fraction`; the position angle drops out.

    Parameters
    ----------
    radius, hlr, q : array_like, broadcastable, shape (N,)
    n : int

    Returns
    -------
    ndarray, shape (N,)
    """
    r = np.asarray(radius, float)[..., None]
    h = np.asarray(hlr, float)[..., None]
    qq = np.asarray(q, float)[..., None]
    s2 = qq * np.cos(_THETA) ** 2 + np.sin(_THETA) ** 2 / qq
    return np.mean(sersic_enclosed_fraction(r * np.sqrt(s2), h, n) / s2, axis=-1)


def combined_half_light_radius(weights, hlrs, ns, qs=None, iterations: int = 60) -> np.ndarray:
    """Half-light radius (about the centre) of concentric Sersic components.

    Parameters
    ----------
    weights : sequence of ndarray, each shape (N,)
        Flux of each component in one band (any unit; negative taken as 0).
    hlrs : sequence of ndarray, each shape (N,)
        Circularised half-light radius of each component, arcsec.
    ns : sequence of int
        Sersic index of each component.
    qs : sequence of ndarray, each shape (N,), optional
        Axis ratios: the radius of the circle enclosing half the light of the sheared profile.
        None (default): of the components made round with their area kept, the circularised
        half-light radius sqrt(q) r_major a one-profile fit reports (COSMOS ``sersicfit``, the
        truth table's ``half_light_radius``).
    iterations : int
        Bisection steps in ln R.

    Returns
    -------
    ndarray, shape (N,), arcsec
        The noiseless profile's half-light radius, without PSF.
    """
    w = [np.clip(np.asarray(x, float), 0, None) for x in weights]
    total = sum(w)
    scale = np.max(np.stack([np.asarray(h, float) for h in hlrs]), axis=0)
    lo, hi = np.log(scale * 1e-4), np.log(scale * 1e3 + 1.0)
    for _ in range(iterations):
        mid = 0.5 * (lo + hi)
        if qs is None:
            enc = sum(wi * sersic_enclosed_fraction(np.exp(mid), h, n)
                      for wi, h, n in zip(w, hlrs, ns, strict=True))
        else:
            enc = sum(wi * elliptical_enclosed_fraction(np.exp(mid), h, q, n)
                      for wi, h, q, n in zip(w, hlrs, qs, ns, strict=True))
        big = enc >= 0.5 * total
        hi, lo = np.where(big, mid, hi), np.where(big, lo, mid)
    return np.exp(0.5 * (lo + hi))


def component_sizes(half_light_radius, bulge_fraction, size_ratio, iterations: int = 60
                    ) -> tuple[np.ndarray, np.ndarray]:
    """Bulge and disk half-light radii that keep the galaxy's half-light radius at rest 5500 A.

    Solves B/T P(8, b_4 (x/rho)^(1/4)) + (1 - B/T) P(2, b_1 x) = 1/2 for x = R / r_disk (circular
    profiles; rho = r_bulge / r_disk), so that a de Vaucouleurs bulge of radius rho r_disk plus an
    exponential disk of r_disk has the half-light radius R of the one-Sersic model.

    Parameters
    ----------
    half_light_radius : ndarray, shape (N,), arcsec
    bulge_fraction : ndarray, shape (N,)
    size_ratio : ndarray, shape (N,)
        rho > 0.
    iterations : int

    Returns
    -------
    bulge_hlr, disk_hlr : ndarray, shape (N,), arcsec (circularised)
    """
    bt, rho = np.asarray(bulge_fraction, float), np.asarray(size_ratio, float)
    lo, hi = np.full(bt.shape, np.log(1e-3)), np.full(bt.shape, np.log(1e3))
    for _ in range(iterations):
        mid = 0.5 * (lo + hi)
        x = np.exp(mid)
        enc = (bt * sersic_enclosed_fraction(x, rho, BULGE_SERSIC_N)
               + (1 - bt) * sersic_enclosed_fraction(x, 1.0, DISK_SERSIC_N))
        big = enc >= 0.5
        hi, lo = np.where(big, mid, hi), np.where(big, lo, mid)
    r_disk = np.asarray(half_light_radius, float) / np.exp(0.5 * (lo + hi))
    return rho * r_disk, r_disk


def component_shapes(axis_ratio, early, bulge_q0: float) -> tuple[np.ndarray, np.ndarray]:
    """Axis ratios of the bulge and the disk from the galaxy's one-profile axis ratio.

    Late types: the one-profile q is an inclined thin disk (intrinsic :data:`DISK_Q0`,
    :mod:`photoz.catalog.morphology`), so it is the disk's; the bulge is an oblate spheroid of
    intrinsic ``bulge_q0`` at the same inclination, q_b^2 = cos^2 i + q0_b^2 sin^2 i. Early
    types: bulge and disk take the one-profile q. Both share the galaxy's position angle
    (cosmoDC2 has one ``position_angle`` for both components).

    Parameters
    ----------
    axis_ratio : ndarray, shape (N,)
    early : ndarray of bool, shape (N,)
    bulge_q0 : float
        In (0, 1].

    Returns
    -------
    bulge_axis_ratio, disk_axis_ratio : ndarray, shape (N,)
    """
    q = np.clip(np.asarray(axis_ratio, float), 0.05, 1.0)
    cos2 = np.clip((q**2 - DISK_Q0**2) / (1 - DISK_Q0**2), 0.0, 1.0)
    q_bulge_late = np.sqrt(cos2 + bulge_q0**2 * (1 - cos2))
    return np.where(np.asarray(early, bool), q, q_bulge_late), q


# ---------------------------------------------------------------------------------------------
# knots
# ---------------------------------------------------------------------------------------------
def knot_fraction_median(disk_major_hlr, params: dict) -> np.ndarray:
    """Median knots' share of the disk light at the disk's major-axis half-light radius a.

    f = f_min + (f_max - f_min) / (1 + (a / a0)^slope), fit to the cosmoDC2 galaxies of the
    skyCatalogs 2.5.0 ci_sample (median 0.93 at a < 0.1", 0.51 at 0.2-0.3", 0.054 at 0.5-0.7",
    0.011-0.014 beyond 1"): cosmoDC2 capped the HST-fitted knot fraction with
    0.5 (1 - tanh(ln(a / 1.5"))) (LSSTDESC/DC2-production issue 265).

    Parameters
    ----------
    disk_major_hlr : ndarray, shape (N,), arcsec
    params : dict
        ``catalog.components``: ``knot_f_min``, ``knot_f_max``, ``knot_a0``, ``knot_slope``.

    Returns
    -------
    ndarray, shape (N,)
    """
    a, p = np.asarray(disk_major_hlr, float), params
    return p["knot_f_min"] + (p["knot_f_max"] - p["knot_f_min"]) / (
        1.0 + (a / p["knot_a0"]) ** p["knot_slope"])


def knot_probability(disk_major_hlr, redshift, params: dict) -> np.ndarray:
    """Probability that a galaxy carries knots: expit(slope ln(a / a0) - c_z ln z).

    The size slope (``knot_p_slope`` 2.256) is cosmoDC2's (maximum likelihood on the ci_sample);
    ``knot_p_a0`` and ``knot_p_z`` are fit so that the share carrying knots by redshift on the
    default truth table is cosmoDC2's (0.90 at z < 0.5 down to 0.14 at z = 2-3; 41% in all),
    because our disks are larger than cosmoDC2's at z > 0.5.

    Parameters
    ----------
    disk_major_hlr, redshift : ndarray, shape (N,)
    params : dict
        ``knot_p_a0`` (arcsec), ``knot_p_slope``, ``knot_p_z``.

    Returns
    -------
    ndarray, shape (N,), in (0, 1)
    """
    a = np.asarray(disk_major_hlr, float)
    z = np.clip(np.asarray(redshift, float), 1e-3, None)
    return special.expit(params["knot_p_slope"] * np.log(a / params["knot_p_a0"])
                         - params["knot_p_z"] * np.log(z))


def knot_sigma_arcsec(redshift) -> np.ndarray:
    """Gaussian sigma (arcsec) of a knot of :data:`KNOT_FWHM_PC` at ``redshift``.

    skyCatalogs ``GalaxyObject.get_knot_size`` uses an approximate angular-diameter distance and
    no size above z = 0.6; here the project's cosmology (:data:`photoz.catalog.morphology.COSMOLOGY`)
    at every redshift (at z = 0.6 a knot is 0.016" sigma, 2% in quadrature with the PSF's).

    Parameters
    ----------
    redshift : ndarray, shape (N,)

    Returns
    -------
    ndarray, shape (N,), arcsec
    """
    z = np.clip(np.asarray(redshift, float), 1e-4, None)
    kpc_per_arcsec = COSMOLOGY.kpc_proper_per_arcmin(z).value / 60.0
    return KNOT_FWHM_PC / 1000.0 / kpc_per_arcsec / (2.0 * np.sqrt(2.0 * np.log(2.0)))


def draw_knots(disk_major_hlr, redshift, has_disk, early, rng: np.random.Generator,
               params: dict) -> tuple[np.ndarray, np.ndarray]:
    """Which galaxies carry knots, their share of the disk light and their number.

    The share scatters about :func:`knot_fraction_median` by N(0, ``knot_sigma``) in logit; the
    number is log-normal (median ``n_knots_median``, sigma ``n_knots_sigma``), clipped to
    [``n_knots_min``, ``n_knots_max``] (cosmoDC2 ci_sample: median 27, 2-98).

    Parameters
    ----------
    disk_major_hlr, redshift : ndarray, shape (N,)
    has_disk, early : ndarray of bool, shape (N,)
        Galaxies with some disk light; early types (carry knots only with ``knots_in_early``).
    rng : numpy.random.Generator
        Three draws per galaxy, in a fixed order.
    params : dict

    Returns
    -------
    knot_fraction : ndarray, shape (N,)
        0 for a galaxy without knots.
    n_knots : ndarray of int, shape (N,)
        0 for a galaxy without knots.
    """
    n, p = len(disk_major_hlr), params
    eligible = np.asarray(has_disk, bool) & (np.ones(n, bool) if p["knots_in_early"]
                                             else ~np.asarray(early, bool))
    has = eligible & (rng.uniform(size=n) < knot_probability(disk_major_hlr, redshift, p))
    kf = special.expit(special.logit(knot_fraction_median(disk_major_hlr, p))
                       + p["knot_sigma"] * rng.standard_normal(n))
    nk = np.clip(np.round(p["n_knots_median"] * np.exp(p["n_knots_sigma"]
                                                       * rng.standard_normal(n))),
                 p["n_knots_min"], p["n_knots_max"]).astype(np.int64)
    return np.where(has, kf, 0.0), np.where(has, nk, 0)


# ---------------------------------------------------------------------------------------------
# the model
# ---------------------------------------------------------------------------------------------
def assign_components(table: pd.DataFrame, template_names, template_flux: np.ndarray,
                      amplitude: np.ndarray, early: np.ndarray, rng: np.random.Generator,
                      params: dict) -> tuple[pd.DataFrame, np.ndarray]:
    """Component parameters and band fluxes of every galaxy of a truth table.

    Parameters
    ----------
    table : pandas.DataFrame
        Truth-table rows: ``redshift``, ``sed_template``, ``half_light_radius`` (arcsec,
        circularised), ``axis_ratio`` and ``flux_<band>`` (electrons) for each band of
        ``template_flux``, in order.
    template_names : list of str
        The COSMOS library's templates in order (:func:`photoz.sed.template_names`).
    template_flux : ndarray, shape (N, T, B)
        Electrons of every template at amplitude 1, at each galaxy's redshift and E(B-V), in the
        bands of ``table``'s ``flux_<band>`` columns (the catalogue stage's flux grid).
    amplitude : ndarray, shape (N,)
        The galaxy's f_lambda at rest 5500 A: ``sed_amplitude`` (+ ``sed_amplitude_2``).
    early : ndarray of bool, shape (N,)
        Early types (:func:`photoz.catalog.morphology.is_early_type`).
    rng : numpy.random.Generator
        Every draw in a fixed order: B/T, size ratio, knots, young share.
    params : dict
        The ``catalog.components`` config section.

    Returns
    -------
    components : pandas.DataFrame, N rows
        :data:`photoz.products.catalog.TRUTH_COMPONENT_COLUMNS`: ``bulge_fraction`` (B/T at rest
        5500 A), ``bulge_template``, the components' half-light radii (arcsec, circularised;
        ``disk_half_light_radius`` the whole disk's at rest 5500 A) and axis ratios,
        ``young_fraction`` (F), ``young_template`` (a name, or ``disk``: the disk's own SED),
        ``knot_fraction`` (of the disk light at rest 5500 A), ``n_knots`` (0: none),
        ``knot_sigma`` (arcsec), and ``flux_<component>_<band>`` (electrons, adding up to
        ``flux_<band>``).
    bulge_fraction_drawn : ndarray, shape (N,)
        B/T as drawn, before :func:`limit_bulge_fraction` (for the log).
    """
    names = list(template_names)
    n, rows = len(table), np.arange(len(table))
    bands = [c[5:] for c in table.columns if c.startswith("flux_")]
    flux = table[[f"flux_{b}" for b in bands]].to_numpy(float)
    t_idx = np.array([names.index(s) for s in table["sed_template"]])
    classes = template_class(table["sed_template"])
    z, amp = table["redshift"].to_numpy(float), np.asarray(amplitude, float)
    b_idx = bulge_template_index(t_idx, z, params, names.index(params["bulge_oldest"]))
    unit = amp[:, None] * template_flux[rows, b_idx]
    bt_drawn = draw_bulge_fraction(classes, rng, params)
    bt, _ = limit_bulge_fraction(bt_drawn, flux, unit, params["min_disk_share"])
    rho = np.clip(params["size_ratio_median"]
                  * np.exp(params["size_ratio_sigma"] * rng.standard_normal(n)),
                  params["size_ratio_min"], params["size_ratio_max"])
    r_b, r_d = component_sizes(table["half_light_radius"].to_numpy(float), bt, rho)
    q_b, q_d = component_shapes(table["axis_ratio"].to_numpy(float), early, params["bulge_q0"])
    kf, nk = draw_knots(r_d / np.sqrt(q_d), z, bt < 1.0, early, rng, params)
    disk = np.clip(flux - bt[:, None] * unit, 0.0, None)
    fy, y_idx, kf = choose_young(t_idx, draw_young_fraction(classes, rng, params), kf, disk, amp,
                                 bt, template_flux, names, params)
    r_old, r_young = disk_scale_lengths(r_d, fy, params["young_kappa"])
    fluxes = component_band_fluxes(flux, unit, bt, kf,
                                   young_unit_flux(y_idx, amp, template_flux, disk, bt), fy)
    out = pd.DataFrame({
        "bulge_fraction": bt, "bulge_template": np.asarray(names)[b_idx],
        "bulge_half_light_radius": r_b, "bulge_axis_ratio": q_b,
        "disk_half_light_radius": r_d, "disk_old_half_light_radius": r_old,
        "disk_young_half_light_radius": r_young, "disk_axis_ratio": q_d,
        "young_fraction": fy,
        "young_template": np.where(y_idx == YOUNG_IS_DISK, "disk",
                                   np.asarray(names)[np.maximum(y_idx, 0)]),
        "knot_fraction": kf, "n_knots": nk, "knot_sigma": knot_sigma_arcsec(z),
    })
    for c in COMPONENTS:
        for j, b in enumerate(bands):
            out[f"flux_{c}_{b}"] = fluxes[c][:, j]
    return out, bt_drawn
