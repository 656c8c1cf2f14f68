"""Tables and JSON files of docs/data_products.md (§1, §3, §4, §5): columns, readers, writers.

Readers raise :class:`photoz.errors.PhotozDataError` naming the file, the column (or key) and
the first bad row; writers are atomic (:func:`photoz.io.atomic_path`).
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

from photoz import BANDS
from photoz.errors import PhotozDataError
from photoz.io import write_json, write_parquet, write_text

#: Values of the ``split`` column (truth table, photometry, predictions).
SPLITS: tuple[str, ...] = ("train", "validation", "test", "unused")

# --------------------------------------------------------------------------------------------
# §1 truth table
# --------------------------------------------------------------------------------------------
#: Morphology columns of the truth table (Sersic n, arcsec, b/a, degrees).
MORPH_COLUMNS: tuple[str, ...] = ("sersic_n", "half_light_radius", "axis_ratio", "position_angle")
#: Columns of ``results/catalog/truth.parquet``, in order (docs/data_products.md §1).
TRUTH_COLUMNS: tuple[str, ...] = (
    "object_id", "redshift", "split", "sed_template", "sed_amplitude", "ebv",
    *(f"mag_{b}" for b in BANDS), *(f"flux_{b}" for b in BANDS), *MORPH_COLUMNS,
    "real_image_index",
)
#: Columns appended to :data:`TRUTH_COLUMNS` when ``catalog.template_mixing`` is on: the second
#: template of a non-negative mixture (``""`` for a galaxy with one template) and its amplitude (0
#: then), as ``photoz.sed.observed_sed`` takes them. Absent when mixing is off, so a run without
#: it writes the same table as before the option existed.
TRUTH_MIXING_COLUMNS: tuple[str, ...] = ("sed_template_2", "sed_amplitude_2")
#: Parquet key-value metadata of the truth table (JSON values).
TRUTH_METADATA: tuple[str, ...] = ("source", "seed", "sed_library")
#: Keys of the catalog stage's SED-fit report ``results/catalog/fit_quality.json``.
FIT_QUALITY_KEYS: tuple[str, ...] = (
    "source", "seed", "sed_library", "fit_ebv", "files", "n_read", "n_dropped", "n_usable",
    "n_galaxies", "n_sed_fitted", "n_sed_rule", "sed_fit", "split", "morphology",
)


def _read_parquet(path: Path, columns: Sequence[str] | None, what: str,
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
                f"{what} {path}: missing column(s) {missing} (docs/data_products.md)"
            )
        columns = None if read_all else [c for c in columns if c in names]
    try:
        df = pd.read_parquet(path, columns=columns)
    except (OSError, ValueError, pa.ArrowException) as exc:
        raise PhotozDataError(f"cannot read {what} {path}: {exc}") from exc
    return df.reset_index(drop=True)


def _first_bad(path: Path, what: str, df: pd.DataFrame, col: str, mask: np.ndarray,
               rule: str, rows: np.ndarray | None = None) -> None:
    """Raise naming the first row of ``df[col]`` where ``mask`` is true (``rows``: file rows)."""
    if np.any(mask):
        i = int(np.flatnonzero(mask)[0])
        row = int(rows[i]) if rows is not None else i
        raise PhotozDataError(
            f"{what} {path}: column {col!r} row {row} is {df[col].iloc[i]!r}; {rule} "
            f"({int(np.sum(mask))} bad rows)"
        )


def read_truth(path: str | os.PathLike, columns: Sequence[str] | None = None,
               read_all: bool = False) -> pd.DataFrame:
    """Read and check the truth table (docs/data_products.md §1).

    Parameters
    ----------
    path : path-like
        ``results/catalog/truth.parquet``.
    columns : sequence of str, optional
        The columns the caller uses; each must be present, except ``real_image_index``, which
        is filled with -1 (no real image) when the file lacks it. None: every column of the file,
        which must hold :data:`TRUTH_COLUMNS`.
    read_all : bool
        Also return the file's other columns (checked too where this module knows them).

    Returns
    -------
    pandas.DataFrame
        Index 0..n-1; numeric columns as float64.

    Raises
    ------
    PhotozDataError
        If the file cannot be read, a column is missing, ``object_id`` or ``real_image_index``
        is not integer, an ``object_id`` repeats (it seeds the galaxy's noise), ``redshift``,
        ``flux_<b>`` or a morphology value is not finite, a flux is negative,
        ``half_light_radius`` <= 0, ``axis_ratio`` outside (0, 1], or a ``split`` is unknown.
    """
    path = Path(path)
    what = "truth table"
    if columns is None:
        df = _read_parquet(path, None, what)
        missing = [c for c in TRUTH_COLUMNS if c not in df.columns]
        if missing:
            raise PhotozDataError(f"{what} {path}: missing column(s) {missing}")
    else:
        df = _read_parquet(path, list(columns), what, optional=("real_image_index",),
                           read_all=read_all)
    if "real_image_index" in (columns or ()) and "real_image_index" not in df.columns:
        df["real_image_index"] = -1
    for col in ("object_id", "real_image_index"):
        if col in df.columns and not pd.api.types.is_integer_dtype(df[col]):
            raise PhotozDataError(f"{what} {path}: column {col!r} must be integer, is "
                                  f"{df[col].dtype}")
    finite = [c for c in ("redshift", *(f"flux_{b}" for b in BANDS), *MORPH_COLUMNS)
              if c in df.columns]
    for col in finite:
        values = pd.to_numeric(df[col], errors="coerce").to_numpy(dtype=float)
        _first_bad(path, what, df, col, ~np.isfinite(values), "must be a finite number")
        df[col] = values
    for b in BANDS:
        if f"flux_{b}" in df.columns:
            _first_bad(path, what, df, f"flux_{b}", df[f"flux_{b}"].to_numpy() < 0,
                       "expected electrons must be >= 0")
    if "sed_amplitude_2" in df.columns:
        a2 = pd.to_numeric(df["sed_amplitude_2"], errors="coerce").to_numpy(dtype=float)
        _first_bad(path, what, df, "sed_amplitude_2", ~(a2 >= 0),
                   "must be >= 0 (a non-negative template mixture)")
        df["sed_amplitude_2"] = a2
    if "half_light_radius" in df.columns:
        _first_bad(path, what, df, "half_light_radius", df["half_light_radius"].to_numpy() <= 0,
                   "must be > 0 arcsec")
    if "axis_ratio" in df.columns:
        q = df["axis_ratio"].to_numpy()
        _first_bad(path, what, df, "axis_ratio", (q <= 0) | (q > 1), "must be in (0, 1]")
    if "split" in df.columns:
        _first_bad(path, what, df, "split", ~df["split"].isin(SPLITS).to_numpy(),
                   f"expected one of {list(SPLITS)}")
    if "object_id" in df.columns:
        _first_bad(path, what, df, "object_id", df["object_id"].duplicated().to_numpy(),
                   "duplicate id: object_id must be unique (it seeds the galaxy's noise)")
    return df


def write_truth(table: pd.DataFrame, path: str | os.PathLike, metadata: dict) -> None:
    """Write the truth table atomically, with :data:`TRUTH_METADATA` in the parquet metadata.

    Raises
    ------
    PhotozDataError
        If ``table``'s columns are not :data:`TRUTH_COLUMNS` in order (followed by
        :data:`TRUTH_MIXING_COLUMNS` with template mixing), or a metadata key is missing (a bug
        in the caller, named before anything is written).
    """
    mixing = TRUTH_MIXING_COLUMNS[0] in table.columns
    _check_columns(table, TRUTH_COLUMNS + TRUTH_MIXING_COLUMNS if mixing else TRUTH_COLUMNS,
                   "truth table", path)
    missing = [k for k in TRUTH_METADATA if k not in metadata]
    if missing:
        raise PhotozDataError(f"truth table {path}: metadata lacks {missing}")
    write_parquet(table, path, metadata)


def _check_columns(df: pd.DataFrame, expected: Sequence[str], what: str, path) -> None:
    if list(df.columns) != list(expected):
        extra = [c for c in df.columns if c not in expected]
        missing = [c for c in expected if c not in df.columns]
        raise PhotozDataError(f"{what} {path}: columns differ from the contract "
                              f"(missing {missing}, extra {extra}, or out of order)")


def _read_json(path: str | os.PathLike, keys: Sequence[str], what: str) -> dict:
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


def read_fit_quality(path: str | os.PathLike) -> dict:
    """Read the catalog stage's report (keys :data:`FIT_QUALITY_KEYS`)."""
    return _read_json(path, FIT_QUALITY_KEYS, "SED-fit report")


