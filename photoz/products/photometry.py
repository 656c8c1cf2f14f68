"""The photometry stage's products (docs/outputs.md §3): ``photometry.parquet``,
``selection.json`` and the per-shard measurements.

Written by rules ``measure_photometry`` and ``measure_shard`` (:mod:`photoz.photometry.stage`) and
``split_ratio`` (:func:`photoz.catalog.splits.write_ratio_photometry`); read by training, the peers
and the figures.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from photoz import BANDS
from photoz.errors import PhotozDataError
from photoz.io import write_json, write_parquet
from photoz.products.common import (
    SPLITS,
    check_columns,
    first_bad,
    metadata_json,
    read_json,
    read_parquet,
)

#: The matched-filter columns (issue 17; photoz.photometry.matched), RAIL-style names per band.
MATCHED_TEMPLATES: dict[str, str] = {
    "flux": "flux_matched_{band}_csst",
    "flux_err": "flux_err_matched_{band}_csst",
    "mag": "mag_matched_{band}_csst",
    "mag_err": "mag_err_matched_{band}_csst",
    "snr": "snr_matched_{band}_csst",
}


#: Per-galaxy matched-filter columns: N_eff (pixels) and the weight's sigmas (pixels).
MATCHED_SHAPE_COLUMNS: tuple[str, ...] = ("npix_matched", "matched_sigma_a", "matched_sigma_b")


#: Columns of ``results/photometry/photometry.parquet``, in order (docs/outputs.md §3).
PHOTOMETRY_COLUMNS: tuple[str, ...] = (
    "object_id", "redshift", "split",
    *(f"{p}_{b}" for p in ("flux", "flux_err", "mag", "mag_err", "snr") for b in BANDS),
    "kron_radius", "a", "b", "theta", "npix",
    *(tpl.format(band=b) for tpl in MATCHED_TEMPLATES.values() for b in BANDS),
    *MATCHED_SHAPE_COLUMNS,
    "flag", "selected",
)


#: Keys of ``results/photometry/selection.json``.
SELECTION_KEYS: tuple[str, ...] = ("n_total", "n_measured", "n_selected", "snr_threshold",
                                   "snr_bands")


#: What the networks read of a selected row with ``photometry.flux_type: kron`` (finite; errors
#: and npix > 0); :func:`photoz.photometry.matched.network_flux_columns` gives them per flux type.
_NETWORK_INPUTS = ("npix", *(f"flux_{b}" for b in BANDS), *(f"flux_err_{b}" for b in BANDS))


def write_photometry(df: pd.DataFrame, path: str | os.PathLike, metadata: dict) -> None:
    """Write the photometry table (columns :data:`PHOTOMETRY_COLUMNS`, in order) atomically."""
    check_columns(df, PHOTOMETRY_COLUMNS, "photometry table", path)
    write_parquet(df, path, metadata)


def read_photometry(path: str | os.PathLike, require_truth: bool = True,
                    selected_only: bool = True, columns: Sequence[str] = (),
                    network_columns: Sequence[str] = _NETWORK_INPUTS) -> pd.DataFrame:
    """Read the photometry table (docs/outputs.md §3) and check what the consumers use.

    Parameters
    ----------
    path : path-like
        Parquet file with ``object_id``, ``flux_<b>``, ``flux_err_<b>``, ``npix`` and, if
        ``require_truth``, ``redshift`` and ``split``.
    require_truth : bool
        Require ``redshift`` and ``split`` (training, peers, figures); otherwise missing ones
        are filled with NaN and ``""`` (a new catalogue to predict).
    selected_only : bool
        Keep only rows with ``selected`` true (a table without that column is used whole);
        the checks below apply to the selected rows either way (an unmeasured row has NaN).
    columns : sequence of str
        Further columns the caller needs (e.g. ``mag_<b>``), checked present.
    network_columns : sequence of str
        The fluxes, errors and aperture area the networks read (default the Kron ones; a
        matched-flux network's from :func:`photoz.photometry.matched.network_flux_columns`):
        each must be present, and finite in every selected row, the errors (``flux_err*``) and
        areas (``npix*``) > 0.

    Returns
    -------
    pandas.DataFrame
        The kept rows, index reset, with the original row number in column ``_row`` and the
        file's number of rows in ``df.attrs["n_rows"]``.

    Raises
    ------
    PhotozDataError
        If the file cannot be read or is corrupt (a page failing its checksum), a column is
        missing, or a selected row has a non-finite flux, error, npix or redshift (errors and
        npix must be > 0), an unknown split, or a repeated object_id (the message names file,
        column and row).
    """
    path = Path(path)
    what = "photometry table"
    df = read_parquet(path, None, what)
    needed = (["object_id", *network_columns]
              + (["redshift", "split"] if require_truth else []))
    missing = [c for c in [*needed, *columns] if c not in df.columns]
    if missing:
        raise PhotozDataError(f"{what} {path}: missing columns {missing}")
    n_rows = len(df)
    df = df.assign(_row=np.arange(n_rows))
    if "selected" in df.columns:
        sel = df[df["selected"].astype(bool).to_numpy()].reset_index(drop=True)
    else:
        sel = df
    if selected_only:
        df = sel
    df = df.reset_index(drop=True)
    for frame in {id(df): df, id(sel): sel}.values():
        if "redshift" not in frame.columns:
            frame["redshift"] = np.nan
        if "split" not in frame.columns:
            frame["split"] = ""
    _check_selected(path, what, sel, require_truth, network_columns)
    df["redshift"] = pd.to_numeric(df["redshift"], errors="coerce")  # checked in selected rows
    df.attrs["n_rows"] = n_rows
    return df


def _check_selected(path: Path, what: str, df: pd.DataFrame, require_truth: bool,
                    network_columns: Sequence[str]) -> None:
    """Check the selected rows ``df`` of a photometry table (what the networks read)."""
    rows = df["_row"].to_numpy()
    if not pd.api.types.is_integer_dtype(df["object_id"]):
        raise PhotozDataError(f"{what} {path}: column 'object_id' must be integer, is "
                              f"{df['object_id'].dtype}")
    for col in [*network_columns, *(["redshift"] if require_truth else [])]:
        values = pd.to_numeric(df[col], errors="coerce").to_numpy(dtype=float)
        bad = ~np.isfinite(values)
        positive = col.startswith("flux_err") or col.startswith("npix")
        if positive:
            bad |= values <= 0
        first_bad(path, what, df, col, bad,
                   "must be finite and positive" if positive else "must be finite", rows)
    if require_truth:
        first_bad(path, what, df, "split", ~df["split"].isin(SPLITS).to_numpy(),
                   f"expected one of {list(SPLITS)}", rows)
    elif "redshift" in df.columns:  # optional (a catalogue to predict), but numbers if there
        z = pd.to_numeric(df["redshift"], errors="coerce")
        first_bad(path, what, df, "redshift", (z.isna() & df["redshift"].notna()).to_numpy(),
                   "must be a number (or empty)", rows)
    first_bad(path, what, df, "object_id", df["object_id"].duplicated().to_numpy(),
               "repeats an id", rows)


def read_selection(path: str | os.PathLike) -> dict:
    """Read ``selection.json`` (keys :data:`SELECTION_KEYS`; ``n_selected`` at least)."""
    return read_json(path, ("n_selected",), "selection summary")


def write_selection(selection: dict, path: str | os.PathLike) -> None:
    """Write ``selection.json`` as strict JSON (non-finite numbers as ``null``), atomically."""
    missing = [k for k in SELECTION_KEYS if k not in selection]
    if missing:
        raise PhotozDataError(f"selection summary {path}: missing key(s) {missing}")
    write_json(selection, path)


#: Columns of one shard's photometry measurements, ``results/photometry/shards/measured_{i}.parquet``
#: (rule measure_shard, ``simulate.keep_full_stamps: false``; §2): the photometry stage's per-galaxy
#: numbers before the truth table, the errors and the selection; metadata ``n_sigma_mismatch``.
MEASUREMENT_COLUMNS: tuple[str, ...] = (
    "object_id", *(f"flux_{b}" for b in BANDS), "npix", "kron_radius", "a", "b", "theta",
    *(f"matched_flux_{b}" for b in BANDS), "matched_npix", "matched_sigma_a", "matched_sigma_b",
    "flag",
)


def write_shard_measurements(df: pd.DataFrame, path: str | os.PathLike,
                             n_sigma_mismatch: int) -> None:
    """Write one shard's measurements (columns :data:`MEASUREMENT_COLUMNS`, in order) atomically."""
    check_columns(df, MEASUREMENT_COLUMNS, "photometry measurements", path)
    write_parquet(df, path, {"n_sigma_mismatch": int(n_sigma_mismatch)})


def read_shard_measurements(path: str | os.PathLike) -> tuple[pd.DataFrame, int]:
    """Read one shard's measurements: the table and its ``n_sigma_mismatch``.

    Raises
    ------
    PhotozDataError
        If the file cannot be read or lacks a column of :data:`MEASUREMENT_COLUMNS` (naming it).
    """
    path = Path(path)
    what = "photometry measurements"
    df = read_parquet(path, MEASUREMENT_COLUMNS, what)
    return df, int(metadata_json(path, what, "n_sigma_mismatch", 0))
