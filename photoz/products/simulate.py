"""Stamp shards ``results/images/shard_{i}.h5`` (docs/outputs.md §2): reader and writer.

A shard holds ``images`` (N, 7, H, W) float32 electrons, ``object_id`` (N,) int64 and
``noise_sigma`` (N, 7) float32 electrons, with attributes :data:`SHARD_ATTRS`. Every reader goes
through :func:`open_shard`, which checks the layout once; the simulation writes through
:func:`write_shard` (atomic, chunked, so that a shard of any size is written in bounded memory).

Storage (config ``simulate.compression``, :data:`COMPRESSIONS`): ``none`` (the default) stores
``images`` uncompressed in chunks of 8 galaxies; ``gzip`` stores those chunks with HDF5's byte
shuffle and deflate level :data:`GZIP_LEVEL`, ``lzf`` with shuffle and LZF. All are
lossless and built into every h5py, so the readers return bit-identical arrays whatever the
writer chose. Measured on 2,048 galaxies of the default run (64 x 64 float32 stamps, 114,688
bytes per galaxy, docs/performance.md "Disk"): gzip 1.22x smaller (93.8 kB per galaxy), lzf 1.08x.
The pixels are float32 sums of Poisson and Gaussian read noise of sigma ~10 e-, not integers:
about 26 of their 32 bits are noise, so no lossless filter can do much better than 32/26 = 1.23x.

Integrity: every dataset is written with HDF5's ``fletcher32`` filter, a checksum of each chunk
(8 galaxies of ``images``) that HDF5 checks whenever the chunk is read; a damaged chunk is a
:class:`photoz.errors.PhotozDataError` naming the shard and how to remake it, never changed
pixels. 4 bytes a chunk (0.0004% of a 64 x 64 shard). HDF5 keeps no checksum of attributes, so
the attribute :data:`ATTRS_DIGEST` holds a SHA-256 of the others (:func:`attrs_digest`), checked
by :func:`open_shard`; text attributes are fixed-length ASCII (:func:`fixed_strings`: h5py reads
them as ``bytes``), out of the global heap whose damage hangs HDF5. :func:`verify_shard` reads a
whole shard.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager

import h5py
import numpy as np

from photoz import BANDS
from photoz.errors import PhotozConfigError, PhotozDataError, PhotozError
from photoz.io import atomic_path
from photoz.products.common import corrupt, remake_hint

#: Datasets of a shard, in the order of docs/outputs.md §2.
SHARD_DATASETS: tuple[str, ...] = ("images", "object_id", "noise_sigma")
#: Attributes every shard carries (the simulation adds more: psf_r80, gsparams, versions ...).
SHARD_ATTRS: tuple[str, ...] = ("bands", "pixel_scale", "seed", "psf", "stamp_size")
#: Bytes of stamps read at a time by :func:`shard_chunks` (bounded memory).
CHUNK_BYTES = 32 * 2**20
#: Storage of the ``images`` dataset (config ``simulate.compression``): lossless HDF5 filters
#: that every h5py build has (deflate and LZF ship with h5py), as :func:`h5py.File.create_dataset`
#: keywords. Shuffle (bytes of the same significance together) makes deflate 1.22x instead of 1.11x.
GZIP_LEVEL = 4
COMPRESSIONS: dict[str, dict] = {
    "none": {},
    "gzip": {"compression": "gzip", "compression_opts": GZIP_LEVEL, "shuffle": True},
    "lzf": {"compression": "lzf", "shuffle": True},
}


#: Attribute of a shard holding :func:`attrs_digest` of its other attributes.
ATTRS_DIGEST = "photoz_attrs_sha256"


def attrs_digest(attrs) -> str:
    """SHA-256 of HDF5 attributes (all but :data:`ATTRS_DIGEST`), independent of numpy's reprs.

    Each value is taken as an array: strings (and bytes) by their text, numbers by their Python
    values (``float`` repr is exact), with the shape; keys in sorted order.

    Parameters
    ----------
    attrs : mapping
        ``h5py`` attributes, or the dict they are written from.

    Returns
    -------
    str
        64 hexadecimal digits.
    """
    h = hashlib.sha256()
    for key in sorted(k for k in attrs if k != ATTRS_DIGEST):
        value = np.asarray(attrs[key])
        if value.dtype.kind in "OSU":
            items = [x.decode() if isinstance(x, bytes) else str(x) for x in value.ravel()]
        else:
            items = value.ravel().tolist()
        h.update(json.dumps([key, list(value.shape), items]).encode())
    return h.hexdigest()


def fixed_strings(value):
    """``value`` with its text as fixed-length ASCII (``numpy.bytes_``), for an HDF5 attribute.

    h5py stores ``str`` as variable-length strings, which live in HDF5's global heap; zeroed
    bytes over that heap made the HDF5 library loop forever reading the attribute (measured on a
    shard: reading ``bands`` never returned). Fixed-length strings sit in the attribute message
    itself. Numbers and arrays of numbers are returned as they are.
    """
    if isinstance(value, str):
        return np.array(value.encode(), dtype=f"S{max(1, len(value.encode()))}")[()]
    arr = np.asarray(value) if isinstance(value, (list, tuple, np.ndarray)) else None
    if arr is not None and arr.dtype.kind in "UOS":
        items = [x.encode() if isinstance(x, str) else bytes(x) for x in arr.ravel()]
        width = max([1, *map(len, items)])
        return np.array(items, dtype=f"S{width}").reshape(arr.shape)
    return value


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
        raise corrupt(path, "stamp shard", f"cannot open it as HDF5: {exc}") from exc
    with f:
        try:
            _check_layout(path, f)
            yield f
        except PhotozError:
            raise
        except (OSError, KeyError, RuntimeError) as exc:
            # h5py: a chunk failing its fletcher32 checksum, a damaged object header or B-tree
            raise corrupt(path, "stamp shard", exc) from exc


def _check_layout(path, f: h5py.File) -> None:
    """:func:`open_shard`'s checks of an open shard."""
    for name in SHARD_DATASETS:
        if name not in f:
            raise PhotozDataError(
                f"stamp shard {path}: no dataset {name!r} (docs/outputs.md §2)"
            )
    images, oid, sigma = f["images"], f["object_id"], f["noise_sigma"]
    if images.ndim != 4 or images.shape[1] != len(BANDS):
        raise PhotozDataError(
            f"stamp shard {path}: dataset images has shape {images.shape}, expected "
            f"(N, {len(BANDS)}, H, W)"
        )
    _check_filters(path, images)
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
    stored = f.attrs.get(ATTRS_DIGEST)
    if stored is None and any(f[name].fletcher32 for name in SHARD_DATASETS):
        # written with checksums, so with the digest too: zeroed bytes turned its message into
        # padding (HDF5 reads a zeroed header message as an empty one)
        raise corrupt(path, "stamp shard", "its attribute digest is missing")
    if stored is not None:
        stored = stored.decode() if isinstance(stored, bytes) else str(stored)
        if stored != attrs_digest(f.attrs):
            raise corrupt(path, "stamp shard", "its attributes differ from their digest")


