"""The CSST survey camera: band throughputs, aperture, exposures, noise and zero points.

All instrument numbers of Zhou et al. 2022 (MNRAS 512, 4593; "the paper") live here, so that
the simulation, the photometry and the MLP features read one source of truth.

Sources
-------
- Bands, exposure time (150 s), exposure counts N_exp = 4, 2, 2, 2, 2, 2, 4, sky background,
  dark current 0.02 e-/s/pixel, read noise 5 e-/pixel, 2 m aperture and 5-sigma point-source
  limits: the paper, Sect. 2 and Table 1 (PAPER_SPEC §2).
- Total-system throughputs: by default the curves shipped in the ``beamingfactor==1.0.2`` package
  (``beamingfactor/PassBandFile/<band>_throughput.txt.P``, MIT, Zheng et al. 2024,
  doi:10.3847/1538-4357/ad6b09); or any directory of two-column (Angstrom, throughput) curves
  such as the galaxyGenius copy (Zhou et al. 2025, A&A 700, A120).
- Red cutoff at 1100 nm (:data:`SILICON_CUTOFF_NM`), applied to every curve: see
  :func:`load_bandpasses`.
"""

from __future__ import annotations

import importlib.resources
from dataclasses import dataclass, field
from pathlib import Path

import galsim
import numpy as np

from photoz import BANDS
from photoz.errors import PhotozConfigError, PhotozDataError

#: Exposure time of one CSST survey exposure, s (paper Sect. 2).
T_EXP_S = 150.0
#: Number of exposures per band, NUV u g r i z y (paper Sect. 2).
N_EXP = (4, 2, 2, 2, 2, 2, 4)
#: Sky background, e-/s/pixel, NUV u g r i z y (paper Sect. 2, after Cao et al. 2018).
SKY_E_PER_S = (0.0023, 0.018, 0.142, 0.187, 0.187, 0.118, 0.035)
#: Dark current, e-/s/pixel (paper Sect. 2).
DARK_E_PER_S = 0.02
#: Read noise, e-/pixel per exposure (paper Sect. 2).
READ_NOISE_E = 5.0
#: Primary mirror diameter, m (paper Sect. 1); the default collecting area is unobscured.
APERTURE_DIAMETER_M = 2.0
#: CSST nominal pixel scale, arcsec/pixel; the paper rebinned HST to 0.075.
PIXEL_SCALE_ARCSEC = 0.074
#: 5-sigma point-source limiting AB magnitudes, NUV u g r i z y (paper Sect. 2).
LIMITING_MAG_AB = (25.4, 25.4, 26.3, 26.0, 25.9, 25.2, 24.4)
#: Red end of a silicon CCD's response, nm: hc / E_g with the band gap of silicon E_g = 1.12 eV at
#: 300 K (Sze & Ng 2007, *Physics of Semiconductor Devices*, 3rd ed., Appendix G) is 1107 nm; a
#: cooled CCD's gap is wider (Varshni 1967, Physica 34, 149, with Sze & Ng's silicon parameters:
#: 1.15 eV, 1076 nm, at 173 K), so no photon redder than this makes a photo-electron. The CSST
#: cameras use e2v CCD290-99 silicon sensors (Zheng et al. 2025, arXiv:2509.14691, for the MCI).
SILICON_CUTOFF_NM = 1100.0


