"""CSST point-spread functions per band, as GalSim objects.

Three choices (config key ``simulate.psf``):

- ``"gaussian"`` (default): a circular Gaussian whose 80% encircled-energy radius R80 is the CSST
  requirement, 0.15" (Zhou et al. 2022, Sect. 2; PAPER_SPEC §2). It needs no data, so it works
  offline, and it is the same in every band, which lets the simulation draw each galaxy once.
- ``"images"``: the galaxyGenius CSST PSF images, one 128 x 128 array per band sampled at
  0.074"/pixel (``<data_dir>/csst/psf_galaxyGenius/<band>.npy``; Zhou et al. 2025, A&A 700, A120;
  MIT). They are stored summing to 0.25 and are renormalised to 1 here. They are effective
  (pixel-convolved) PSFs, so galaxies convolved with them are drawn with ``method="no_pixel"``.
- ``"none"``: no PSF, the paper's own choice (it rebinned HST F814W images without convolving).

We use GalSim's profiles (``galsim.Gaussian``, ``galsim.InterpolatedImage``) rather than our own;
the only code here is the R80 <-> sigma conversion, the file checks and an R80 measurement for tests.
"""

from __future__ import annotations

import math
from pathlib import Path

import galsim
import numpy as np

from photoz import BANDS
from photoz.errors import PhotozConfigError, PhotozDataError

#: CSST PSF requirement: 80% of the energy within this radius, arcsec (PAPER_SPEC §2).
R80_ARCSEC = 0.15
#: Pixel scale at which the galaxyGenius PSF images are sampled, arcsec/pixel.
PSF_IMAGE_SCALE_ARCSEC = 0.074
#: Sub-directory of the data directory holding ``<band>.npy`` PSF images.
PSF_IMAGE_SUBDIR = Path("csst") / "psf_galaxyGenius"

PSF_KINDS = ("gaussian", "none", "images")

#: R80 / sigma of a 2-D circular Gaussian: 1 - exp(-R^2 / 2 sigma^2) = 0.8 gives R = sigma sqrt(2 ln 5).
_R80_PER_SIGMA = math.sqrt(2.0 * math.log(5.0))


def gaussian_sigma_from_r80(r80: float) -> float:
    """Sigma of the circular Gaussian whose 80% encircled-energy radius is ``r80``.

    The encircled energy of a 2-D Gaussian is E(R) = 1 - exp(-R^2 / (2 sigma^2)), so
    E(R80) = 0.8 gives sigma = R80 / sqrt(2 ln 5) = R80 / 1.7941.

    Parameters
    ----------
    r80 : float, arcsec
        Must be positive.

    Returns
    -------
    float, arcsec

    Raises
    ------
    PhotozConfigError
        If ``r80`` is not a positive finite number.
    """
    if not (np.isfinite(r80) and r80 > 0):
        raise PhotozConfigError(f"simulate.psf_r80: must be a positive number of arcsec, got {r80!r}")
    return float(r80) / _R80_PER_SIGMA


def gaussian_psf(r80: float = R80_ARCSEC, gsparams: galsim.GSParams | None = None) -> galsim.Gaussian:
    """Circular Gaussian PSF with 80% encircled-energy radius ``r80`` and unit flux.

    Parameters
    ----------
    r80 : float, arcsec
        Default 0.15, the CSST requirement R80 <= 0.15" (Zhou et al. 2022, Sect. 2).
    gsparams : galsim.GSParams, optional

    Returns
    -------
    galsim.Gaussian
        FWHM = 2 sqrt(2 ln 2) sigma = 1.3125 R80 (0.197" for the default).
    """
    return galsim.Gaussian(sigma=gaussian_sigma_from_r80(r80), flux=1.0, gsparams=gsparams)


