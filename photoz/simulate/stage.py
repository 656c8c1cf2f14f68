"""CSST seven-band galaxy stamps drawn with GalSim (Zhou et al. 2022, Sect. 2).

For every galaxy of the truth table (docs/outputs.md §1) this module draws a stack of seven
stamps, NUV u g r i z y, in electrons, background-subtracted, at the CSST pixel scale, and writes
them to sharded HDF5 files (docs/outputs.md §2).

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
- PSF: :mod:`photoz.simulate.psf` (Gaussian with R80 = 0.15" by default, CSST PSF images, or none).
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
from pathlib import Path

import galsim
import numpy as np
import pandas as pd
from tqdm import tqdm

from photoz import BANDS
from photoz.catalog.cosmos import resolve_cosmos_dir
from photoz.errors import PhotozConfigError, PhotozDataError
from photoz.instrument import Instrument, load_instrument
from photoz.products.catalog import MORPH_COLUMNS, read_truth
from photoz.products.simulate import write_shard
from photoz.simulate.stamps import StampSimulator

logger = logging.getLogger(__name__)

#: Galaxies per block written to HDF5; the memory held per shard is about
#: WRITE_BLOCK x 7 x stamp_size^2 x 4 bytes (3.7 MB for 64 x 64 stamps), whatever the shard size.
WRITE_BLOCK = 32


# --------------------------------------------------------------------------------------------
# Truth table
# --------------------------------------------------------------------------------------------
def read_drawing_truth(path: str | Path, bands: tuple[str, ...] = BANDS) -> pd.DataFrame:
    """The truth-table columns the simulation draws from, checked (:func:`photoz.products.catalog.read_truth`).

    ``object_id``, ``flux_<band>``, the morphology and ``real_image_index`` (all -1 if absent)
    must be present; the other columns of the file are returned too.

    Raises
    ------
    PhotozDataError
        If the file cannot be read, a column is missing, a value is non-finite or out of range
        (``flux_<band>`` >= 0, ``half_light_radius`` > 0, 0 < ``axis_ratio`` <= 1), or an
        ``object_id`` repeats. The message names the file, the column and the first bad row.
    """
    return read_truth(path, ["object_id", *(f"flux_{b}" for b in bands), *MORPH_COLUMNS,
                                      "real_image_index"], read_all=True)


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
    """Draw one shard of seven-band stamps and write it to HDF5 (docs/outputs.md §2).

    Parameters
    ----------
    truth_path : str or Path
        The truth table (parquet, docs/outputs.md §1).
    out_path : str or Path
        ``results/images/shard_{i}.h5``; written atomically (temp file + ``os.replace``).
    shard_index, n_shards : int
        This shard holds rows ``np.array_split(np.arange(n), n_shards)[shard_index]``.
    instrument : photoz.instrument.Instrument or dict or None
        The instrument, or its config section for :func:`photoz.instrument.load_instrument`.
    sim_cfg : dict
        The schema-filled ``simulate`` config section: ``stamp_size``, ``psf``, ``psf_r80``,
        ``psf_dir``, ``add_noise``, ``gsparams``, ``compression`` (``n_shards`` ignored).
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
    truth = read_drawing_truth(truth_path, tuple(instrument.bands))
    rows = shard_rows(len(truth), shard_index, n_shards)
    if rows.size == 0:  # catalog.n_galaxies 0 (all) can leave shards empty; the config can't tell
        logger.warning("shard %d/%d holds no galaxy: simulate.n_shards (%d) exceeds the %d "
                       "galaxies of %s; lower simulate.n_shards", shard_index, n_shards, n_shards,
                       len(truth), truth_path)
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
    attrs = {
        "bands": list(sim.bands), "pixel_scale": sim.scale, "seed": int(seed),
        "psf": cfg["psf"], "psf_r80": float(cfg["psf_r80"]), "stamp_size": size,
        "add_noise": bool(cfg["add_noise"]), "gsparams": json.dumps(cfg["gsparams"]),
        "shard_index": int(shard_index), "n_shards": int(n_shards),
        "galsim_version": galsim.__version__,
    }
    object_id = part["object_id"].to_numpy(dtype=np.int64)
    with write_shard(out_path, object_id, (size, size), attrs,
                     compression=cfg.get("compression", "none")) as (images, sigmas):
        block = np.empty((min(WRITE_BLOCK, max(n, 1)), nb, size, size), dtype=np.float32)
        block_sigma = np.empty((block.shape[0], nb), dtype=np.float32)
        start = 0
        bar = tqdm(total=n, desc=f"simulate shard {shard_index}/{n_shards}", unit="gal",
                   disable=None)
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