def write_fit_quality(report: dict, path: str | os.PathLike) -> None:
    """Write the catalog stage's report as strict JSON, atomically."""
    missing = [k for k in FIT_QUALITY_KEYS if k not in report]
    if missing:
        raise PhotozDataError(f"SED-fit report {path}: missing key(s) {missing}")
    write_json(report, path)


# --------------------------------------------------------------------------------------------
# §3 photometry and selection.json
# --------------------------------------------------------------------------------------------
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
#: Columns of ``results/photometry/photometry.parquet``, in order (docs/data_products.md §3).
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
#: What the networks read of a selected row (finite; errors and npix > 0).
_NETWORK_INPUTS = ("npix", *(f"flux_{b}" for b in BANDS), *(f"flux_err_{b}" for b in BANDS))


def write_photometry(df: pd.DataFrame, path: str | os.PathLike, metadata: dict) -> None:
    """Write the photometry table (columns :data:`PHOTOMETRY_COLUMNS`, in order) atomically."""
    _check_columns(df, PHOTOMETRY_COLUMNS, "photometry table", path)
    write_parquet(df, path, metadata)


def read_photometry(path: str | os.PathLike, require_truth: bool = True,
                    selected_only: bool = True, columns: Sequence[str] = ()) -> pd.DataFrame:
    """Read the photometry table (docs/data_products.md §3) and check what the consumers use.

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

    Returns
    -------
    pandas.DataFrame
        The kept rows, index reset, with the original row number in column ``_row``.

    Raises
    ------
    PhotozDataError
        If the file cannot be read, a column is missing, or a kept row has a non-finite flux,
        error, npix or redshift (errors and npix must be > 0), an unknown split, or a repeated
        object_id (the message names file, column and row).
    """
    path = Path(path)
    what = "photometry table"
    try:
        df = pd.read_parquet(path)
    except Exception as exc:  # pyarrow raises several types
        raise PhotozDataError(f"cannot read {what} {path}: {exc}") from exc
    needed = ["object_id", *_NETWORK_INPUTS] + (["redshift", "split"] if require_truth else [])
    missing = [c for c in [*needed, *columns] if c not in df.columns]
    if missing:
        raise PhotozDataError(f"{what} {path}: missing columns {missing}")
    df = df.assign(_row=np.arange(len(df)))
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
    _check_selected(path, what, sel, require_truth)
    return df