def load_psf_image(path: str | Path) -> np.ndarray:
    """Read one PSF image (``.npy``) and normalise it to unit sum.

    Parameters
    ----------
    path : str or Path
        A 2-D array file; the galaxyGenius images are 128 x 128 float64 summing to 0.25.

    Returns
    -------
    ndarray, shape (ny, nx), float64
        Sums to 1.

    Raises
    ------
    PhotozDataError
        If the file is missing or unreadable, not 2-D, not finite, or does not have a positive sum.
    """
    path = Path(path)
    try:
        arr = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise PhotozDataError(f"cannot read PSF image {path}: {exc}") from exc
    arr = np.asarray(arr, dtype=float)
    if arr.ndim != 2 or min(arr.shape) < 3:
        raise PhotozDataError(f"PSF image {path}: expected a 2-D array, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        bad = np.argwhere(~np.isfinite(arr))[0]
        raise PhotozDataError(f"PSF image {path}: non-finite value at row {bad[0]}, column {bad[1]}")
    total = arr.sum()
    if not total > 0:
        raise PhotozDataError(f"PSF image {path}: sum is {total}, must be positive")
    return arr / total


def image_psfs(
    psf_dir: str | Path,
    bands: tuple[str, ...] = BANDS,
    scale: float = PSF_IMAGE_SCALE_ARCSEC,
    gsparams: galsim.GSParams | None = None,
) -> list[galsim.InterpolatedImage]:
    """One ``galsim.InterpolatedImage`` PSF per band from ``<psf_dir>/<band>.npy``.

    Parameters
    ----------
    psf_dir : str or Path
        Directory holding ``<band>.npy`` for every band.
    bands : tuple of str
        Default NUV u g r i z y.
    scale : float, arcsec/pixel
        Sampling of the stored arrays; 0.074 for galaxyGenius. The PSF keeps this angular size
        whatever pixel scale the stamps are drawn at.
    gsparams : galsim.GSParams, optional

    Returns
    -------
    list of galsim.InterpolatedImage, length len(bands)
        Unit flux, centred on the image's flux centroid, so a galaxy is not shifted by the PSF.

    Raises
    ------
    PhotozDataError
        If the directory or a band's file is missing or unusable.
    """
    psf_dir = Path(psf_dir)
    if not psf_dir.is_dir():
        raise PhotozDataError(
            f"PSF image directory {psf_dir} does not exist; set simulate.psf_dir or use psf: gaussian"
        )
    out = []
    for band in bands:
        arr = load_psf_image(psf_dir / f"{band}.npy")
        image = galsim.Image(arr, scale=scale)
        out.append(
            galsim.InterpolatedImage(
                image, scale=scale, flux=1.0, calculate_stepk=True, calculate_maxk=True,
                use_true_center=False, offset=_centroid_offset(arr), gsparams=gsparams,
            )
        )
    return out


def _centroid_offset(arr: np.ndarray) -> galsim.PositionD:
    """Offset (pixels) that puts the flux centroid of ``arr`` at the profile origin.

    ``InterpolatedImage``'s ``offset`` is "the location in the input image to use as the centre
    of the profile", relative to the nominal centre (``use_true_center=False``: 0-based pixel
    nx//2, ny//2), so it is the centroid's position relative to that pixel.
    """
    ny, nx = arr.shape
    y, x = np.mgrid[0:ny, 0:nx]
    cx = float((arr * x).sum()) - nx // 2
    cy = float((arr * y).sum()) - ny // 2
    return galsim.PositionD(cx, cy)


def build_psfs(
    kind: str = "gaussian",
    bands: tuple[str, ...] = BANDS,
    r80: float = R80_ARCSEC,
    psf_dir: str | Path | None = None,
    data_dir: str | Path | None = None,
    gsparams: galsim.GSParams | None = None,
) -> tuple[list[galsim.GSObject | None], bool]:
    """The PSF of each band for the ``simulate.psf`` config choice.

    Parameters
    ----------
    kind : {"gaussian", "none", "images"}
        See the module docstring.
    bands : tuple of str
    r80 : float, arcsec
        For ``"gaussian"``; default 0.15.
    psf_dir : str or Path, optional
        For ``"images"``; empty or None means ``<data_dir>/csst/psf_galaxyGenius``.
    data_dir : str or Path, optional
        The shared data directory, used when ``psf_dir`` is not given.
    gsparams : galsim.GSParams, optional

    Returns
    -------
    psfs : list of (galsim.GSObject or None), length len(bands)
        None for ``"none"``.
    pixelised : bool
        True when the PSFs already include the pixel response (``"images"``): draw with
        ``method="no_pixel"``. False otherwise: draw with GalSim's default pixel convolution.

    Raises
    ------
    PhotozConfigError
        For an unknown ``kind``, a bad ``r80``, or ``"images"`` with neither directory given.
    PhotozDataError
        If a PSF image is missing or unusable.
    """
    if kind == "gaussian":
        psf = gaussian_psf(r80, gsparams=gsparams)
        return [psf] * len(bands), False
    if kind == "none":
        return [None] * len(bands), False
    if kind == "images":
        if psf_dir in (None, ""):
            if data_dir is None:
                raise PhotozConfigError(
                    "simulate.psf: 'images' needs simulate.psf_dir or a data directory "
                    f"holding {PSF_IMAGE_SUBDIR}/<band>.npy"
                )
            psf_dir = Path(data_dir) / PSF_IMAGE_SUBDIR
        return image_psfs(psf_dir, bands, gsparams=gsparams), True
    raise PhotozConfigError(f"simulate.psf: must be one of {PSF_KINDS}, got {kind!r}")


def encircled_radius(image: np.ndarray, scale: float, fraction: float = 0.8) -> float:
    """Radius around the flux centroid that encloses ``fraction`` of an image's flux.

    Used by the tests and for reporting (R80 of a drawn PSF). Pixels are binned by the distance
    of their centres from the centroid and the cumulative flux is interpolated linearly; this is
    accurate to a fraction of a pixel, so draw the PSF on a fine grid for a precise value.

    Parameters
    ----------
    image : ndarray, shape (ny, nx)
    scale : float, arcsec/pixel
    fraction : float
        In (0, 1); default 0.8 (R80).

    Returns
    -------
    float, arcsec
    """
    arr = np.asarray(image, dtype=float)
    ny, nx = arr.shape
    y, x = np.mgrid[0:ny, 0:nx]
    total = arr.sum()
    cx, cy = (arr * x).sum() / total, (arr * y).sum() / total
    r = np.hypot(x - cx, y - cy).ravel()
    order = np.argsort(r)
    cum = np.cumsum(arr.ravel()[order]) / total
    return float(np.interp(fraction, cum, r[order])) * scale