def _check_filters(path, dataset: h5py.Dataset) -> None:
    """Raise if ``dataset`` was written with an HDF5 filter this h5py cannot decode."""
    plist = dataset.id.get_create_plist()
    for k in range(plist.get_nfilters()):
        code, _, _, name = plist.get_filter(k)
        if not h5py.h5z.filter_avail(code):
            label = name.decode(errors="replace") if isinstance(name, bytes) else str(name)
            raise PhotozDataError(
                f"stamp shard {path}: dataset {dataset.name.lstrip('/')!r} is compressed with "
                f"HDF5 filter {code} ({label!r}), which this h5py cannot decode; re-run the "
                f"simulate rule with simulate.compression one of {list(COMPRESSIONS)}"
            )


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
                                  f"(corrupt or truncated file): {exc}; "
                                  f"{remake_hint(path)}") from exc
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
                    f"truncated file): {exc}; {remake_hint(path)}"
                ) from exc
            yield start, block, ids, sig


@contextmanager
def write_shard(path: str | os.PathLike, object_id, stamp_shape: tuple[int, int],
                attrs: dict, chunk_rows: int | None = 8,
                compression: str = "none") -> Iterator[tuple]:
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
        HDF5 chunk length along N of ``images`` (None: 8; every dataset is chunked, as the
        ``fletcher32`` checksum of each chunk needs). The stages read runs of rows (photometry 32 MiB blocks, training
        the span of its rows), so 8 galaxies a chunk cost them nothing and compress 1.7% better
        than one (gzip 1.223x vs 1.203x, measured).
    compression : str
        A key of :data:`COMPRESSIONS` (config ``simulate.compression``); all lossless.

    Yields
    ------
    (images, noise_sigma) : h5py.Dataset
        Shapes (N, 7, H, W) and (N, 7), float32; the caller writes every row.

    Raises
    ------
    PhotozConfigError
        For an unknown ``compression`` (key ``simulate.compression``).
    PhotozDataError
        If ``attrs`` lacks one of :data:`SHARD_ATTRS`.
    """
    if compression not in COMPRESSIONS:
        raise PhotozConfigError(
            f"simulate.compression: {compression!r} is not one of {list(COMPRESSIONS)}"
        )
    filters = COMPRESSIONS[compression]
    chunk_rows = chunk_rows or 8  # HDF5 filters (fletcher32 always) need chunks
    missing = [k for k in SHARD_ATTRS if k not in attrs]
    if missing:
        raise PhotozDataError(f"stamp shard {path}: attributes {missing} missing")
    object_id = np.asarray(object_id, dtype=np.int64)
    n, nb = len(object_id), len(BANDS)
    with atomic_path(path) as tmp:
        with h5py.File(tmp, "w") as h5:
            chunks = (min(chunk_rows, n), nb, *stamp_shape) if n else None
            images = h5.create_dataset("images", shape=(n, nb, *stamp_shape), dtype="float32",
                                       chunks=chunks, fletcher32=True, **(filters if n else {}))
            h5.create_dataset("object_id", data=object_id, fletcher32=True)
            sigmas = h5.create_dataset("noise_sigma", shape=(n, nb), dtype="float32",
                                       fletcher32=True)
            for key, value in attrs.items():
                h5.attrs[key] = fixed_strings(value)
            h5.attrs[ATTRS_DIGEST] = fixed_strings(attrs_digest(h5.attrs))
            yield images, sigmas



def crop_shard(src: str | os.PathLike, dst: str | os.PathLike, object_ids, size: int,
               compression: str = "none") -> int:
    """Write the shard of what the networks read: the given galaxies' central ``size`` pixels.

    After the photometry, the stages read stamps only through :func:`read_shard_rows` for the
    selected galaxies, and the networks keep their central ``train.image_size`` pixels
    (:func:`photoz.train.inputs.crop_or_pad`, offset ``(H - size) // 2``). This copy holds exactly
    that, so :func:`photoz.train.inputs.load_stamps` returns bit-identical arrays from it; for the
    default run's selection (52%) and 32 of 64 pixels it is 13% of the shard. The photometry
    cannot be re-run on it (its detection and Kron apertures use the whole stamp).

    Parameters
    ----------
    src, dst : path-like
        A shard (§2) and the cropped shard to write (atomically, through :func:`write_shard`).
    object_ids : array-like of int
        Galaxies to keep (those of ``src`` not among them are dropped; shard order is kept).
    size : int
        Side of the kept centre, pixels; at most the stamp's side.
    compression : str
        As :func:`write_shard`.

    Returns
    -------
    int
        Galaxies written.

    Raises
    ------
    PhotozDataError
        As :func:`read_shard_rows`, or ``size`` larger than the stamps of ``src``.
    """
    ids, _, images, sigma, _ = read_shard_rows(src, object_ids)
    with open_shard(src) as f:
        attrs = {k: v for k, v in f.attrs.items() if k != ATTRS_DIGEST}
        h, w = f["images"].shape[2:]
    if not 0 < size <= min(h, w):
        raise PhotozDataError(f"stamp shard {src}: cannot crop {h}x{w} stamps to {size}x{size}")
    y0, x0 = (h - size) // 2, (w - size) // 2
    attrs.update(stamp_size=int(size), cropped_from=int(h))
    with write_shard(dst, ids, (size, size), attrs, compression=compression) as (im, sg):
        if len(ids):
            im[...] = images[:, :, y0:y0 + size, x0:x0 + size]
            sg[...] = sigma
    return len(ids)


def verify_shard(path: str | os.PathLike, chunk_bytes: int = CHUNK_BYTES) -> None:
    """Read every byte of a shard's datasets, so that HDF5 checks every chunk's checksum.

    Parameters
    ----------
    path : path-like
        A stamp shard or cropped shard (§2).
    chunk_bytes : int
        Bytes of stamps read at a time (bounded memory).

    Raises
    ------
    PhotozDataError
        As :func:`open_shard`; if a chunk fails its ``fletcher32`` checksum or cannot be read;
        or if a dataset carries no checksum (written before photoz kept one), so that the shard
        cannot be verified. Each message names the file and how to remake it.
    """
    with open_shard(path) as f:
        if ATTRS_DIGEST not in f.attrs:
            raise PhotozDataError(
                f"stamp shard {path}: its attributes carry no digest (written before photoz "
                f"checked its shards), so it cannot be verified; {remake_hint(path)}")
        for name in SHARD_DATASETS:
            data = f[name]
            dict(data.attrs)  # damaged attribute messages fail here
            if not data.fletcher32:
                raise PhotozDataError(
                    f"stamp shard {path}: dataset {name!r} carries no checksum (written before "
                    f"photoz checked its shards), so it cannot be verified; {remake_hint(path)}")
            per_row = data.dtype.itemsize * int(np.prod(data.shape[1:]))
            rows = max(1, chunk_bytes // max(1, per_row))
            for start in range(0, data.shape[0], rows):
                data[start:start + rows]