def _read_curve(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Read a two-column (wavelength in Angstrom, throughput) text file.

    Raises
    ------
    PhotozDataError
        If the file is missing, unreadable, or not two increasing numeric columns.
    """
    try:
        data = np.loadtxt(path, comments="#", ndmin=2)
    except (OSError, ValueError) as exc:
        raise PhotozDataError(f"cannot read throughput curve {path}: {exc}") from exc
    if data.shape[1] < 2 or data.shape[0] < 3:
        raise PhotozDataError(
            f"throughput curve {path} must have two columns (Angstrom, throughput) and at least "
            f"3 rows; got shape {data.shape}"
        )
    wave, thr = data[:, 0], data[:, 1]
    if not np.all(np.isfinite(data[:, :2])) or np.any(np.diff(wave) <= 0):
        raise PhotozDataError(f"throughput curve {path}: wavelengths must be finite and increasing")
    return wave, np.clip(thr, 0.0, None)


def _curve_path(source: str, band: str) -> Path:
    """Locate the throughput file of ``band`` for a throughput ``source``.

    ``source`` is ``"beamingfactor"`` (the pip package) or a directory holding ``<band>.fil``,
    ``<band>_throughput.txt`` or ``<band>.txt``.
    """
    if source == "beamingfactor":
        root = importlib.resources.files("beamingfactor") / "PassBandFile"
        return Path(str(root / f"{band}_throughput.txt.P"))
    directory = Path(source)
    if not directory.is_dir():
        raise PhotozConfigError(
            f"instrument.throughput: {source!r} is neither 'beamingfactor' nor a directory"
        )
    for name in (f"{band}.fil", f"{band}_throughput.txt", f"{band}.txt", f"{band}.dat"):
        if (directory / name).is_file():
            return directory / name
    raise PhotozDataError(
        f"no throughput curve for band {band} in {directory} "
        f"(looked for {band}.fil, {band}_throughput.txt, {band}.txt, {band}.dat)"
    )


def load_curves(source: str = "beamingfactor") -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Read the seven throughput curves of ``source`` as tabulated, before any cutoff.

    Parameters
    ----------
    source : str
        As in :func:`load_bandpasses`.

    Returns
    -------
    dict of str to (ndarray, ndarray)
        Per band: wavelength (Angstrom, increasing) and throughput (clipped at 0), shape (n,) each.

    Raises
    ------
    PhotozConfigError, PhotozDataError
        For an unknown source or a missing/unreadable curve.
    """
    return {band: _read_curve(_curve_path(source, band)) for band in BANDS}


def apply_red_cutoff(wave: np.ndarray, thr: np.ndarray, cutoff_nm: float = SILICON_CUTOFF_NM
                     ) -> np.ndarray:
    """Zero a throughput curve redward of ``cutoff_nm``.

    Parameters
    ----------
    wave : ndarray, shape (n,), Angstrom
    thr : ndarray, shape (n,)
    cutoff_nm : float, nm
        Default :data:`SILICON_CUTOFF_NM` (1100 nm).

    Returns
    -------
    ndarray, shape (n,)
        ``thr`` with every sample at ``wave > 10 cutoff_nm`` set to 0 (the linear interpolant then
        falls to zero within one grid step past the cutoff).
    """
    return np.where(np.asarray(wave) > 10.0 * cutoff_nm, 0.0, np.asarray(thr, dtype=float))


def load_bandpasses(source: str = "beamingfactor", red_cutoff_nm: float | None = SILICON_CUTOFF_NM
                    ) -> dict[str, galsim.Bandpass]:
    """Build the seven CSST total-throughput bandpasses, cut where silicon stops responding.

    Parameters
    ----------
    source : str
        ``"beamingfactor"`` (default, the ``beamingfactor==1.0.2`` package's curves) or a
        directory of two-column curves in Angstrom (e.g. ``<data_dir>/csst/throughput_galaxyGenius``).
    red_cutoff_nm : float or None, nm
        Throughput is zero redward of this (default :data:`SILICON_CUTOFF_NM`, 1100 nm); ``None``
        keeps the curves as tabulated (for comparisons only).

    Notes
    -----
    Why the cutoff. The ``beamingfactor`` z and y curves follow the galaxyGenius ones (same
    author as the paper) sample for sample down to 1050 nm, where galaxyGenius's table ends at
    throughput 0.015; beamingfactor then continues with a slowly falling tail (0.016 at 1050 nm,
    0.011 at 1200 nm, 0.003 at 1500 nm, zero only at 1790 nm). Photon-weighted, that tail holds 7.0%
    of the z band and 18.4% of the y band beyond 1100 nm. Neither package documents it, and the
    z and y curves are identical redward of 940 nm, so the red edge of both is the detector's QE,
    which for silicon ends at the band-gap wavelength (:data:`SILICON_CUTOFF_NM`). The paper's
    own y curve (its Fig. 1, as read in issue 18) reaches zero near 1070 nm. The galaxyGenius
    curves end before the cutoff and are unchanged by it.

    Measured effect on the beamingfactor curves (2 m unobscured): zero points z 25.299 -> 25.258,
    y 24.054 -> 23.920 mag (galaxyGenius: 25.201, 23.848); pivot wavelengths z 9198 -> 9040 A,
    y 10070 -> 9676 A (galaxyGenius 9020, 9629); NUV-i unchanged.

    Returns
    -------
    dict of str to galsim.Bandpass
        Keyed by band name (NUV u g r i z y); wavelengths in nm, AB zero point attached
        (``bp.zeropoint`` = AB magnitude of 1 photon/s/cm^2).

    Raises
    ------
    PhotozConfigError, PhotozDataError
        For an unknown source or a missing/unreadable curve.
    """
    bandpasses = {}
    for band, (wave, thr) in load_curves(source).items():
        if red_cutoff_nm is not None:
            thr = apply_red_cutoff(wave, thr, red_cutoff_nm)
            if not np.any(thr > 0):
                raise PhotozConfigError(
                    f"instrument: red cutoff {red_cutoff_nm} nm leaves no throughput in band {band}"
                )
        table = galsim.LookupTable(wave, thr, interpolant="linear")
        bp = galsim.Bandpass(table, wave_type="Angstrom").truncate(relative_throughput=1e-3)
        bandpasses[band] = bp.withZeropoint("AB")
    return bandpasses


@dataclass
class Instrument:
    """The CSST survey camera as the simulation and photometry see it.

    Parameters
    ----------
    bandpasses : dict of str to galsim.Bandpass
        Total throughput per band (filter x detector QE x mirrors), from :func:`load_bandpasses`.
    aperture_diameter : float, m
        Primary mirror diameter; default 2.0 (paper Sect. 1).
    obscuration : float
        Linear central obscuration as a fraction of the diameter; default 0 (unobscured, the
        convention of the zero points quoted in PAPER_SPEC §2).
    pixel_scale : float, arcsec/pixel
        Default 0.074 (CSST nominal); the paper used 0.075.
    exposure_time : float, s
        Time per exposure; default 150.
    n_exposures : tuple of int, shape (7,)
        Exposures per band; default 4, 2, 2, 2, 2, 2, 4.
    sky : tuple of float, shape (7,), e-/s/pixel
        Sky background per band; default the paper's values.
    dark_current : float, e-/s/pixel
        Default 0.02.
    read_noise : float, e-/pixel per exposure
        Default 5.
    limiting_mag : tuple of float, shape (7,), AB mag
        5-sigma point-source limits, used by the MLP features (paper eq. 7).
    """

    bandpasses: dict[str, galsim.Bandpass]
    aperture_diameter: float = APERTURE_DIAMETER_M
    obscuration: float = 0.0
    pixel_scale: float = PIXEL_SCALE_ARCSEC
    exposure_time: float = T_EXP_S
    n_exposures: tuple[int, ...] = N_EXP
    sky: tuple[float, ...] = SKY_E_PER_S
    dark_current: float = DARK_E_PER_S
    read_noise: float = READ_NOISE_E
    limiting_mag: tuple[float, ...] = LIMITING_MAG_AB
    bands: tuple[str, ...] = field(default=BANDS)

    def __post_init__(self) -> None:
        for name in ("n_exposures", "sky", "limiting_mag"):
            value = getattr(self, name)
            if len(value) != len(self.bands):
                raise PhotozConfigError(
                    f"instrument.{name}: needs {len(self.bands)} values ({' '.join(self.bands)}), "
                    f"got {len(value)}"
                )
        missing = [b for b in self.bands if b not in self.bandpasses]
        if missing:
            raise PhotozConfigError(f"instrument: no bandpass for bands {missing}")

    @property
    def area(self) -> float:
        """Collecting area, cm^2: pi (D/2)^2 (1 - obscuration^2)."""
        radius_cm = 50.0 * self.aperture_diameter
        return float(np.pi * radius_cm**2 * (1.0 - self.obscuration**2))

    @property
    def total_exposure_time(self) -> np.ndarray:
        """t_exp N_exp per band, s; shape (7,). The F = C t_exp N_exp of paper eq. 2."""
        return self.exposure_time * np.asarray(self.n_exposures, dtype=float)

    def zero_point(self) -> np.ndarray:
        """AB magnitude giving 1 e-/s in each band; shape (7,).

        ZP = zp_photon + 2.5 log10(A), with zp_photon the AB magnitude of 1 photon/s/cm^2 through
        the total throughput (GalSim's ``Bandpass.withZeropoint('AB')``) and A the collecting area
        in cm^2. This is paper eq. 1 with S = the AB reference spectrum.
        """
        zp = [self.bandpasses[b].zeropoint for b in self.bands]
        return np.asarray(zp) + 2.5 * np.log10(self.area)

    def pivot_wavelength(self) -> np.ndarray:
        """Pivot wavelength per band, Angstrom; shape (7,).

        lambda_p = sqrt(int T lambda dlambda / int T / lambda dlambda) (Tokunaga & Vacca 2005,
        eq. A11), integrated on the curve's own wavelength grid.
        """
        out = []
        for b in self.bands:
            bp = self.bandpasses[b]
            wave = np.asarray(bp.wave_list, dtype=float)
            thr = bp(wave)
            out.append(10.0 * np.sqrt(np.trapezoid(thr * wave, wave) / np.trapezoid(thr / wave, wave)))
        return np.asarray(out)

    def background_sigma(self) -> np.ndarray:
        """Background noise per pixel N_bkg, e-; shape (7,).

        Paper eq. 4: N_bkg^2 = (B_sky + B_dark) t_exp N_exp + R_n^2 N_exp. With the paper's numbers
        this gives 10.65, 7.84, 9.93, 10.59, 10.59, 9.56, 11.53 e-.
        """
        n_exp = np.asarray(self.n_exposures, dtype=float)
        sky = np.asarray(self.sky, dtype=float)
        var = (sky + self.dark_current) * self.exposure_time * n_exp + self.read_noise**2 * n_exp
        return np.sqrt(var)

    def background_per_pixel(self) -> np.ndarray:
        """Expected sky + dark electrons per pixel over all exposures, (B_sky + B_dark) t N; shape (7,)."""
        sky = np.asarray(self.sky, dtype=float)
        return (sky + self.dark_current) * self.total_exposure_time

    def mag_to_electrons(self, mag: np.ndarray) -> np.ndarray:
        """Expected electrons over all exposures for AB magnitudes ``mag``.

        Parameters
        ----------
        mag : ndarray, shape (..., 7), AB mag

        Returns
        -------
        ndarray, shape (..., 7), electrons
            F = 10^(-0.4 (m - ZP)) t_exp N_exp (paper eqs. 1-2).
        """
        mag = np.asarray(mag, dtype=float)
        return 10.0 ** (-0.4 * (mag - self.zero_point())) * self.total_exposure_time

    def electrons_to_mag(self, flux: np.ndarray) -> np.ndarray:
        """AB magnitudes for electrons over all exposures; NaN where ``flux <= 0``.

        Parameters
        ----------
        flux : ndarray, shape (..., 7), electrons
        """
        flux = np.asarray(flux, dtype=float)
        with np.errstate(divide="ignore", invalid="ignore"):
            mag = self.zero_point() - 2.5 * np.log10(flux / self.total_exposure_time)
        return np.where(flux > 0, mag, np.nan)

    def limiting_flux(self) -> np.ndarray:
        """Electrons of a source at the band's 5-sigma limiting magnitude; shape (7,).

        The F_lim of paper eq. 7.
        """
        return self.mag_to_electrons(np.asarray(self.limiting_mag, dtype=float))


def load_instrument(cfg: dict | None = None) -> Instrument:
    """Build the :class:`Instrument` from the ``instrument`` section of the config.

    Parameters
    ----------
    cfg : dict, optional
        Keys (all optional): ``throughput`` (``"beamingfactor"`` or a directory),
        ``aperture_diameter`` (m), ``obscuration``, ``pixel_scale`` (arcsec), ``exposure_time`` (s),
        ``n_exposures`` (7 ints), ``sky`` (7 floats, e-/s/pixel), ``dark_current`` (e-/s/pixel),
        ``read_noise`` (e-), ``limiting_mag`` (7 AB mags). Missing keys take the paper's values.

    Raises
    ------
    PhotozConfigError
        For an unknown key or a list of the wrong length.
    """
    cfg = dict(cfg or {})
    source = str(cfg.pop("throughput", "beamingfactor"))
    known = {
        "aperture_diameter", "obscuration", "pixel_scale", "exposure_time", "n_exposures",
        "sky", "dark_current", "read_noise", "limiting_mag",
    }
    unknown = set(cfg) - known
    if unknown:
        raise PhotozConfigError(f"instrument: unknown keys {sorted(unknown)}; known: {sorted(known)}")
    for key in ("n_exposures", "sky", "limiting_mag"):
        if key in cfg:
            cfg[key] = tuple(cfg[key])
    return Instrument(bandpasses=load_bandpasses(source), **cfg)
