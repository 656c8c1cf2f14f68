"""What every product reader shares: the split names and the checks that name file, column and row.

Readers raise :class:`photoz.errors.PhotozDataError` naming the file, the column (or key) and
the first bad row (:func:`first_bad`); writers are atomic (:func:`photoz.io.atomic_path`).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from photoz.errors import PhotozDataError

#: Values of the ``split`` column (truth table, photometry, predictions).
SPLITS: tuple[str, ...] = ("train", "validation", "test", "unused")


def read_parquet(path: Path, columns: Sequence[str] | None, what: str,
                  optional: Iterable[str] = (), read_all: bool = False) -> pd.DataFrame:
    """Read ``columns`` (None or ``read_all``: all) of a parquet file; name any missing one."""
    try:
        names = pq.read_schema(path).names
    except (OSError, ValueError, pa.ArrowException) as exc:
        raise PhotozDataError(f"cannot read {what} {path}: {exc}") from exc
    optional = set(optional)
    if columns is not None:
        missing = [c for c in columns if c not in names and c not in optional]
        if missing:
            raise PhotozDataError(
                f"{what} {path}: missing column(s) {missing} (docs/outputs.md)"
            )
        columns = None if read_all else [c for c in columns if c in names]
    try:
        df = pd.read_parquet(path, columns=columns)
    except (OSError, ValueError, pa.ArrowException) as exc:
        raise PhotozDataError(f"cannot read {what} {path}: {exc}") from exc
    return df.reset_index(drop=True)


def first_bad(path: Path, what: str, df: pd.DataFrame, col: str, mask: np.ndarray,
               rule: str, rows: np.ndarray | None = None) -> None:
    """Raise naming the first row of ``df[col]`` where ``mask`` is true (``rows``: file rows)."""
    if np.any(mask):
        i = int(np.flatnonzero(mask)[0])
        row = int(rows[i]) if rows is not None else i
        raise PhotozDataError(
            f"{what} {path}: column {col!r} row {row} is {df[col].iloc[i]!r}; {rule} "
            f"({int(np.sum(mask))} bad rows)"
        )


def check_columns(df: pd.DataFrame, expected: Sequence[str], what: str, path) -> None:
    """Raise unless ``df``'s columns are ``expected``, in order (a writer's contract check)."""
    if list(df.columns) != list(expected):
        extra = [c for c in df.columns if c not in expected]
        missing = [c for c in expected if c not in df.columns]
        raise PhotozDataError(f"{what} {path}: columns differ from the contract "
                              f"(missing {missing}, extra {extra}, or out of order)")


def read_json(path: str | os.PathLike, keys: Sequence[str], what: str) -> dict:
    """Read a JSON object holding ``keys``; raise naming the file and any missing key."""
    path = Path(path)
    try:
        obj = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise PhotozDataError(f"cannot read {what} {path}: {exc}") from exc
    if not isinstance(obj, dict):
        raise PhotozDataError(f"{what} {path}: not a JSON object")
    missing = [k for k in keys if k not in obj]
    if missing:
        raise PhotozDataError(f"{what} {path}: missing key(s) {missing}")
    return obj
