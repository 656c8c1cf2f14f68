"""What every product reader shares: the split names and the checks that name file, column and row.

Readers raise :class:`photoz.errors.PhotozDataError` naming the file, the column (or key) and
the first bad row (:func:`first_bad`); writers are atomic (:func:`photoz.io.atomic_path`).

Integrity (docs/outputs.md, "Checksums"): parquet pages carry CRC-32 checksums that
:func:`read_parquet` verifies; the text products (JSON, CSV) are read by :func:`read_text`, which
refuses a NUL byte (no text product holds one, and zeroed bytes are NUL bytes) and invalid UTF-8.
A corrupt product's error says how to remake it (:func:`remake_hint`).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from photoz.errors import PhotozDataError
from photoz.names import NETWORKS

#: Values of the ``split`` column (truth table, photometry, predictions).
SPLITS: tuple[str, ...] = ("train", "validation", "test", "unused")


#: The rule(s) that write each product, by path (Snakemake's ``results/...`` outputs), for
#: :func:`remake_hint`; first match wins, and the first rule is the one to ``--forcerun``.
PRODUCT_RULES: tuple[tuple[str, tuple[str, ...]], ...] = (
    (r"catalog/flow[^/]*$", ("train_flow",)),
    (r"catalog/(truth\.parquet|fit_quality\.json)$", ("prepare_catalog",)),
    (r"images/shard_\d+\.h5$", ("simulate_images",)),
    (r"(images/cropped_\d+\.h5|photometry/shards/measured_\d+\.parquet)$", ("measure_shard",)),
    (r"photometry/r\d+-\d+/photometry\.parquet$", ("split_ratio",)),
    (r"photometry/(photometry\.parquet|selection\.json)$", ("measure_photometry",)),
    (r"(models/.*_m\d+(\.pt|_history\.csv)|members/.*)$", ("train_member",)),
    (r"(models/.*(\.pt|_history\.csv)|predictions/(r\d+-\d+/)?(" + "|".join(NETWORKS)
     + r")\.parquet|pdfs/.*\.hdf5)$", ("train_network", "combine_ensemble")),
    (r"(predictions/.*\.parquet|peers/.*)$", ("fit_peer", "fit_rail_peer")),
    (r"metrics/.*$", ("compute_metrics",)),
    (r"figures/.*$", ("plot_figure",)),
)


def product_rules(path: str | os.PathLike) -> tuple[str, ...]:
    """The rules of :data:`PRODUCT_RULES` that may write ``path`` (empty for another file)."""
    text = Path(path).as_posix()
    for pattern, rules in PRODUCT_RULES:
        if re.search(r"(^|/)" + pattern, text):
            return rules
    return ()


def remake_hint(path: str | os.PathLike) -> str:
    """What to do about a corrupt ``path``: delete it and rerun, naming the rule that writes it.

    Deleting works for every product (the run's targets include them all, so Snakemake reruns
    the job that writes a missing one, and the jobs after it); ``--forcerun`` does the same
    without deleting.
    """
    rules = product_rules(path)
    if not rules:
        return f"remake it: delete {path} and rerun the step that wrote it, or restore a good copy"
    return (f"remake it: delete {path} and rerun snakemake (rule {' or '.join(rules)} writes "
            f"it), or snakemake --forcerun {rules[0]}")


def corrupt(path: str | os.PathLike, what: str, detail: object) -> PhotozDataError:
    """The error for a product whose bytes fail a check: names the file and how to remake it.

    A missing file gets a plain "no such file" (``detail`` a :class:`FileNotFoundError`). The
    message is one line.
    """
    if isinstance(detail, FileNotFoundError) or not Path(path).exists():
        return PhotozDataError(f"cannot read {what} {path}: no such file")
    detail = " ".join(str(detail).split())  # one line (pyarrow's messages hold newlines)
    return PhotozDataError(f"{what} {path} is corrupt or unreadable ({detail}); "
                           f"{remake_hint(path)}")


def parquet_metadata(path: str | os.PathLike, what: str) -> dict[bytes, bytes]:
    """The key-value metadata of a parquet file's schema (``{}`` if none).

    Raises
    ------
    PhotozDataError
        If the file cannot be read (missing, not parquet, a corrupt footer).
    """
    try:
        return dict(pq.read_schema(path).metadata or {})
    except (OSError, ValueError, pa.ArrowException) as exc:
        raise corrupt(path, what, exc) from exc


def metadata_json(path: str | os.PathLike, what: str, key: str, default: object = None) -> object:
    """The JSON value of one key of a parquet file's metadata (``default`` when absent).

    Raises
    ------
    PhotozDataError
        If the file cannot be read or the value is not JSON (a corrupt footer).
    """
    raw = parquet_metadata(path, what).get(key.encode())
    if raw is None:
        return default
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise corrupt(path, what, f"metadata {key!r} is not JSON: {exc}") from exc


def read_parquet(path: Path, columns: Sequence[str] | None, what: str,
                  optional: Iterable[str] = (), read_all: bool = False) -> pd.DataFrame:
    """Read ``columns`` (None or ``read_all``: all) of a parquet file; name any missing one.

    Page checksums are verified where the file has them (every product photoz writes:
    :func:`photoz.io.write_parquet`); a table without them (a user's, or one re-saved with
    pandas) is read as it is.

    Raises
    ------
    PhotozDataError
        If the file cannot be read, a page fails its checksum (naming the file and how to remake
        it) or a column is missing.
    """
    try:
        names = pq.read_schema(path).names
    except (OSError, ValueError, pa.ArrowException) as exc:
        raise corrupt(path, what, exc) from exc
    optional = set(optional)
    if columns is not None:
        missing = [c for c in columns if c not in names and c not in optional]
        if missing:
            raise PhotozDataError(
                f"{what} {path}: missing column(s) {missing} (docs/outputs.md)"
            )
        columns = None if read_all else [c for c in columns if c in names]
    try:
        df = pd.read_parquet(path, columns=columns, page_checksum_verification=True)
    except (OSError, ValueError, pa.ArrowException) as exc:
        raise corrupt(path, what, exc) from exc
    return df.reset_index(drop=True)


def first_bad(path: Path, what: str, df: pd.DataFrame, col: str, mask: np.ndarray,
               rule: str, rows: np.ndarray | None = None) -> None:
    """Raise naming the first row of ``df[col]`` where ``mask`` is true (``rows``: file rows)."""
    if np.any(mask):
        i = int(np.flatnonzero(mask)[0])
        row = int(rows[i]) if rows is not None else i
        value = df[col].iloc[i]
        value = value.item() if isinstance(value, np.generic) else value  # nan, not np.float64(nan)
        raise PhotozDataError(
            f"{what} {path}: column {col!r} row {row} is {value!r}; {rule} "
            f"({int(np.sum(mask))} bad rows)"
        )


def check_columns(df: pd.DataFrame, expected: Sequence[str], what: str, path) -> None:
    """Raise unless ``df``'s columns are ``expected``, in order (a writer's contract check)."""
    if list(df.columns) != list(expected):
        extra = [c for c in df.columns if c not in expected]
        missing = [c for c in expected if c not in df.columns]
        raise PhotozDataError(f"{what} {path}: columns differ from the contract "
                              f"(missing {missing}, extra {extra}, or out of order)")


def read_text(path: str | os.PathLike, what: str) -> str:
    """The text of a text product (JSON, CSV, Markdown, HTML), checked for corruption.

    No text product holds a NUL byte, and zeroed bytes are NUL bytes: one anywhere in the file
    means it was damaged after it was written (or was never a text file).

    Raises
    ------
    PhotozDataError
        If the file is missing or unreadable, holds a NUL byte (its offset named) or is not
        UTF-8; the message says how to remake it.
    """
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise PhotozDataError(f"cannot read {what} {path}: {exc}") from exc
    nul = data.find(b"\0")
    if nul >= 0:
        raise corrupt(path, what, f"NUL byte at offset {nul}: zeroed bytes "
                      f"({data.count(0)} NUL bytes in {len(data)})")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise corrupt(path, what, f"not UTF-8 text: {exc}") from exc


def read_json(path: str | os.PathLike, keys: Sequence[str], what: str) -> dict:
    """Read a JSON object holding ``keys``; raise naming the file and any missing key.

    Raises
    ------
    PhotozDataError
        As :func:`read_text`, or if the text is not a JSON object or lacks one of ``keys``.
    """
    path = Path(path)
    text = read_text(path, what)
    try:
        obj = json.loads(text)
    except ValueError as exc:
        raise corrupt(path, what, f"not JSON: {exc}") from exc
    if not isinstance(obj, dict):
        raise PhotozDataError(f"{what} {path}: not a JSON object")
    missing = [k for k in keys if k not in obj]
    if missing:
        raise PhotozDataError(f"{what} {path}: missing key(s) {missing}")
    return obj
