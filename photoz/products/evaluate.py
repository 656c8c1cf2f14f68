"""The metrics stage's products (docs/outputs.md §5): ``summary.json`` and ``binned.csv``.

Written by rule ``compute_metrics`` (:func:`photoz.evaluate.summary.write_summary`); read by the
figures (Fig. 8, the peers' comparison) and the report.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import pandas as pd

from photoz.errors import PhotozDataError
from photoz.io import write_json, write_text
from photoz.products.common import corrupt, read_json, read_text

#: Top-level keys of ``results/metrics/summary.json`` besides one object per method.
SUMMARY_KEYS: tuple[str, ...] = ("n_selected", "train_test_ratio", "paper_row", "n_bootstrap",
                                 "seed")


#: The metrics binned.csv holds per bin, each with its bootstrap error ``<name>_err``
#: (computed by :func:`photoz.evaluate.metrics.binned_metrics`; Fig. 8 draws the first).
BINNED_METRICS: tuple[str, ...] = ("outlier_fraction", "sigma_nmad", "mae", "bias")


#: Columns of ``results/metrics/binned.csv``: the method, the binning (``binned_by``: ``z_pred`` or
#: ``z_true``), the bin and, for each of :data:`BINNED_METRICS`, the value and its error.
BINNED_COLUMNS: tuple[str, ...] = (
    "network", "binned_by", "z_lo", "z_hi", "z_mid", "n",
    *(f"{m}{suffix}" for m in BINNED_METRICS for suffix in ("", "_err")),
)


def write_summary_json(summary: dict, path: str | os.PathLike) -> None:
    """Write ``summary.json`` as indented strict JSON (NaN and inf as ``null``), atomically."""
    write_json(summary, path)


def read_summary(path: str | os.PathLike) -> dict:
    """Read ``summary.json``; raise naming the file if unreadable or not a JSON object."""
    return read_json(path, (), "metrics summary")


def write_binned(table: pd.DataFrame, path: str | os.PathLike) -> None:
    """Write ``binned.csv`` (6 significant digits), atomically."""
    write_text(path, table.to_csv(index=False, float_format="%.6g"))


def read_binned(path: str | os.PathLike) -> pd.DataFrame:
    """Read ``results/metrics/binned.csv`` as the metrics stage wrote it.

    Parameters
    ----------
    path : path-like

    Returns
    -------
    pandas.DataFrame
        One row per method, binning and bin, with the columns of :data:`BINNED_COLUMNS`
        (empty bins: n = 0 and NaN metrics).

    Raises
    ------
    PhotozDataError
        If the file is unreadable, corrupt (:func:`photoz.products.common.read_text`) or a
        column is missing (rerun compute_metrics).
    """
    path = Path(path)
    text = read_text(path, "binned metrics")
    try:
        df = pd.read_csv(io.StringIO(text))
    except ValueError as exc:
        raise corrupt(path, "binned metrics", exc) from exc
    missing = [c for c in BINNED_COLUMNS if c not in df.columns]
    if missing:
        raise PhotozDataError(
            f"binned metrics {path}: missing column(s) {missing}; rerun compute_metrics"
        )
    return df