def _check_selected(path: Path, what: str, df: pd.DataFrame, require_truth: bool) -> None:
    """Check the selected rows ``df`` of a photometry table (what the networks read)."""
    rows = df["_row"].to_numpy()
    for col in [*_NETWORK_INPUTS, *(["redshift"] if require_truth else [])]:
        values = df[col].to_numpy(dtype=float)
        bad = ~np.isfinite(values)
        positive = col.startswith("flux_err") or col == "npix"
        if positive:
            bad |= values <= 0
        _first_bad(path, what, df, col, bad,
                   "must be finite and positive" if positive else "must be finite", rows)
    if require_truth:
        _first_bad(path, what, df, "split", ~df["split"].isin(SPLITS).to_numpy(),
                   f"expected one of {list(SPLITS)}", rows)
    _first_bad(path, what, df, "object_id", df["object_id"].duplicated().to_numpy(),
               "repeats an id", rows)


def read_selection(path: str | os.PathLike) -> dict:
    """Read ``selection.json`` (keys :data:`SELECTION_KEYS`; ``n_selected`` at least)."""
    return _read_json(path, ("n_selected",), "selection summary")


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
    _check_columns(df, MEASUREMENT_COLUMNS, "photometry measurements", path)
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
    df = _read_parquet(path, MEASUREMENT_COLUMNS, what)
    meta = pq.read_schema(path).metadata or {}
    return df, int(json.loads(meta.get(b"n_sigma_mismatch", b"0")))


# --------------------------------------------------------------------------------------------
# §4 training history and predictions
# --------------------------------------------------------------------------------------------
#: Columns of ``results/models/<net>_history.csv``, one row per epoch (docs/data_products.md §4).
HISTORY_COLUMNS: tuple[str, ...] = ("epoch", "train_loss", "val_loss", "train_accuracy",
                                    "val_accuracy", "learning_rate", "seconds")
#: Columns of ``results/predictions/<name>.parquet`` (networks and peers alike).
PREDICTION_COLUMNS: tuple[str, ...] = ("object_id", "z_true", "z_pred", "split")
#: The point estimates of a p(z) (issue 13; photoz.pdf): mode, median, 68% interval.
PDF_COLUMNS: tuple[str, ...] = ("z_mode", "z_median", "z_lo68", "z_hi68")
#: Columns of a network's predictions table (the peers write :data:`PREDICTION_COLUMNS`).
NETWORK_PREDICTION_COLUMNS: tuple[str, ...] = ("object_id", "z_true", "z_pred", *PDF_COLUMNS,
                                               "split")


