"""Drawing one galaxy's seven-band CSST stamp with GalSim (the rendering of :mod:`photoz.simulate`).

Morphology, flux, PSF and noise (paper eqs. 1-4) as the notes of :mod:`photoz.simulate` describe;
this module draws, :mod:`photoz.simulate` reads the truth table and writes the shards
(:mod:`photoz.products`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import galsim
import numpy as np

from photoz.errors import PhotozConfigError
from photoz.instrument import Instrument
from photoz.simulate.psf import build_psfs

logger = logging.getLogger(__name__)

#: Step in ln(n) of the grid the Sersic index is rounded to: about 2% in n (0.02 at n = 1, 0.08 at
#: n = 4), 77 values over GalSim's [0.3, 6.2]. GalSim keeps the last 100 Sersic profiles' Hankel
#: tables (its ``max_sersic_cache``); a grid finer than that (e.g. ``COSMOSCatalog``'s fixed 0.05
#: steps, 119 values) thrashes the cache and costs 80-190 ms per galaxy of n >= 4.
SERSIC_LOG_STEP = 0.04
#: Range of Sersic indices GalSim supports; indices outside are clipped to it.
SERSIC_N_MIN, SERSIC_N_MAX = 0.3, 6.2

#: With ``psf: none`` a parametric galaxy is still convolved with a Gaussian of this sigma, in
#: pixels (0.0185" at 0.074"/px). Without it GalSim's FFT for a cuspy Sersic (n >= 4, small
#: radius) needs maxk up to 8000 arcsec^-1: 22 s and 14 GB for one n = 6, 0.03" galaxy. The
#: Gaussian adds 1/16 px^2 to the second moments (the pixel's own boxcar adds 1/12), leaves the
#: stamp flux unchanged and lowers the peak pixel of that extreme galaxy by 2%.
NONE_PSF_SIGMA_PIXELS = 0.25


# --------------------------------------------------------------------------------------------
# Seeds and GalSim settings
# --------------------------------------------------------------------------------------------
def galaxy_seed(seed: int, object_id: int) -> int:
    """Seed of one galaxy's random numbers, from the run seed and its ``object_id``.

    ``np.random.SeedSequence([seed, object_id])`` mixes the two integers with a well-tested hash
    (no Python ``hash``, which is salted per process), so the seed, and hence the galaxy's pixels,
    depend on nothing else: not on the shard, the row order or the process.

    Parameters
    ----------
    seed : int
        Run seed (config ``seed``).
    object_id : int
        The galaxy's id; negative ids are taken modulo 2^64.

    Returns
    -------
    int
        In [1, 2^32 - 1] (GalSim treats 0 as "seed from the clock", so 0 is never returned).
    """
    entropy = [int(seed) % 2**64, int(object_id) % 2**64]
    value = int(np.random.SeedSequence(entropy).generate_state(1, dtype=np.uint32)[0])
    return value if value != 0 else 0x9E3779B9


def make_gsparams(gsp: dict) -> galsim.GSParams:
    """``galsim.GSParams`` from the ``simulate.gsparams`` dict.

    Raises
    ------
    PhotozConfigError
        If a key is not a GSParams argument or a value is invalid.
    """
    try:
        return galsim.GSParams(**gsp)
    except (TypeError, ValueError, galsim.GalSimError) as exc:
        raise PhotozConfigError(f"simulate.gsparams: {gsp!r} rejected by galsim.GSParams: {exc}") from exc


# --------------------------------------------------------------------------------------------
# Profiles
# --------------------------------------------------------------------------------------------
def round_sersic(n: float) -> float:
    """Sersic index clipped to GalSim's [0.3, 6.2] and rounded on a grid uniform in ln(n).

    The grid is n_k = 0.3 exp(k * :data:`SERSIC_LOG_STEP`), so galaxies share a bounded set of
    indices and GalSim's Sersic cache is reused (the idea of ``galsim.COSMOSCatalog``'s
    ``sersic_prec``, with relative steps sized to GalSim's cache).

    Parameters
    ----------
    n : float

    Returns
    -------
    float
        Within 2% of ``n`` for 0.3 <= n <= 6.2.
    """
    n = min(max(float(n), SERSIC_N_MIN), SERSIC_N_MAX)
    k = round(np.log(n / SERSIC_N_MIN) / SERSIC_LOG_STEP)
    return float(min(SERSIC_N_MIN * np.exp(k * SERSIC_LOG_STEP), SERSIC_N_MAX))


def sersic_galaxy(
    sersic_n: float,
    half_light_radius: float,
    axis_ratio: float,
    position_angle: float,
    gsparams: galsim.GSParams | None = None,
) -> galsim.GSObject:
    """Unit-flux elliptical Sersic profile of one truth-table row.

    Parameters
    ----------
    sersic_n : float
        Clipped to [0.3, 6.2] and rounded to within 2% (:func:`round_sersic`).
    half_light_radius : float, arcsec
        Of the circularised profile (GalSim's ``shear`` keeps the area, so this is sqrt(a b)).
    axis_ratio : float
        b/a in (0, 1].
    position_angle : float, degrees
        Of the major axis, counter-clockwise from +x.
    gsparams : galsim.GSParams, optional

    Returns
    -------
    galsim.GSObject
    """
    gal = galsim.Sersic(n=round_sersic(sersic_n), half_light_radius=half_light_radius,
                        flux=1.0, gsparams=gsparams)
    if axis_ratio < 1.0:
        gal = gal.shear(q=axis_ratio, beta=position_angle * galsim.degrees)
    return gal


def component_profiles(row, gsparams: galsim.GSParams | None, rng: galsim.BaseDeviate
                       ) -> dict[str, galsim.GSObject]:
    """Unit-flux profiles of one galaxy's components (:mod:`photoz.catalog.components`).

    As skyCatalogs ``GalaxyObject.get_gsobject_components`` builds them: a de Vaucouleurs bulge
    and exponential disks (here an old and a young one), each sheared to its axis ratio at the
    galaxy's position angle, and ``galsim.RandomKnots(n_knots, profile=<the sheared young disk>)``:
    point knots, which the drawing gives the knots' Gaussian size (``get_knot_size``: 250 pc FWHM;
    :func:`knot_image_profile`).

    Parameters
    ----------
    row : namedtuple or pandas row
        With ``bulge_half_light_radius``, ``disk_old_half_light_radius``,
        ``disk_young_half_light_radius`` (arcsec, circularised), ``bulge_axis_ratio``,
        ``disk_axis_ratio``, ``position_angle`` (degrees), ``n_knots`` and ``knot_sigma``
        (arcsec).
    gsparams : galsim.GSParams or None
    rng : galsim.BaseDeviate
        The galaxy's own deviate (:func:`galaxy_seed`): the knots take 2 n_knots values from it
        before the noise, so they depend on (seed, object_id) only, not on the shard.

    Returns
    -------
    dict of str to galsim.GSObject
        ``bulge``, ``disk_old``, ``disk_young`` and, where ``n_knots`` > 0, ``knots``.
    """
    beta = float(row.position_angle) * galsim.degrees
    parts = {}
    for name, cls, size, q in (
            ("bulge", galsim.DeVaucouleurs, row.bulge_half_light_radius, row.bulge_axis_ratio),
            ("disk_old", galsim.Exponential, row.disk_old_half_light_radius, row.disk_axis_ratio),
            ("disk_young", galsim.Exponential, row.disk_young_half_light_radius,
             row.disk_axis_ratio)):
        prof = cls(half_light_radius=float(size), flux=1.0, gsparams=gsparams)
        parts[name] = prof.shear(q=float(q), beta=beta) if q < 1.0 else prof
    if int(row.n_knots) > 0:
        parts["knots"] = galsim.RandomKnots(int(row.n_knots), profile=parts["disk_young"],
                                            rng=rng, gsparams=gsparams)
    return parts


def knot_image_profile(knots: galsim.RandomKnots, knot_sigma: float, psf: galsim.GSObject,
                       gsparams: galsim.GSParams | None = None) -> galsim.GSObject:
    """The knots convolved with their Gaussian size (arcsec) and the PSF, ready to draw.

    With a Gaussian PSF the convolution of each point with two Gaussians is one Gaussian of the
    summed variance, so the knots are drawn as a ``galsim.Sum`` of shifted Gaussians: exactly
    the same profile as ``Convolve(knots, Gaussian(knot_sigma), psf)``, 3x faster to draw (2.7
    vs 7.6 ms for a 64-pixel stamp; the FFT of point sources needs a large k grid). Any other PSF
    takes the general convolution.

    Parameters
    ----------
    knots : galsim.RandomKnots
    knot_sigma : float, arcsec
    psf : galsim.GSObject
    gsparams : galsim.GSParams, optional

    Returns
    -------
    galsim.GSObject
        Unit flux.
    """
    if isinstance(psf, galsim.Gaussian):
        sigma = float(np.hypot(psf.sigma, knot_sigma))
        flux = 1.0 / len(knots.points)
        return galsim.Sum([galsim.Gaussian(sigma=sigma, flux=flux, gsparams=gsparams).shift(x, y)
                           for x, y in knots.points], gsparams=gsparams)
    return galsim.Convolve([knots, galsim.Gaussian(sigma=knot_sigma, gsparams=gsparams), psf],
                           gsparams=gsparams)


# --------------------------------------------------------------------------------------------
# Drawing
# --------------------------------------------------------------------------------------------
@dataclass
class _Band:
    """Per-band constants: background electrons per pixel, read noise over N_exp, eq. 4 sigma."""

    sky: float
    read_noise: float
    sigma: float


class StampSimulator:
    """Draws the seven-band stamps of galaxies; holds the PSFs, noise levels and GalSim settings.

    Parameters
    ----------
    instrument : photoz.instrument.Instrument
        Pixel scale, exposures, sky, dark current and read noise (paper Sect. 2).
    sim_cfg : dict
        The schema-filled ``simulate`` config section (``photoz.config.default_config()``):
        ``stamp_size``, ``psf``, ``psf_r80``, ``psf_dir``, ``add_noise``, ``gsparams``.
    real_catalog : galsim.RealGalaxyCatalog, optional
        Needed for galaxies with ``real_image_index >= 0``.
    data_dir : str or Path, optional
        For ``psf: images`` without ``psf_dir``.

    Raises
    ------
    PhotozConfigError, PhotozDataError
        For a bad config or unreadable PSF images.
    """

    def __init__(
        self,
        instrument: Instrument,
        sim_cfg: dict,
        real_catalog: galsim.RealGalaxyCatalog | None = None,
        data_dir: str | Path | None = None,
    ) -> None:
        self.cfg = sim_cfg
        self.instrument = instrument
        self.bands = tuple(instrument.bands)
        self.scale = float(instrument.pixel_scale)
        self.size = self.cfg["stamp_size"]
        self.add_noise = bool(self.cfg["add_noise"])
        self.gsparams = make_gsparams(self.cfg["gsparams"])
        self.psfs, self.psf_pixelised = build_psfs(
            self.cfg["psf"], self.bands, r80=self.cfg["psf_r80"], psf_dir=self.cfg["psf_dir"],
            data_dir=data_dir, gsparams=self.gsparams,
        )
        self.same_psf = all(p is self.psfs[0] for p in self.psfs)
        self.real_catalog = real_catalog
        sky = instrument.background_per_pixel()
        read = instrument.read_noise * np.sqrt(np.asarray(instrument.n_exposures, dtype=float))
        sigma = instrument.background_sigma()
        self.band_noise = [
            _Band(float(s), float(r), float(g)) for s, r, g in zip(sky, read, sigma, strict=True)
        ]

    # ---- profiles ---------------------------------------------------------------------------
    def _draw(self, prof: galsim.GSObject, pixelised: bool) -> galsim.Image:
        method = "no_pixel" if pixelised else "auto"
        return prof.drawImage(nx=self.size, ny=self.size, scale=self.scale, method=method)

    def _parametric(self, row) -> list[galsim.Image]:
        """Unit-flux noiseless images of a Sersic galaxy, one per band (shared when the PSF is)."""
        gal = sersic_galaxy(row.sersic_n, row.half_light_radius, row.axis_ratio,
                            row.position_angle, self.gsparams)
        if self.same_psf:
            psf = self.psfs[0]
            if psf is None:
                psf = galsim.Gaussian(sigma=NONE_PSF_SIGMA_PIXELS * self.scale,
                                      gsparams=self.gsparams)
            prof = galsim.Convolve(gal, psf, gsparams=self.gsparams)
            image = self._draw(prof, self.psf_pixelised)
            return [image] * len(self.bands)
        return [
            self._draw(galsim.Convolve(gal, psf, gsparams=self.gsparams), self.psf_pixelised)
            for psf in self.psfs
        ]

    def _components(self, row, rng: galsim.BaseDeviate) -> list[galsim.Image]:
        """Unit-flux noiseless images of a bulge + disks + knots galaxy, one per band.

        Each component (:func:`component_profiles`) is drawn once per distinct PSF at unit flux;
        a band's image is their sum weighted by each component's share of the band flux, so the
        galaxy's colour changes across the image (a linear sum per band: the PSF does not vary
        within a band, so no per-wavelength drawing is needed).
        """
        parts = component_profiles(row, self.gsparams, rng)
        cache: dict[int, dict[str, np.ndarray]] = {}
        images = []
        for band, psf in zip(self.bands, self.psfs, strict=True):
            if id(psf) not in cache:
                if psf is None:
                    psf = galsim.Gaussian(sigma=NONE_PSF_SIGMA_PIXELS * self.scale,
                                          gsparams=self.gsparams)
                drawn = {c: galsim.Convolve(prof, psf, gsparams=self.gsparams)
                         for c, prof in parts.items() if c != "knots"}
                if "knots" in parts:
                    drawn["knots"] = knot_image_profile(parts["knots"], float(row.knot_sigma),
                                                        psf, self.gsparams)
                cache[id(psf)] = {c: self._draw(prof, self.psf_pixelised).array
                                  for c, prof in drawn.items()}
            unit = cache[id(psf)]
            total = float(getattr(row, f"flux_{band}"))
            image = sum(float(getattr(row, f"flux_{c}_{band}")) * unit[c] for c in parts)
            images.append(galsim.Image(image / total if total > 0 else image * 0.0,
                                       scale=self.scale))
        return images

    def _real(self, index: int, rng: galsim.BaseDeviate) -> tuple[list[galsim.Image], list[float]]:
        """Unit-flux images of a COSMOS real galaxy, with its HST noise whitened.

        Returns the images and the (white) variance of the noise they carry, per band, at unit
        flux. The profile is convolved with the pixel explicitly and drawn with ``no_pixel`` so
        that the correlated noise GalSim propagates (``prof.noise``) includes the pixel response
        before ``whitenImage`` (GalSim, ``CorrelatedNoise.whitenImage``).
        """
        if self.real_catalog is None:
            raise PhotozConfigError(
                "simulate: the truth table has real_image_index >= 0 but no RealGalaxyCatalog was "
                "given (catalog.cosmos.dir / file_name with use_real_images: true)"
            )
        rg = galsim.RealGalaxy(self.real_catalog, index=int(index), rng=rng, flux=1.0,
                               gsparams=self.gsparams)
        pixel = galsim.Pixel(self.scale)
        images, variances = [], []
        cache: dict[int, tuple[galsim.Image, float]] = {}
        for psf in self.psfs:
            key = id(psf)
            if key not in cache:
                if psf is None:
                    # The paper's choice: the HST image as it is (HST PSF kept), rebinned.
                    parts = [rg, rg.original_psf, pixel]
                elif self.psf_pixelised:
                    parts = [rg, psf]
                else:
                    parts = [rg, psf, pixel]
                prof = galsim.Convolve(parts, gsparams=self.gsparams)
                image = prof.drawImage(nx=self.size, ny=self.size, scale=self.scale,
                                       method="no_pixel")
                noise = prof.noise.copy(rng=rng)
                var = float(noise.whitenImage(image))
                cache[key] = (image, var)
            images.append(cache[key][0])
            variances.append(cache[key][1])
        return images, variances

    # ---- one galaxy -------------------------------------------------------------------------
    def draw_galaxy(
        self, row, seed: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """The seven-band stamp of one truth-table row.

        Parameters
        ----------
        row : namedtuple or pandas row
            With ``object_id``, ``flux_<band>`` (electrons), the Sersic columns and
            ``real_image_index``.
        seed : int
            The run seed; the galaxy's deviate is ``galsim.BaseDeviate(galaxy_seed(seed, id))``.

        Returns
        -------
        stamp : ndarray, shape (7, H, W), float32, electrons
            Background-subtracted; noisy unless ``add_noise`` is false.
        noise_sigma : ndarray, shape (7,), float32, electrons
            Background pixel sigma per band: eq. 4 N_bkg (or the whitened HST noise where that
            is larger); 0 without noise.
        """
        rng = galsim.BaseDeviate(galaxy_seed(seed, int(row.object_id)))
        real_index = int(getattr(row, "real_image_index", -1))
        if real_index >= 0 and self.real_catalog is not None:
            unit_images, unit_vars = self._real(real_index, rng)
        elif real_index >= 0:
            self._real(real_index, rng)  # raises the config error
        elif int(getattr(row, "n_knots", -1)) >= 0:  # catalog.galaxy_model bulge_disk_knots
            unit_images, unit_vars = self._components(row, rng), [0.0] * len(self.bands)
        else:
            unit_images, unit_vars = self._parametric(row), [0.0] * len(self.bands)
        stamp = np.empty((len(self.bands), self.size, self.size), dtype=np.float32)
        sigma = np.zeros(len(self.bands), dtype=np.float32)
        for j, band in enumerate(self.bands):
            flux = float(getattr(row, f"flux_{band}"))
            image = unit_images[j] * flux
            if self.add_noise:
                sigma[j] = self._add_noise(image, unit_vars[j] * flux**2, self.band_noise[j], rng)
            elif unit_vars[j] > 0:
                sigma[j] = np.sqrt(unit_vars[j]) * flux
            stamp[j] = image.array
        return stamp, sigma

    @staticmethod
    def _add_noise(image: galsim.Image, carried_var: float, band: _Band,
                   rng: galsim.BaseDeviate) -> float:
        """Add eq. 4 noise in place, less the white noise the image already carries.

        Parametric galaxies (noiseless image, ``carried_var == 0``):
        ``galsim.CCDNoise(sky_level=s, gain=1, read_noise=r)`` adds Poisson noise of (image + s),
        subtracts s again and adds Gaussian read noise r, with s = (B_sky + B_dark) t_exp N_exp
        and r^2 = R_n^2 N_exp: blank-sky variance N_bkg^2 of eq. 4.

        Real galaxies carry whitened HST noise of variance v (in e-^2 after scaling to the band's
        flux). Paper eq. 3 tops it up: sigma_add^2 = N_bkg^2 - v. A Poisson draw on a noisy image
        is biased (GalSim clips negative expectations to 0, which at v ~ sky adds ~ +2 e- per
        pixel in NUV), so here the source and sky Poisson terms take their Gaussian limit:
        ``galsim.VariableGaussianNoise`` with per-pixel variance max(image, 0) + N_bkg^2 - v.

        Returns
        -------
        float
            The resulting background sigma, electrons: N_bkg, or sqrt(v) if v > N_bkg^2.
        """
        if carried_var <= 0:
            image.addNoise(galsim.CCDNoise(rng, sky_level=band.sky, gain=1.0,
                                           read_noise=band.read_noise))
            return band.sigma
        top_up = max(band.sigma**2 - carried_var, 0.0)
        variance = galsim.Image(np.maximum(image.array, 0.0) + top_up, bounds=image.bounds,
                                scale=image.scale)
        image.addNoise(galsim.VariableGaussianNoise(rng, variance))
        return float(np.sqrt(max(band.sigma**2, carried_var)))
