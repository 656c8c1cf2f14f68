"""CSST seven-band galaxy stamps drawn with GalSim (Zhou et al. 2022, Sect. 2).

For every galaxy of the truth table (docs/data_products.md §1) this module draws a stack of seven
stamps, NUV u g r i z y, in electrons, background-subtracted, at the CSST pixel scale, and writes
them to sharded HDF5 files (docs/data_products.md §2).

What is drawn
-------------
- Morphology: the same in every band (the paper used one F814W morphology and no colour
  gradient). Parametric galaxies are a ``galsim.Sersic`` of the truth table's ``sersic_n``,
  ``half_light_radius``, ``axis_ratio`` and ``position_angle``; rows with
  ``real_image_index >= 0`` (COSMOS with real images) are a ``galsim.RealGalaxy`` (HST PSF
  deconvolved).
- Flux: the galaxy's total flux in band j is ``flux_<band>`` of the truth table, the expected
  electrons F = C t_exp N_exp of paper eqs. 1-2. The stamp holds that flux less what falls outside
  it.
- PSF: :mod:`photoz.psf` (Gaussian with R80 = 0.15" by default, CSST PSF images, or none).
- Noise, paper eq. 4: Poisson noise of source + sky + dark current and Gaussian read noise over
  N_exp exposures, added with ``galsim.CCDNoise`` on the image with the background level added and
  then subtracted, so blank-sky pixels have sigma N_bkg = sqrt((B_sky + B_dark) t_exp N_exp +
  R_n^2 N_exp). Real galaxies carry their own HST noise: it is whitened with GalSim's
  correlated-noise tools and topped up to N_bkg (paper eq. 3: sigma_add^2 = N_bkg^2 - sigma_HST^2)
  with ``galsim.VariableGaussianNoise`` (source + sky Poisson in the Gaussian limit).
  Known limits: (1) beyond the HST postage stamp (often 1-2" across, smaller than the 4.7" CSST
  stamp) there is no HST noise, so only the whitening noise plus the top-up is there: measured
  sigma 2-3% below N_bkg in the corners (RealGalaxy's ``noise_pad_size`` would fix it, but in
  GalSim 2.8.5 the padded noise came out ~27x the variance its noise model reports, so it is
  not used); (2) where the CSST PSF is sharper than HST's F814W PSF (the ``images`` PSFs in
  NUV-g) the deconvolved HST noise exceeds N_bkg for many galaxies; ``noise_sigma`` then reports
  the larger, true sigma.

Speed
-----
When the PSF is the same in every band (``gaussian`` or ``none``), the convolved profile is drawn
once per galaxy at unit flux and scaled by each band's flux: the seven bands cost one FFT. The
Sersic index is rounded to a grid of 77 values 2% apart (:func:`round_sersic`, the idea of
``galsim.COSMOSCatalog``'s ``sersic_prec``) so GalSim's cache of 100 Sersic profiles is reused;
otherwise every new index costs 2-190 ms of Hankel transforms (the most for n >= 4).
GSParams are loosened by default (folding_threshold 2e-2, maxk_threshold 3e-3; stamp flux changes
by < 4e-4).

Reproducibility
---------------
Each galaxy's random numbers come from its own ``galsim.BaseDeviate`` seeded from
(run seed, object_id) (:func:`galaxy_seed`), so its pixels do not depend on the shard layout or
the number of processes.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path

import galsim
import h5py
import numpy as np
import pandas as pd

from photoz import BANDS
from photoz.cosmos import resolve_cosmos_dir
from photoz.errors import PhotozConfigError, PhotozDataError
from photoz.instrument import Instrument, load_instrument
from photoz.io import atomic_path
from photoz.logs import progress as tqdm
from photoz.psf import build_psfs

logger = logging.getLogger("photoz.simulate")

#: Step in ln(n) of the grid the Sersic index is rounded to: about 2% in n (0.02 at n = 1, 0.08 at
#: n = 4), 77 values over GalSim's [0.3, 6.2]. GalSim keeps the last 100 Sersic profiles' Hankel
#: tables (its ``max_sersic_cache``); a grid finer than that (e.g. ``COSMOSCatalog``'s fixed 0.05
#: steps, 119 values) thrashes the cache and costs 80-190 ms per galaxy of n >= 4.
SERSIC_LOG_STEP = 0.04
#: Range of Sersic indices GalSim supports; indices outside are clipped to it.
SERSIC_N_MIN, SERSIC_N_MAX = 0.3, 6.2

#: Galaxies per block written to HDF5; the memory held per shard is about
#: WRITE_BLOCK x 7 x stamp_size^2 x 4 bytes (3.7 MB for 64 x 64 stamps), whatever the shard size.
WRITE_BLOCK = 32

#: With ``psf: none`` a parametric galaxy is still convolved with a Gaussian of this sigma, in
#: pixels (0.0185" at 0.074"/px). Without it GalSim's FFT for a cuspy Sersic (n >= 4, small
#: radius) needs maxk up to 8000 arcsec^-1: 22 s and 14 GB for one n = 6, 0.03" galaxy. The
#: Gaussian adds 1/16 px^2 to the second moments (the pixel's own boxcar adds 1/12), leaves the
#: stamp flux unchanged and lowers the peak pixel of that extreme galaxy by 2%.
NONE_PSF_SIGMA_PIXELS = 0.25

_MORPH_COLUMNS = ("sersic_n", "half_light_radius", "axis_ratio", "position_angle")


# --------------------------------------------------------------------------------------------
# Seeds and configuration
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
# Truth table
# --------------------------------------------------------------------------------------------
def read_truth(path: str | Path, bands: tuple[str, ...] = BANDS) -> pd.DataFrame:
    """Read and check the columns of the truth table that the simulation uses.

    Parameters
    ----------
    path : str or Path
        ``truth.parquet`` (docs/data_products.md §1).
    bands : tuple of str

    Returns
    -------
    pandas.DataFrame
        With a 0..n-1 index; ``real_image_index`` is added (all -1) if absent.

    Raises
    ------
    PhotozDataError
        If the file cannot be read, a column is missing, a value is non-finite or out of range
        (``flux_<band>`` >= 0, ``half_light_radius`` > 0, 0 < ``axis_ratio`` <= 1), or an
        ``object_id`` repeats. The message names the file, the column and the first bad row.
    """
    path = Path(path)
    try:
        df = pd.read_parquet(path)
    except (OSError, ValueError) as exc:
        raise PhotozDataError(f"cannot read truth table {path}: {exc}") from exc
    df = df.reset_index(drop=True)
    flux_cols = [f"flux_{b}" for b in bands]
    required = ["object_id", *flux_cols, *_MORPH_COLUMNS]
    missing = [c for c in required if c not in df.columns]
    if missing:
        raise PhotozDataError(f"truth table {path}: missing columns {missing}")
    if "real_image_index" not in df.columns:
        df["real_image_index"] = -1

    def _bad(col: str, mask: np.ndarray, what: str) -> None:
        if np.any(mask):
            row = int(np.flatnonzero(mask)[0])
            raise PhotozDataError(
                f"truth table {path}: column {col!r} row {row} is {df[col].iloc[row]!r}; "
                f"{what} ({int(mask.sum())} bad rows)"
            )

    for col in ["object_id", "real_image_index"]:
        if not pd.api.types.is_integer_dtype(df[col]):
            raise PhotozDataError(f"truth table {path}: column {col!r} must be integer, is {df[col].dtype}")
    for col in [*flux_cols, *_MORPH_COLUMNS]:
        values = pd.to_numeric(df[col], errors="coerce").to_numpy(dtype=float)
        _bad(col, ~np.isfinite(values), "must be a finite number")
        df[col] = values
    for col in flux_cols:
        _bad(col, df[col].to_numpy() < 0, "expected electrons must be >= 0")
    _bad("half_light_radius", df["half_light_radius"].to_numpy() <= 0, "must be > 0 arcsec")
    q = df["axis_ratio"].to_numpy()
    _bad("axis_ratio", (q <= 0) | (q > 1), "must be in (0, 1]")
    dup = df["object_id"].duplicated().to_numpy()
    _bad("object_id", dup, "object_id must be unique (it seeds the galaxy's noise)")
    return df


def shard_rows(n: int, shard_index: int, n_shards: int) -> np.ndarray:
    """Row indices of shard ``shard_index``: ``np.array_split(np.arange(n), n_shards)[i]``.

    Raises
    ------
    PhotozConfigError
        If ``n_shards < 1`` or ``shard_index`` is not in [0, n_shards).
    """
    if n_shards < 1 or not 0 <= shard_index < n_shards:
        raise PhotozConfigError(
            f"simulate: shard_index {shard_index} must be in [0, n_shards={n_shards})"
        )
    return np.array_split(np.arange(n), n_shards)[shard_index]


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


# --------------------------------------------------------------------------------------------
# Shards
# --------------------------------------------------------------------------------------------
def load_real_catalog(
    catalog_cfg: dict | None, data_dir: str | Path | None = None
) -> galsim.RealGalaxyCatalog | None:
    """The COSMOS ``RealGalaxyCatalog`` named by ``catalog_cfg["cosmos"]``, if real images are on.

    Parameters
    ----------
    catalog_cfg : dict or None
        The ``catalog`` config; uses ``cosmos.dir``, ``cosmos.file_name``,
        ``cosmos.use_real_images``.
    data_dir : str or Path, optional
        A relative ``cosmos.dir`` is looked up in the working directory first, then here.

    Returns
    -------
    galsim.RealGalaxyCatalog or None
        None when ``use_real_images`` is false or absent.

    Raises
    ------
    PhotozDataError
        If the catalogue cannot be opened.
    """
    cosmos = (catalog_cfg or {}).get("cosmos") or {}
    if not cosmos.get("use_real_images", False):
        return None
    directory = resolve_cosmos_dir(cosmos.get("dir", ""), data_dir)
    file_name = cosmos.get("file_name", "")
    try:
        return galsim.RealGalaxyCatalog(file_name, dir=str(directory))
    except (OSError, galsim.GalSimError) as exc:
        raise PhotozDataError(
            f"cannot open RealGalaxyCatalog {directory / file_name} (catalog.cosmos.dir, "
            f"catalog.cosmos.file_name): {exc}"
        ) from exc


def simulate_shard(
    truth_path: str | Path,
    out_path: str | Path,
    shard_index: int,
    n_shards: int,
    instrument: Instrument | dict | None,
    sim_cfg: dict,
    seed: int,
    catalog_cfg: dict | None = None,
    data_dir: str | Path | None = None,
) -> dict:
    """Draw one shard of seven-band stamps and write it to HDF5 (docs/data_products.md §2).

    Parameters
    ----------
    truth_path : str or Path
        The truth table (parquet, docs/data_products.md §1).
    out_path : str or Path
        ``results/images/shard_{i}.h5``; written atomically (temp file + ``os.replace``).
    shard_index, n_shards : int
        This shard holds rows ``np.array_split(np.arange(n), n_shards)[shard_index]``.
    instrument : photoz.instrument.Instrument or dict or None
        The instrument, or its config section for :func:`photoz.instrument.load_instrument`.
    sim_cfg : dict
        The schema-filled ``simulate`` config section: ``stamp_size``, ``psf``, ``psf_r80``,
        ``psf_dir``, ``add_noise``, ``gsparams`` (``n_shards`` ignored).
    seed : int
        Run seed; each galaxy's noise is seeded from (seed, object_id).
    catalog_cfg : dict, optional
        The ``catalog`` config; ``cosmos`` locates the RealGalaxyCatalog for real images.
    data_dir : str or Path, optional
        The shared data directory (PSF images, a relative COSMOS dir).

    Returns
    -------
    dict
        ``n`` (galaxies), ``seconds`` (wall time of the drawing and writing),
        ``galaxies_per_s``, ``cpu_seconds`` (CPU time of this process, which unlike the wall
        time does not grow when other jobs share the cores), ``n_real`` (real-image galaxies).

    Raises
    ------
    PhotozConfigError, PhotozDataError
        For a bad config or truth table, or a galaxy GalSim cannot draw (row named).

    Notes
    -----
    Images are written in blocks of :data:`WRITE_BLOCK` galaxies into a chunked dataset, so the
    memory held is bounded (about 4 MB of stamps for 64 x 64) whatever the shard size; the
    process as a whole stays below ~300 MB (GalSim, numpy, pandas and the truth table).
    GalSim's OpenMP threads are set to 1 for the call (a shard is a one-core job) and restored.
    """
    # A shard is a one-core job: GalSim's OpenMP threads (2 by default here) only spin against
    # the other shards, measured 2.7x slower per galaxy; keep the C++ layer single-threaded.
    omp_before = galsim.utilities.get_omp_threads()
    galsim.utilities.set_omp_threads(1)
    try:
        return _simulate_shard(truth_path, out_path, shard_index, n_shards, instrument, sim_cfg,
                               seed, catalog_cfg, data_dir)
    finally:
        galsim.utilities.set_omp_threads(omp_before)


def _simulate_shard(truth_path, out_path, shard_index, n_shards, instrument, sim_cfg, seed,
                    catalog_cfg, data_dir) -> dict:
    """The body of :func:`simulate_shard` (GalSim threads already set)."""
    t0, cpu0 = time.perf_counter(), time.process_time()
    truth_path, out_path = Path(truth_path), Path(out_path)
    if instrument is None or isinstance(instrument, dict):
        instrument = load_instrument(instrument)
    cfg = sim_cfg
    truth = read_truth(truth_path, tuple(instrument.bands))
    rows = shard_rows(len(truth), shard_index, n_shards)
    part = truth.iloc[rows]
    n_real = int((part["real_image_index"].to_numpy() >= 0).sum())
    real_catalog = load_real_catalog(catalog_cfg, data_dir) if n_real else None
    if n_real and real_catalog is None:
        logger.warning(
            "%d galaxies have real_image_index >= 0 but catalog.cosmos.use_real_images is false: "
            "drawing their parametric fits", n_real,
        )
        part = part.assign(real_image_index=-1)
        n_real = 0
    sim = StampSimulator(instrument, cfg, real_catalog=real_catalog, data_dir=data_dir)
    n, size, nb = len(part), sim.size, len(sim.bands)
    logger.info(
        "shard %d/%d: %d galaxies (%d real images), %dx%d stamps at %.4f\"/px, psf=%s, noise=%s, "
        "seed=%d", shard_index, n_shards, n, n_real, size, size, sim.scale, cfg["psf"],
        cfg["add_noise"], seed,
    )
    with atomic_path(out_path) as tmp:
        with h5py.File(tmp, "w") as h5:
            chunks = (min(8, n), nb, size, size) if n else None
            images = h5.create_dataset("images", shape=(n, nb, size, size), dtype="float32",
                                       chunks=chunks)
            h5.create_dataset("object_id", data=part["object_id"].to_numpy(dtype=np.int64))
            sigmas = h5.create_dataset("noise_sigma", shape=(n, nb), dtype="float32")
            h5.attrs["bands"] = list(sim.bands)
            h5.attrs["pixel_scale"] = sim.scale
            h5.attrs["seed"] = int(seed)
            h5.attrs["psf"] = cfg["psf"]
            h5.attrs["psf_r80"] = float(cfg["psf_r80"])
            h5.attrs["stamp_size"] = size
            h5.attrs["add_noise"] = bool(cfg["add_noise"])
            h5.attrs["gsparams"] = json.dumps(cfg["gsparams"])
            h5.attrs["shard_index"] = int(shard_index)
            h5.attrs["n_shards"] = int(n_shards)
            h5.attrs["galsim_version"] = galsim.__version__

            block = np.empty((min(WRITE_BLOCK, max(n, 1)), nb, size, size), dtype=np.float32)
            block_sigma = np.empty((block.shape[0], nb), dtype=np.float32)
            start = 0
            bar = tqdm(total=n, desc=f"simulate shard {shard_index}/{n_shards}", unit="gal")
            for k, row in enumerate(part.itertuples(index=False)):
                try:
                    stamp, sigma = sim.draw_galaxy(row, seed)
                except galsim.GalSimError as exc:
                    raise PhotozDataError(
                        f"truth table {truth_path}: row {int(rows[k])} (object_id "
                        f"{int(row.object_id)}) could not be drawn by GalSim: {exc}"
                    ) from exc
                j = k - start
                block[j], block_sigma[j] = stamp, sigma
                if j + 1 == block.shape[0] or k + 1 == n:
                    images[start:k + 1] = block[: j + 1]
                    sigmas[start:k + 1] = block_sigma[: j + 1]
                    start = k + 1
                bar.update(1)
            bar.close()
    seconds = time.perf_counter() - t0
    stats = {"n": n, "seconds": seconds, "galaxies_per_s": n / seconds if seconds > 0 else 0.0,
             "cpu_seconds": time.process_time() - cpu0, "n_real": n_real}
    logger.info("shard %d/%d: wrote %s in %.1f s (%.1f galaxies/s)", shard_index, n_shards,
                out_path, seconds, stats["galaxies_per_s"])
    return stats
