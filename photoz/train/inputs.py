"""Network inputs in memory: photometry -> eq. 7 features, stamps -> 32x32 tensors, augmentation.

Everything a network sees is prepared here once (:func:`prepare_inputs`, used by training and
prediction alike), as whole arrays, so that the training loop only indexes tensors (no
per-sample Python, no data loader workers): 8,000 stamps of 7 x 32 x 32 float32 take 230 MB.

- Features: :func:`photoz.train.features.flux_features` (Zhou et al. 2022, eq. 7).
- Flux augmentation (paper Sect. 3): ``n`` Gaussian realisations F' = F + N(0, sigma_F) of every
  training galaxy, with errors recomputed by :func:`photoz.photometry.noise.aperture_flux_error`
  (eq. 6 denominator), generated in one vectorised step (:func:`flux_realisations`).
- Stamps: centre-cropped, or padded with Gaussian noise of the band's background sigma N_bkg
  (eq. 4, :meth:`photoz.instrument.Instrument.background_sigma`), to 32 x 32 (paper Sect. 4.2).
- Intensity scaling (:func:`scale_images`): the paper states none beyond electrons. We offer
  ``"none"`` (electrons), ``"sigma"`` (electrons / N_bkg, i.e. per-pixel SNR units) and
  ``"asinh"`` (asinh(electrons / N_bkg), a Lupton et al. 1999 stretch). ``config/paper.yaml``
  keeps ``"none"``; the default config uses ``"asinh"``: with raw electrons the brightest pixel
  is 84 e- at the median and 29,000 e- at the maximum against ~10 e- of noise, so BatchNorm's
  batch statistics follow the one or two brightest galaxies of a batch (the i-band batch
  variance changes 333x between random batches of 128; 1.4x after asinh), and on the default
  run's 10,901 training galaxies asinh lowered the CNN's sigma_NMAD from 0.0481 to 0.0419
  (docs/science.md, "Image-network recipe"). An earlier test on 1,428 galaxies that had not converged had
  found the opposite.
- Image augmentation: the 8 elements of the dihedral group D4 (rotations by 0/90/180/270 degrees,
  with and without a flip), applied per sample as one ``gather`` (:class:`D4`).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

import photoz
from photoz import BANDS
from photoz.errors import PhotozConfigError, PhotozDataError
from photoz.photometry.matched import network_flux_columns
from photoz.products.common import metadata_json
from photoz.products.photometry import read_photometry
from photoz.products.simulate import read_shard_rows
from photoz.train.features import flux_features

log = logging.getLogger(__name__)

IMAGE_SCALINGS: tuple[str, ...] = ("none", "sigma", "asinh")
"""Accepted values of ``train.image_scaling`` (see :func:`scale_images`)."""



# --------------------------------------------------------------------------------------------
# Photometry
# --------------------------------------------------------------------------------------------
def load_photometry(path: str | Path, require_truth: bool = True,
                    flux_type: str | None = None) -> pd.DataFrame:
    """The selected rows of the photometry table, checked, with the flux type in ``df.attrs``.

    Parameters
    ----------
    path : path-like
        Photometry table (docs/outputs.md §3).
    require_truth : bool
        Require ``redshift`` and ``split`` (training); prediction does not.
    flux_type : str, optional
        ``kron`` or ``matched``: the fluxes the network reads (prediction: the checkpoint's).
        Default: the table's ``photometry.flux_type`` metadata, ``kron`` when absent (training
        reads the table the photometry stage wrote).

    Returns
    -------
    pandas.DataFrame
        :func:`photoz.products.photometry.read_photometry` of the table, its network columns
        (:func:`photoz.photometry.matched.network_flux_columns`) checked present and finite in
        every selected row, with ``df.attrs["flux_type"]`` (which fluxes :func:`flux_arrays`
        gives).

    Raises
    ------
    PhotozDataError
        As :func:`photoz.products.photometry.read_photometry`.
    PhotozValueError
        For a ``flux_type`` other than ``kron`` and ``matched``.
    """
    if flux_type is None:
        flux_type = _table_flux_type(path)
    flux_cols, err_cols, npix_col = network_flux_columns(flux_type, BANDS)
    df = read_photometry(path, require_truth=require_truth,
                         network_columns=[npix_col, *flux_cols, *err_cols])
    df.attrs["flux_type"] = flux_type
    return df


def _table_flux_type(path: Path) -> str:
    """``photometry.flux_type`` in the table's metadata (``kron`` when absent)."""
    config = metadata_json(path, "photometry table", "photometry_config", {})
    return config.get("flux_type", "kron") if isinstance(config, dict) else "kron"


