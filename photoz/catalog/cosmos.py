"""Real COSMOS galaxies in GalSim's real-galaxy catalogue format.

The paper's galaxies are HST/ACS F814W COSMOS galaxies with COSMOS photo-z as the true redshift
(Zhou et al. 2022, Sect. 2; PAPER_SPEC §1). GalSim's COSMOS training samples (Mandelbaum et al.
2012; ``galsim_download_cosmos -s 23.5|25.2``) hold the same kind of galaxy: a
``real_galaxy_catalog_<sample>.fits`` image catalogue (IDENT, MAG, GAL_FILENAME, GAL_HDU, ...; read
by ``galsim.RealGalaxyCatalog``) and a companion ``..._fits.fits`` table of parametric fits
(``zphot``, ``mag_auto``, ``sersicfit``, ``bulgefit``, ``hlr``, ...; read by ``galsim.COSMOSCatalog``).

:func:`read_cosmos_catalog` reads either layout (plus the BlendingToolKit extension, whose fits table
has ``ZPHOT``, ``flux_radius`` and HSC grizy magnitudes but no Sersic fits, and a lone ``*_fits.fits``
table without images) into one :class:`pandas.DataFrame`; :func:`download_cosmos` fetches a sample
with GalSim's own downloader.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path

import galsim
import numpy as np
import pandas as pd
from astropy.io import fits

from photoz.errors import PhotozConfigError, PhotozDataError, PhotozError

log = logging.getLogger(__name__)

#: Pixel scale of the COSMOS HST/ACS reductions, arcsec (Leauthaud et al. 2007).
COSMOS_PIXEL_SCALE = 0.03
#: HSC bands of the BlendingToolKit COSMOS extension.
HSC_BANDS = ("g", "r", "i", "z", "y")



def resolve_cosmos_dir(directory: str | os.PathLike, data_dir: str | os.PathLike | None = None) -> Path:
    """Where ``catalog.cosmos.dir`` points: as given, else relative to ``data_dir``.

    A relative directory that does not exist from the working directory is looked up under
    ``data_dir`` (e.g. ``catalogs/btk_cosmos_real_images_100`` under ``../shared/data``). Where
    neither exists the path is returned as given, which is where ``download_cosmos`` puts the sample.
    The workflow (the download rule's target), the catalogue and the simulation all use this.

    Parameters
    ----------
    directory : str or PathLike
        ``catalog.cosmos.dir``.
    data_dir : str or PathLike, optional
        The config's ``data_dir``.

    Returns
    -------
    Path
    """
    path = Path(directory)
    if path.is_dir() or path.is_absolute() or data_dir is None:
        return path
    alt = Path(data_dir) / path
    return alt if alt.is_dir() else path


def download_cosmos(directory: str | os.PathLike, sample: str = "25.2") -> None:
    """Fetch GalSim's COSMOS training sample with GalSim's ``galsim_download_cosmos``.

    The tarball unpacks to ``COSMOS_<sample>_training_sample/``; when ``directory`` has that name
    its parent is given to the downloader, otherwise the unpacked files are moved up into
    ``directory``, so that ``directory/real_galaxy_catalog_<sample>.fits`` exists afterwards.
    Needs network access (about 4 GB for 25.2); never called by the tests.

    Parameters
    ----------
    directory : path
        Where the catalogue files should end up.
    sample : str
        ``"23.5"`` or ``"25.2"``.

    Raises
    ------
    PhotozConfigError
        For an unknown sample.
    PhotozError
        If the downloader is missing or fails.
    """
    sample = str(sample)
    if sample not in ("23.5", "25.2"):
        raise PhotozConfigError(f"catalog.cosmos.sample: {sample!r} is not '23.5' or '25.2'")
    directory = Path(directory).resolve()
    subdir = f"COSMOS_{sample}_training_sample"
    target_parent = directory.parent if directory.name == subdir else directory
    target_parent.mkdir(parents=True, exist_ok=True)
    exe = Path(sys.executable).with_name("galsim_download_cosmos")
    exe = str(exe) if exe.exists() else shutil.which("galsim_download_cosmos")
    if exe is None:
        raise PhotozError("galsim_download_cosmos not found; install GalSim (pip install galsim)")
    cmd = [exe, "-s", sample, "-d", str(target_parent), "-q", "--nolink"]
    log.info("running %s", " ".join(cmd))
    result = subprocess.run(cmd, capture_output=True, text=True)
    log.info("%s", result.stdout)
    if result.returncode != 0:
        raise PhotozError(
            f"galsim_download_cosmos failed (exit {result.returncode}): {result.stderr[-2000:]}"
        )
    if directory.name != subdir:
        unpacked = directory / subdir
        if unpacked.is_dir():
            for item in unpacked.iterdir():
                os.replace(item, directory / item.name)
            unpacked.rmdir()


def _column(table: fits.FITS_rec, names: tuple[str, ...]) -> str | None:
    """The first of ``names`` present in ``table`` (case-insensitive), with its stored spelling."""
    lower = {c.lower(): c for c in table.columns.names}
    for n in names:
        if n.lower() in lower:
            return lower[n.lower()]
    return None


def _read_table(path: Path) -> fits.FITS_rec:
    """First binary table of a FITS file; PhotozDataError naming the file if unreadable."""
    try:
        with fits.open(path, memmap=False) as hdul:
            return hdul[1].data
    except (OSError, IndexError, TypeError, ValueError) as exc:
        raise PhotozDataError(f"cannot read COSMOS catalogue {path}: {exc}") from exc


def _hsm_shapes(rgc: galsim.RealGalaxyCatalog, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Axis ratio and position angle (deg) from HSM adaptive moments of the real HST stamps.

    Used only where the catalogue has no Sersic fit. The moments include the HST PSF, which is
    small (FWHM ~0.1") next to most galaxies. Failed measurements give q = 1, angle 0.
    """
    q = np.ones(len(rows))
    pa = np.zeros(len(rows))
    for k, i in enumerate(rows):
        try:
            mom = galsim.hsm.FindAdaptiveMom(rgc.getGalImage(int(i)), strict=True)
        except (galsim.GalSimError, RuntimeError):
            continue
        shape = mom.observed_shape
        q[k] = shape.q
        pa[k] = shape.beta.deg % 180.0
    return q, pa


def _need(table: fits.FITS_rec, path: Path, names: tuple[str, ...]) -> str:
    """:func:`_column`, or PhotozDataError naming ``path`` and ``names[0]`` where it is absent."""
    col = _column(table, names)
    if col is None:
        raise PhotozDataError(f"{path}: missing column {names[0]!r}")
    return col


def _open_tables(directory: Path, file_name: str
                 ) -> tuple[Path, fits.FITS_rec, Path, fits.FITS_rec | None]:
    """The catalogue's tables: (main path, fits table, its path, image table or None).

    A main file with ``zphot`` is its own fits table (no images); otherwise the fits table is
    ``<stem>_fits.fits`` beside it, with as many rows.
    """
    main_path = directory / file_name
    if not main_path.is_file():
        raise PhotozDataError(
            f"COSMOS catalogue {main_path} not found (catalog.cosmos.dir/file_name; the workflow's "
            f"download_cosmos rule fetches GalSim's sample)"
        )
    main = _read_table(main_path)
    if _column(main, ("zphot",)) is not None:
        return main_path, main, main_path, None
    params_path = main_path.with_name(main_path.stem + "_fits.fits")
    if not params_path.is_file():
        raise PhotozDataError(
            f"COSMOS catalogue {main_path}: the parametric-fit table {params_path} is missing"
        )
    params, images = _read_table(params_path), main
    if len(params) != len(main):
        raise PhotozDataError(
            f"{params_path} has {len(params)} rows but {main_path} has {len(main)}"
        )
    return main_path, params, params_path, images


def _redshift_ident_mag(params: fits.FITS_rec, params_path: Path, images: fits.FITS_rec | None,
                        main_path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Redshift (zphot, no NaN), IDENT (the same in both tables) and F814W magnitude per row."""
    zcol = _need(params, params_path, ("zphot",))
    z = np.asarray(params[zcol], dtype=float)
    bad = np.flatnonzero(np.isnan(z))
    if bad.size:
        raise PhotozDataError(
            f"{params_path}: column {zcol!r} is NaN in row {bad[0]} ({bad.size} rows in all)"
        )
    ident = np.asarray(params[_need(params, params_path, ("IDENT",))], dtype=np.int64)
    if images is not None:
        img_ident = np.asarray(images[_need(images, main_path, ("IDENT",))], dtype=np.int64)
        mismatch = np.flatnonzero(img_ident != ident)
        if mismatch.size:
            raise PhotozDataError(
                f"{main_path} and {params_path}: IDENT differs in row {mismatch[0]}"
            )
    mcol = _column(params, ("mag_auto",))
    if mcol is not None:
        mag = np.asarray(params[mcol], dtype=float)
    elif images is not None and _column(images, ("MAG",)) is not None:
        mag = np.asarray(images[_column(images, ("MAG",))], dtype=float)
    else:
        raise PhotozDataError(f"{params_path}: missing column 'mag_auto' (or MAG in {main_path})")
    return z, ident, mag


def _real_catalog(directory: Path, file_name: str, main_path: Path, params: fits.FITS_rec,
                  images: fits.FITS_rec | None,
                  use_real_images: bool) -> galsim.RealGalaxyCatalog | None:
    """The ``galsim.RealGalaxyCatalog`` where it is wanted (real images or HSM shapes) and exists.

    Raises where ``use_real_images`` asks for images the catalogue lacks or whose files are missing.
    """
    rgc = None
    if use_real_images or _column(params, ("sersicfit",)) is None:
        if images is None:
            if use_real_images:
                raise PhotozConfigError(
                    f"catalog.cosmos.use_real_images: {main_path} is a fits table without images"
                )
        else:
            gal_files = {str(s).strip()
                         for s in images[_need(images, main_path, ("GAL_FILENAME",))]}
            missing = [f for f in sorted(gal_files) if not (directory / f).is_file()]
            if missing and use_real_images:
                raise PhotozDataError(
                    f"{main_path}: image file {directory / missing[0]} (column GAL_FILENAME) is "
                    f"missing; set catalog.cosmos.use_real_images to false to use the "
                    f"parametric fits"
                )
            if not missing:
                rgc = galsim.RealGalaxyCatalog(file_name, dir=str(directory))
    return rgc


def _morphology(params: fits.FITS_rec, params_path: Path, rgc: galsim.RealGalaxyCatalog | None,
                n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, str]:
    """Sersic index, half-light radius, axis ratio, angle, bad-fit flag and the morphology's name.

    From the Sersic fits where the catalogue has them, else from ``flux_radius`` (and HSM shapes of
    the real stamps where ``rgc`` is given); see :func:`read_cosmos_catalog`'s notes.
    """
    bad_fit = np.zeros(n, dtype=bool)
    scol = _column(params, ("sersicfit",))
    if scol is not None:
        sp = np.asarray(params[scol], dtype=float)
        sersic_n = np.clip(sp[:, 2], 0.3, 6.0)
        q = np.clip(sp[:, 3], 0.05, 1.0)
        pa = np.degrees(sp[:, 7]) % 180.0
        hcol = _column(params, ("hlr",))
        if hcol is not None:
            hlr = np.asarray(params[hcol], dtype=float)[:, 0]
        else:
            hlr = COSMOS_PIXEL_SCALE * np.sqrt(q) * sp[:, 1]
        vcol, ucol = _column(params, ("viable_sersic",)), _column(params, ("use_bulgefit",))
        if vcol is not None and ucol is not None:
            bad_fit = (np.asarray(params[vcol]) == 0) & (np.asarray(params[ucol]) == 0)
        bad_fit |= ~np.isfinite(hlr) | (hlr <= 0) | ~np.isfinite(sersic_n)
        morph = "sersicfit"
    else:
        rcol = _need(params, params_path, ("flux_radius",))
        hlr = COSMOS_PIXEL_SCALE * np.asarray(params[rcol], dtype=float)
        sersic_n = np.ones(n)
        if rgc is not None:
            q, pa = _hsm_shapes(rgc, np.arange(n))
            morph = "flux_radius+hsm"
        else:
            q, pa = np.ones(n), np.zeros(n)
            morph = "flux_radius"
        bad_fit = ~np.isfinite(hlr) | (hlr <= 0)
    return sersic_n, hlr, q, pa, bad_fit, morph


def read_cosmos_catalog(directory: str | os.PathLike, file_name: str,
                        use_real_images: bool = False) -> tuple[pd.DataFrame, dict]:
    """Read a GalSim COSMOS catalogue (and its parametric fits) into one table.

    Parameters
    ----------
    directory : path
        Directory of the catalogue (e.g. ``COSMOS_25.2_training_sample``).
    file_name : str
        ``real_galaxy_catalog_<sample>.fits`` (with ``<stem>_fits.fits`` beside it), or a lone
        fits table that itself has ``zphot`` (then no real images are available).
    use_real_images : bool
        If true, ``real_image_index`` is the row in the ``galsim.RealGalaxyCatalog`` (and the image
        file named in GAL_FILENAME must exist); else -1.

    Returns
    -------
    table : pandas.DataFrame
        One row per catalogue row: ``object_id`` (IDENT), ``redshift`` (zphot), ``mag_F814W``
        (mag_auto, else MAG), ``sersic_n``, ``half_light_radius`` (arcsec, circularised),
        ``axis_ratio``, ``position_angle`` (deg), ``real_image_index``, ``row`` (catalogue row), and
        ``mag_hsc_<b>`` for HSC g r i z y where the catalogue has them.
    info : dict
        ``file`` (the file the redshifts came from), ``morphology`` (``sersicfit``, or
        ``flux_radius+hsm`` where there is no Sersic fit), ``bad_fit`` (bool array: GalSim could not
        build a parametric model).

    Raises
    ------
    PhotozDataError
        Missing file, missing column (named), or a NaN redshift (file, column and row named).
    PhotozConfigError
        ``use_real_images`` with a catalogue that has no images.

    Notes
    -----
    Sersic parameters follow ``galsim.COSMOSCatalog._buildParametric``: sersicfit = (I, R_major
    [pixels of 0.03"], n, q, boxiness, x0, y0, phi [rad]); n is clipped to GalSim's [0.3, 6]; the
    circularised radius is the ``hlr[0]`` column, or 0.03 sqrt(q) R_major where that is absent. Where
    there is no fit at all (BlendingToolKit extension) the SExtractor ``flux_radius`` (0.03" pixels)
    is the half-light radius, n = 1, and q, angle come from HSM moments of the real stamp.
    """
    directory = Path(directory)
    main_path, params, params_path, images = _open_tables(directory, file_name)
    n = len(params)
    z, ident, mag = _redshift_ident_mag(params, params_path, images, main_path)
    rgc = _real_catalog(directory, file_name, main_path, params, images, use_real_images)
    real_index = np.full(n, -1, dtype=np.int64)
    if use_real_images:
        real_index = np.arange(n, dtype=np.int64)
    sersic_n, hlr, q, pa, bad_fit, morph = _morphology(params, params_path, rgc, n)
    table = pd.DataFrame({
        "object_id": ident, "redshift": z, "mag_F814W": mag, "sersic_n": sersic_n,
        "half_light_radius": hlr, "axis_ratio": q, "position_angle": pa,
        "real_image_index": real_index, "row": np.arange(n),
    })
    for b in HSC_BANDS:
        col = _column(params, (f"HSC_{b}",))
        if col is not None:
            table[f"mag_hsc_{b}"] = np.asarray(params[col], dtype=float)
    return table, {"file": str(params_path), "morphology": morph, "bad_fit": bad_fit}