def write_history(rows, path: str | os.PathLike) -> None:
    """Write a training history (rows of :data:`HISTORY_COLUMNS`, or a DataFrame) atomically."""
    hist = pd.DataFrame(rows, columns=list(HISTORY_COLUMNS))
    write_text(path, hist.to_csv(index=False))


def read_history(path: str | os.PathLike) -> pd.DataFrame:
    """Read a training-history CSV (docs/data_products.md §4).

    Raises
    ------
    PhotozDataError
        If unreadable, a column is missing or the file has no rows.
    """
    path = Path(path)
    try:
        df = pd.read_csv(path)
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise PhotozDataError(f"cannot read training history {path}: {exc}") from exc
    missing = [c for c in HISTORY_COLUMNS if c not in df.columns]
    if missing:
        raise PhotozDataError(f"training history {path}: missing column(s) {missing}")
    if df.empty:
        raise PhotozDataError(f"training history {path}: no epochs")
    return df


def write_predictions(frame: pd.DataFrame, path: str | os.PathLike,
                      metadata: dict | None = None) -> None:
    """Write a predictions table atomically as parquet: the columns :data:`PREDICTION_COLUMNS`
    (a peer) or :data:`NETWORK_PREDICTION_COLUMNS` (a network, with its p(z) point estimates),
    in order."""
    if list(frame.columns) != list(NETWORK_PREDICTION_COLUMNS):
        _check_columns(frame, PREDICTION_COLUMNS, "predictions", path)
    write_parquet(frame, path, metadata)


def read_predictions(path: str | os.PathLike, split: str | None = "test") -> pd.DataFrame:
    """Read a predictions table (docs/data_products.md §4) and check it.

    Parameters
    ----------
    path : path-like
        ``results/predictions/<name>.parquet``: object_id, z_true, z_pred, split.
    split : str, optional
        Keep only the rows of this split (e.g. ``"test"``).

    Returns
    -------
    pandas.DataFrame
        The kept rows, index reset.

    Raises
    ------
    PhotozDataError
        If the file is unreadable, a column is missing, a redshift is not finite (names the
        row), z_true <= -1, or no row has the requested split.
    """
    path = Path(path)
    df = _read_parquet(path, None, "predictions")
    missing = [c for c in PREDICTION_COLUMNS if c not in df.columns]
    if missing:
        raise PhotozDataError(f"predictions {path}: missing column(s) {missing}; expected "
                              f"{list(PREDICTION_COLUMNS)}")
    for col in ("z_true", "z_pred"):
        values = pd.to_numeric(df[col], errors="coerce").to_numpy(dtype=float)
        bad = ~np.isfinite(values)
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            raise PhotozDataError(
                f"predictions {path}: column {col} is not a finite number in row {row} "
                f"(object_id {df['object_id'].iloc[row]}; {int(bad.sum())} such rows)"
            )
        df[col] = values
    bad = df["z_true"].to_numpy() <= -1.0
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise PhotozDataError(f"predictions {path}: column z_true <= -1 in row {row}")
    if split is not None:
        df = df[df["split"].astype(str) == split].reset_index(drop=True)
        if df.empty:
            raise PhotozDataError(f"predictions {path}: no rows with split == {split!r}")
    return df


# --------------------------------------------------------------------------------------------
# §5 metrics
# --------------------------------------------------------------------------------------------
#: Top-level keys of ``results/metrics/summary.json`` besides one object per method.
SUMMARY_KEYS: tuple[str, ...] = ("n_selected", "train_test_ratio", "paper_row", "n_bootstrap",
                                 "seed")
#: The metrics binned.csv holds per bin, each with its bootstrap error ``<name>_err``
#: (computed by :func:`photoz.metrics.binned_metrics`; Fig. 8 draws the first).
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
    return _read_json(path, (), "metrics summary")


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
        If the file is unreadable or a column is missing (rerun compute_metrics).
    """
    path = Path(path)
    try:
        df = pd.read_csv(path)
    except (OSError, ValueError) as exc:
        raise PhotozDataError(f"cannot read binned metrics {path}: {exc}") from exc
    missing = [c for c in BINNED_COLUMNS if c not in df.columns]
    if missing:
        raise PhotozDataError(
            f"binned metrics {path}: missing column(s) {missing}; rerun compute_metrics"
        )
    return df