def flux_arrays(df: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Fluxes, errors and aperture areas of a photometry table (the networks' inputs).

    The columns follow ``df.attrs["flux_type"]`` (``photometry.flux_type``, set by
    :func:`load_photometry`; default ``kron``): :func:`photoz.photometry.matched.network_flux_columns`.

    Returns
    -------
    flux : ndarray, shape (n_gal, 7), electrons
    flux_err : ndarray, shape (n_gal, 7), electrons
    npix : ndarray, shape (n_gal,), pixels
    """
    flux_cols, err_cols, npix_col = network_flux_columns(df.attrs.get("flux_type", "kron"), BANDS)
    flux = df[flux_cols].to_numpy(dtype=float)
    flux_err = df[err_cols].to_numpy(dtype=float)
    return flux, flux_err, df[npix_col].to_numpy(dtype=float)




# --------------------------------------------------------------------------------------------
# Stamps
# --------------------------------------------------------------------------------------------
def crop_or_pad(images: np.ndarray, size: int, noise_sigma: np.ndarray,
                rng: np.random.Generator) -> np.ndarray:
    """Centre-crop or noise-pad stamps to ``size`` x ``size`` (paper Sect. 4.2).

    Larger stamps keep their central ``size`` pixels; smaller ones are placed in the centre of a
    field of Gaussian noise with the band's background sigma (the paper pads with noise).

    Parameters
    ----------
    images : ndarray, shape (n, 7, H, W), electrons
    size : int
    noise_sigma : ndarray, shape (7,), electrons
        Background sigma per band (eq. 4).
    rng : numpy.random.Generator
        Used only when padding.

    Returns
    -------
    ndarray, shape (n, 7, size, size), float32
    """
    images = np.asarray(images, dtype=np.float32)
    n, nb, h, w = images.shape
    # Crop each axis that is too large.
    if h > size:
        y0 = (h - size) // 2
        images = images[:, :, y0:y0 + size, :]
        h = size
    if w > size:
        x0 = (w - size) // 2
        images = images[:, :, :, x0:x0 + size]
        w = size
    if h == size and w == size:
        return np.ascontiguousarray(images)
    sigma = np.asarray(noise_sigma, dtype=np.float32).reshape(1, nb, 1, 1)
    out = (rng.standard_normal((n, nb, size, size), dtype=np.float32) * sigma).astype(np.float32)
    y0, x0 = (size - h) // 2, (size - w) // 2
    out[:, :, y0:y0 + h, x0:x0 + w] = images
    return out


def load_stamps(shard_paths: Sequence[str | Path], object_ids: np.ndarray, size: int,
                noise_sigma: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Stamps of the given galaxies from the simulation shards (docs/outputs.md §2).

    Each shard is read once; only the wanted rows are kept, cropped or padded to ``size``
    (:func:`crop_or_pad`) as they are read. Padding is a warning in the log (once per shard).

    Parameters
    ----------
    shard_paths : sequence of path-like
        HDF5 files with datasets ``images`` (N, 7, H, W) electrons and ``object_id`` (N,).
    object_ids : ndarray, shape (n_gal,), int
        The galaxies wanted, in the order of the output.
    size : int
        Output side, pixels (32 in the paper).
    noise_sigma : ndarray, shape (7,), electrons
        Padding noise per band.
    rng : numpy.random.Generator

    Returns
    -------
    ndarray, shape (n_gal, 7, size, size), float32, electrons

    Raises
    ------
    PhotozDataError
        If a shard is unreadable or lacks a dataset, or a wanted object_id is in no shard.
    """
    object_ids = np.asarray(object_ids, dtype=np.int64)
    position = pd.Series(np.arange(len(object_ids)), index=object_ids)
    out = np.empty((len(object_ids), len(BANDS), size, size), dtype=np.float32)
    found = np.zeros(len(object_ids), dtype=bool)
    for path in shard_paths:
        ids, rows, block, _, _ = read_shard_rows(path, object_ids)
        if rows.size == 0:
            continue
        if min(block.shape[2:]) < size:
            log.warning("stamps of %s are %dx%d pixels, smaller than train.image_size %d: padded "
                        "with background noise of the band's sigma (paper Sect. 4.2)", path,
                        *block.shape[2:], size)
        dest = position.loc[ids].to_numpy()
        out[dest] = crop_or_pad(block, size, noise_sigma, rng)
        found[dest] = True
    if not found.all():
        missing = object_ids[~found]
        raise PhotozDataError(
            f"no stamp for object_id {int(missing[0])} (and {len(missing) - 1} more) in the "
            f"{len(shard_paths)} shard(s) {[str(p) for p in shard_paths][:3]}..."
        )
    return out


def scale_images(images: np.ndarray, scaling: str, noise_sigma: np.ndarray) -> np.ndarray:
    """Intensity scaling of stamps before the CNN.

    Parameters
    ----------
    images : ndarray, shape (n, 7, H, W), electrons
    scaling : str
        ``"none"``: electrons, as the paper states; ``"sigma"``: electrons / N_bkg per band, so
        the background has unit variance in every band; ``"asinh"``: asinh(electrons / N_bkg),
        linear within the noise and logarithmic for bright cores (Lupton, Gunn & Szalay 1999).
    noise_sigma : ndarray, shape (7,), electrons
        N_bkg per band (paper eq. 4).

    Returns
    -------
    ndarray, same shape, float32

    Raises
    ------
    PhotozConfigError
        For an unknown scaling (key ``train.image_scaling``).
    """
    if scaling not in IMAGE_SCALINGS:
        raise PhotozConfigError(
            f"train.image_scaling: {scaling!r} is not one of {list(IMAGE_SCALINGS)}"
        )
    images = np.asarray(images, dtype=np.float32)
    if scaling == "none":
        return images
    sigma = np.asarray(noise_sigma, dtype=np.float32).reshape(1, -1, 1, 1)
    scaled = images / sigma
    if scaling == "asinh":
        scaled = np.arcsinh(scaled)
    return scaled.astype(np.float32)


# --------------------------------------------------------------------------------------------
# D4 augmentation
# --------------------------------------------------------------------------------------------




def check_image_size(size: int) -> int:
    """Validate ``train.image_size`` (the CNN's global pooling accepts any multiple of 8 >= 8)."""
    if not isinstance(size, (int, np.integer)) or size < 8 or size % 8:
        raise PhotozConfigError(f"train.image_size: {size!r} must be a multiple of 8 (paper: 32)")
    return int(size)


# --------------------------------------------------------------------------------------------
# Network inputs
# --------------------------------------------------------------------------------------------
@dataclass
class NetworkInputs:
    """Prepared, in-memory inputs of every selected galaxy.

    Attributes
    ----------
    object_id : ndarray, shape (n,), int64
    z : ndarray, shape (n,), float32
        True redshift (NaN when unknown).
    split : ndarray, shape (n,), str
    flux : Tensor, shape (n, 20), float32
        Eq. 7 features of the measured fluxes.
    images : Tensor, shape (n, 7, S, S), float32, or None
        Scaled stamps (None for the MLP).
    input_scaling : dict
        What a predictor needs to prepare the same inputs (stored in the checkpoint).
    """

    object_id: np.ndarray
    z: np.ndarray
    split: np.ndarray
    flux: torch.Tensor
    images: torch.Tensor | None
    input_scaling: dict


def prepare_inputs(df: pd.DataFrame, shard_paths: Sequence[str | Path], needs_images: bool,
                   limiting_flux: np.ndarray, noise_sigma: np.ndarray, image_size: int,
                   image_scaling: str, rng: np.random.Generator) -> NetworkInputs:
    """Features and (if needed) scaled 32x32 stamps for the rows of a photometry table.

    Parameters
    ----------
    df : DataFrame
        From :func:`photoz.train.inputs.load_photometry`.
    shard_paths : sequence of path-like
        Stamp shards (read only when ``needs_images``).
    needs_images : bool
    limiting_flux : ndarray, shape (7,), electrons
        F_lim of eq. 7.
    noise_sigma : ndarray, shape (7,), electrons
        N_bkg per band (padding noise and image scaling).
    image_size : int
    image_scaling : str
    rng : numpy.random.Generator
        Padding noise.
    """
    flux, flux_err, _ = flux_arrays(df)
    feats = flux_features(flux, flux_err, limiting_flux)
    images = None
    if needs_images:
        raw = load_stamps(shard_paths, df["object_id"].to_numpy(), image_size, noise_sigma, rng)
        images = torch.from_numpy(scale_images(raw, image_scaling, noise_sigma))
    scaling = {
        "image_size": int(image_size),
        "image_scaling": image_scaling,
        "flux_type": df.attrs.get("flux_type", "kron"),
        "noise_sigma": [float(v) for v in noise_sigma],
        "limiting_flux": [float(v) for v in limiting_flux],
        "bands": list(photoz.BANDS),
    }
    return NetworkInputs(
        object_id=df["object_id"].to_numpy(dtype=np.int64),
        z=df["redshift"].to_numpy(dtype=np.float32),
        split=df["split"].astype(str).to_numpy(),
        flux=torch.from_numpy(feats),
        images=images,
        input_scaling=scaling,
    )
