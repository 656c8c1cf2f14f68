"""``python -m photoz verify``: check every data product of a run against its checksum.

A ``results/`` copied from a cluster, or left on a disk for months, can be checked before it is
trusted: each product is read whole and compared with the checksum it carries (docs/outputs.md,
"Checksums"):

- parquet (``*.parquet``): the CRC-32 of every data page (:func:`photoz.io.write_parquet`), and
  the JSON of the schema's metadata (:func:`verify_parquet`);
- stamp shards (``images/*.h5``): the ``fletcher32`` checksum of every HDF5 chunk
  (:func:`photoz.products.simulate.verify_shard`);
- p(z) files (``*.hdf5``): the SHA-256 of their datasets (:func:`photoz.products.train.verify_ensemble`);
- checkpoints (``*.pt``): the SHA-256 of their content (:func:`photoz.products.train.load_checkpoint`);
- JSON, CSV, Markdown and HTML: no NUL byte, UTF-8, and JSON / CSV that parse
  (:func:`photoz.products.common.read_text`);
- PNG figures: the CRC-32 of every PNG chunk (:func:`verify_png`).

Other files (the figures' PDFs, the peers' pickled models, BPZ's data files) carry no checksum and
are counted as not checked. A product written before photoz kept checksums is reported as bad
("carries no checksum"): it cannot be told from a damaged one.
"""

from __future__ import annotations

import io
import json
import os
import struct
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from photoz.errors import PhotozDataError, PhotozError
from photoz.io import PARQUET_CHECKSUM_KEY
from photoz.products.common import corrupt, read_text, remake_hint
from photoz.products.simulate import verify_shard
from photoz.products.train import load_checkpoint, verify_ensemble

#: Parquet metadata keys whose values are not JSON (pyarrow's serialised Arrow schema, base64).
_NOT_JSON_KEYS = (b"ARROW:schema",)


def verify_parquet(path: str | os.PathLike) -> None:
    """Read a parquet product whole, verifying every page checksum and the schema's metadata.

    Raises
    ------
    PhotozDataError
        Naming the file and how to remake it: unreadable, a page failing its CRC-32, a metadata
        value that is not JSON (zeroed bytes in the footer), or no page checksums at all (written
        before photoz kept them, or by another program).
    """
    try:
        pf = pq.ParquetFile(path, page_checksum_verification=True)
        meta = pf.metadata.metadata or {}  # the footer's own key-value pairs
        created_by = pf.metadata.created_by or ""
        table = pf.read()
    except (OSError, ValueError, pa.ArrowException) as exc:
        raise corrupt(path, "parquet file", exc) from exc
    _check_statistics(path, pf.metadata, table)
    for key, value in meta.items():
        if key in _NOT_JSON_KEYS:
            continue
        try:
            json.loads(value)
        except ValueError as exc:
            raise corrupt(path, "parquet file",
                          f"metadata {key.decode(errors='replace')!r} is not JSON: {exc}") from exc
    if "\0" in created_by:
        raise corrupt(path, "parquet file", "NUL bytes in the footer's created_by")
    if PARQUET_CHECKSUM_KEY.encode() not in meta:
        raise PhotozDataError(f"parquet file {path}: carries no page checksums (written before "
                              f"photoz kept them), so it cannot be verified; {remake_hint(path)}")


def _check_statistics(path, metadata, table: pa.Table) -> None:
    """Every column chunk holding a value has its min / max (a zeroed footer loses them).

    The footer's column sort orders carry no checksum; zeroed, they leave the statistics without
    their min and max (pyarrow then ignores them), which is the one trace they leave.
    """
    start = 0
    for g in range(metadata.num_row_groups):
        group = metadata.row_group(g)
        part = table.slice(start, group.num_rows)
        start += group.num_rows
        for j in range(group.num_columns):
            stats = group.column(j).statistics
            if stats is None or stats.has_min_max:
                continue
            col = part.column(j)
            valid = pc.invert(pc.is_nan(col)) if pa.types.is_floating(col.type) else \
                pc.is_valid(col)
            if pc.any(valid).as_py():
                raise corrupt(path, "parquet file", f"column {table.column_names[j]!r} lost the "
                              "min and max of its statistics (a damaged footer)")


