"""Stamp shards ``results/images/shard_{i}.h5`` (docs/data_products.md §2): reader and writer.

A shard holds ``images`` (N, 7, H, W) float32 electrons, ``object_id`` (N,) int64 and
``noise_sigma`` (N, 7) float32 electrons, with attributes :data:`SHARD_ATTRS`. Every reader goes
through :func:`open_shard`, which checks the layout once; the simulation writes through
:func:`write_shard` (atomic, chunked, so that a shard of any size is written in bounded memory).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

import h5py
import numpy as np

from photoz import BANDS
from photoz.errors import PhotozDataError
from photoz.io import atomic_path

#: Datasets of a shard, in the order of docs/data_products.md §2.
SHARD_DATASETS: tuple[str, ...] = ("images", "object_id", "noise_sigma")
#: Attributes every shard carries (the simulation adds more: psf_r80, gsparams, versions ...).
SHARD_ATTRS: tuple[str, ...] = ("bands", "pixel_scale", "seed", "psf", "stamp_size")
#: Bytes of stamps read at a time by :func:`shard_chunks` (bounded memory).
CHUNK_BYTES = 32 * 2**20


@contextmanager
def open_shard(path: str | os.PathLike) -> Iterator[h5py.File]:
    """Open a shard for reading and check its layout once.

    Yields
    ------
    h5py.File
        With ``images`` (N, 7, H, W), ``object_id`` (N,) and ``noise_sigma`` (N, 7), and, if it
        has a ``bands`` attribute, the bands ``NUV u g r i z y``.

    Raises
    ------
    PhotozDataError
        Naming the file: missing, corrupt or truncated, a dataset missing, shapes that do not
        match, or other bands.
    """
    try:
        f = h5py.File(path, "r")
    except (OSError, ValueError) as exc:
        raise PhotozDataError(
            f"cannot open stamp shard {path} (missing, corrupt or truncated HDF5): {exc}; "
            "re-run the simulate rule for it"
        ) from exc
    with f:
        for name in SHARD_DATASETS:
            if name not in f:
                raise PhotozDataError(
                    f"stamp shard {path}: no dataset {name!r} (docs/data_products.md §2)"
                )
        images, oid, sigma = f["images"], f["object_id"], f["noise_sigma"]
        if images.ndim != 4 or images.shape[1] != len(BANDS):
            raise PhotozDataError(
                f"stamp shard {path}: dataset images has shape {images.shape}, expected "
                f"(N, {len(BANDS)}, H, W)"
            )
        n = images.shape[0]
        if oid.shape != (n,) or sigma.shape != (n, len(BANDS)):
            raise PhotozDataError(
                f"stamp shard {path}: object_id {oid.shape} and noise_sigma {sigma.shape} do "
                f"not match images {images.shape} (expected ({n},) and ({n}, {len(BANDS)}))"
            )
        bands = f.attrs.get("bands")
        if bands is not None:
            bands = [bd.decode() if isinstance(bd, bytes) else str(bd)
                     for bd in np.atleast_1d(bands)]
            if len(bands) == 1 and " " in bands[0]:
                bands = bands[0].split()
            if tuple(bands) != BANDS:
                raise PhotozDataError(
                    f"stamp shard {path}: attribute bands is {bands}, expected {list(BANDS)}"
                )
        yield f


def read_shard_ids(path: str | os.PathLike) -> np.ndarray:
    """The ``object_id`` dataset of a shard, int64 (layout checked by :func:`open_shard`)."""
    with open_shard(path) as f:
        return np.asarray(f["object_id"][()], dtype=np.int64)


def read_shard_rows(path: str | os.PathLike, object_ids) -> tuple[np.ndarray, ...]:
    """The rows of a shard whose ``object_id`` is in ``object_ids``.

    Returns
    -------
    ids : ndarray (k,) int64
        The object ids of the rows found, in shard order.
    rows : ndarray (k,) int
        Their row numbers in the shard.
    images : ndarray (k, 7, H, W) float32, electrons
    noise_sigma : ndarray (k, 7) float32, electrons
    pixel_scale : float
        arcsec (NaN if the shard has no ``pixel_scale`` attribute).

    Raises
    ------
    PhotozDataError
        As :func:`open_shard`; or a found row has non-finite pixels (row and object_id named).
    """
    with open_shard(path) as f:
        all_ids = np.asarray(f["object_id"][()], dtype=np.int64)
        rows = np.flatnonzero(np.isin(all_ids, np.asarray(object_ids, dtype=np.int64)))
        nb = f["images"].shape[1:]
        if rows.size == 0:
            return (all_ids[rows], rows, np.empty((0, *nb), np.float32),
                    np.empty((0, len(BANDS)), np.float32), float(f.attrs.get("pixel_scale", np.nan)))
        try:
            images = f["images"][rows[0]:rows[-1] + 1][rows - rows[0]]
            sigma = f["noise_sigma"][rows[0]:rows[-1] + 1][rows - rows[0]]
        except (OSError, ValueError, KeyError, RuntimeError) as exc:
            raise PhotozDataError(f"stamp shard {path}: cannot read rows {rows[0]}-{rows[-1]} "
                                  f"(corrupt or truncated file): {exc}") from exc
        scale = float(f.attrs.get("pixel_scale", np.nan))
    ok = np.isfinite(images).all(axis=(1, 2, 3))
    if not ok.all():
        bad = int(np.flatnonzero(~ok)[0])
        raise PhotozDataError(
            f"stamp shard {path}: dataset 'images' row {int(rows[bad])} "
            f"(object_id {int(all_ids[rows[bad]])}) has non-finite pixels"
        )
    return all_ids[rows], rows, images, sigma, scale


def shard_chunks(path: str | os.PathLike, chunk_bytes: int = CHUNK_BYTES):
    """Yield ``(start, images, object_id, noise_sigma)`` chunks of one shard, in row order.

    ``images`` float32 (k, 7, H, W), ``object_id`` int64 (k,), ``noise_sigma`` float64 (k, 7);
    about ``chunk_bytes`` of stamps at a time.

    Raises
    ------
    PhotozDataError
        As :func:`open_shard`, or for rows that cannot be read (truncated file).
    """
    with open_shard(path) as f:
        images, oid, sigma = f["images"], f["object_id"], f["noise_sigma"]
        n = images.shape[0]
        per_gal = max(1, int(np.prod(images.shape[1:])) * images.dtype.itemsize)
        step = max(1, chunk_bytes // per_gal)
        for start in range(0, n, step):
            stop = min(n, start + step)
            try:
                block = np.asarray(images[start:stop], dtype=np.float32)
                ids = np.asarray(oid[start:stop], dtype=np.int64)
                sig = np.asarray(sigma[start:stop], dtype=float)
            except (OSError, ValueError, KeyError, RuntimeError) as exc:
                raise PhotozDataError(
                    f"stamp shard {path}: cannot read rows {start}-{stop - 1} (corrupt or "
                    f"truncated file): {exc}; re-run the simulate rule for it"
                ) from exc
            yield start, block, ids, sig


@contextmanager
def write_shard(path: str | os.PathLike, object_id, stamp_shape: tuple[int, int],
                attrs: dict, chunk_rows: int | None = 8) -> Iterator[tuple]:
    """Create a shard atomically; yield its ``images`` and ``noise_sigma`` datasets to fill.

    Parameters
    ----------
    path : path-like
        The shard; written to a temporary file beside it and renamed when the block ends
        without an exception (:func:`photoz.io.atomic_path`).
    object_id : array-like (N,) int
    stamp_shape : (H, W)
    attrs : dict
        File attributes; must hold :data:`SHARD_ATTRS`.
    chunk_rows : int or None
        HDF5 chunk length along N of ``images`` (None: contiguous).

    Yields
    ------
    (images, noise_sigma) : h5py.Dataset
        Shapes (N, 7, H, W) and (N, 7), float32; the caller writes every row.
    """
    missing = [k for k in SHARD_ATTRS if k not in attrs]
    if missing:
        raise PhotozDataError(f"stamp shard {path}: attributes {missing} missing")
    object_id = np.asarray(object_id, dtype=np.int64)
    n, nb = len(object_id), len(BANDS)
    with atomic_path(path) as tmp:
        with h5py.File(tmp, "w") as h5:
            chunks = (min(chunk_rows, n), nb, *stamp_shape) if (n and chunk_rows) else None
            images = h5.create_dataset("images", shape=(n, nb, *stamp_shape), dtype="float32",
                                       chunks=chunks)
            h5.create_dataset("object_id", data=object_id)
            sigmas = h5.create_dataset("noise_sigma", shape=(n, nb), dtype="float32")
            for key, value in attrs.items():
                h5.attrs[key] = value
            yield images, sigmas