def verify_png(path: str | os.PathLike) -> None:
    """Check a PNG file's signature and the CRC-32 of each of its chunks, up to ``IEND``.

    Pillow's ``Image.verify`` (the PNG plugin reads every chunk and checks its CRC) does the work;
    Pillow comes with matplotlib.

    Raises
    ------
    PhotozDataError
        Naming the file: not a PNG, truncated, or a chunk whose CRC does not match.
    """
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path, formats=["PNG"]) as image:
            image.verify()
    except (UnidentifiedImageError, SyntaxError, OSError, ValueError, struct.error) as exc:
        raise corrupt(path, "figure", exc) from exc


def _verify_text(path: Path) -> None:
    """A text product: no NUL byte, UTF-8; JSON and CSV must parse."""
    text = read_text(path, "text product")
    try:
        if path.suffix == ".json":
            json.loads(text)
        elif path.suffix == ".csv":
            pd.read_csv(io.StringIO(text))
    except (ValueError, pd.errors.ParserError) as exc:
        raise corrupt(path, "text product", exc) from exc


def _verify_hdf5(path: Path) -> None:
    """An HDF5 product: a stamp shard (``images/``) or a qp p(z) file (any other)."""
    if path.parent.name == "images" or path.suffix == ".h5":
        verify_shard(path)
    else:
        verify_ensemble(path)


#: The check of each kind of product, by file suffix.
CHECKS = {
    ".parquet": verify_parquet,
    ".h5": _verify_hdf5,
    ".hdf5": _verify_hdf5,
    ".pt": load_checkpoint,
    ".json": _verify_text,
    ".csv": _verify_text,
    ".md": _verify_text,
    ".html": _verify_text,
    ".png": verify_png,
}


def verify_file(path: str | os.PathLike) -> bool:
    """Check one product against its checksum.

    Returns
    -------
    bool
        True if it was checked and is good, False if its kind carries no checksum
        (:data:`CHECKS` has no check for its suffix).

    Raises
    ------
    PhotozDataError
        Naming the file and how to remake it, if it is corrupt or cannot be verified.
    """
    path = Path(path)
    check = CHECKS.get(path.suffix)
    if check is None:
        return False
    try:
        check(path)
    except PhotozError:
        raise
    except Exception as exc:  # a reader's own error on damaged bytes (h5py, torch, zlib ...)
        raise corrupt(path, "product", f"{type(exc).__name__}: {exc}") from exc
    return True


@dataclass
class Verification:
    """What :func:`verify_results` found: good, bad (path, message) and unchecked files."""

    good: list[Path] = field(default_factory=list)
    bad: list[tuple[Path, str]] = field(default_factory=list)
    unchecked: list[Path] = field(default_factory=list)
    temporaries: list[Path] = field(default_factory=list)


def is_temporary(path: Path) -> bool:
    """Whether ``path`` is a temporary file of :func:`photoz.io.atomic_path` (``.<name>.<random>.tmp``)."""
    return path.name.startswith(".") and path.suffix in (".tmp", ".hdf5") and \
        path.name.count(".") >= 3


def verify_results(results: str | os.PathLike = "results", progress: bool = True) -> Verification:
    """Check every file under ``results`` (:func:`verify_file`).

    Parameters
    ----------
    results : path-like
        A run's results directory.
    progress : bool
        Show a progress bar on a terminal (``tqdm(disable=None)``: none when not a terminal).

    Returns
    -------
    Verification

    Raises
    ------
    PhotozDataError
        If ``results`` is not a directory.
    """
    from tqdm import tqdm

    root = Path(results)
    if not root.is_dir():
        raise PhotozDataError(f"photoz verify: {root} is not a directory (a run's results/)")
    files = sorted(p for p in root.rglob("*") if p.is_file())
    out = Verification()
    for path in tqdm(files, desc="verify", unit="file", disable=None if progress else True):
        if is_temporary(path):
            out.temporaries.append(path)
            continue
        try:
            (out.good if verify_file(path) else out.unchecked).append(path)
        except PhotozDataError as exc:
            out.bad.append((path, str(exc)))
    return out
