"""The catalogue stage's products (docs/outputs.md §1): ``truth.parquet`` and ``fit_quality.json``.

Written by rule ``prepare_catalog`` (:func:`photoz.catalog.truth.build_truth_table`), read by the
simulation, the photometry, the ratio splits and the figures.
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
from photoz.products.common import SPLITS, check_columns, first_bad, read_json, read_parquet

#: Morphology columns of the truth table (Sersic n, arcsec, b/a, degrees).
MORPH_COLUMNS: tuple[str, ...] = ("sersic_n", "half_light_radius", "axis_ratio", "position_angle")


#: Columns of ``results/catalog/truth.parquet``, in order (docs/outputs.md §1).
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


#: Columns appended (after :data:`TRUTH_MIXING_COLUMNS` where those are present) when
#: ``catalog.galaxy_model`` is ``bulge_disk_knots`` (:mod:`photoz.catalog.components`): the
#: bulge-to-total ratio at rest 5500 A and the bulge's template; the circularised half-light radii
#: (arcsec) of the bulge, of the whole disk (at rest 5500 A) and of its old and young parts, the
#: bulge's and the disks' axis ratios (all share ``position_angle``); the young disk's share of the
#: disk light and template (``disk``: the disk's own SED); the knots' share of the disk light, their
#: number (0: none) and Gaussian sigma (arcsec); and each component's band fluxes (electrons),
#: which add up to ``flux_<band>``. Absent with ``sersic``, so such a run writes the same table
#: as before the option existed.
TRUTH_COMPONENT_COLUMNS: tuple[str, ...] = (
    "bulge_fraction", "bulge_template", "bulge_half_light_radius", "bulge_axis_ratio",
    "disk_half_light_radius", "disk_old_half_light_radius", "disk_young_half_light_radius",
    "disk_axis_ratio", "young_fraction", "young_template", "knot_fraction", "n_knots",
    "knot_sigma",
    *(f"flux_{c}_{b}" for c in ("bulge", "disk_old", "disk_young", "knots") for b in BANDS),
)
#: Parquet key-value metadata of the truth table (JSON values).
TRUTH_METADATA: tuple[str, ...] = ("source", "seed", "sed_library")


#: Keys of the catalog stage's SED-fit report ``results/catalog/fit_quality.json``.
FIT_QUALITY_KEYS: tuple[str, ...] = (
    "source", "seed", "sed_library", "fit_ebv", "files", "n_read", "n_dropped", "n_usable",
    "n_galaxies", "n_sed_fitted", "n_sed_rule", "sed_fit", "split", "morphology",
)


def read_truth(path: str | os.PathLike, columns: Sequence[str] | None = None,
               read_all: bool = False) -> pd.DataFrame:
    """Read and check the truth table (docs/outputs.md §1).

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
        df = read_parquet(path, None, what)
        missing = [c for c in TRUTH_COLUMNS if c not in df.columns]
        if missing:
            raise PhotozDataError(f"{what} {path}: missing column(s) {missing}")
    else:
        df = read_parquet(path, list(columns), what, optional=("real_image_index",),
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
        first_bad(path, what, df, col, ~np.isfinite(values), "must be a finite number")
        df[col] = values
    for b in BANDS:
        if f"flux_{b}" in df.columns:
            first_bad(path, what, df, f"flux_{b}", df[f"flux_{b}"].to_numpy() < 0,
                       "expected electrons must be >= 0")
    if "sed_amplitude_2" in df.columns:
        a2 = pd.to_numeric(df["sed_amplitude_2"], errors="coerce").to_numpy(dtype=float)
        first_bad(path, what, df, "sed_amplitude_2", ~(a2 >= 0),
                   "must be >= 0 (a non-negative template mixture)")
        df["sed_amplitude_2"] = a2
    if "half_light_radius" in df.columns:
        first_bad(path, what, df, "half_light_radius", df["half_light_radius"].to_numpy() <= 0,
                   "must be > 0 arcsec")
    if "axis_ratio" in df.columns:
        q = df["axis_ratio"].to_numpy()
        first_bad(path, what, df, "axis_ratio", (q <= 0) | (q > 1), "must be in (0, 1]")
    if "split" in df.columns:
        first_bad(path, what, df, "split", ~df["split"].isin(SPLITS).to_numpy(),
                   f"expected one of {list(SPLITS)}")
    _check_components(path, df)
    if "object_id" in df.columns:
        first_bad(path, what, df, "object_id", df["object_id"].duplicated().to_numpy(),
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
    expected = TRUTH_COLUMNS
    if TRUTH_MIXING_COLUMNS[0] in table.columns:
        expected += TRUTH_MIXING_COLUMNS
    if TRUTH_COMPONENT_COLUMNS[0] in table.columns:
        expected += TRUTH_COMPONENT_COLUMNS
    check_columns(table, expected, "truth table", path)
    missing = [k for k in TRUTH_METADATA if k not in metadata]
    if missing:
        raise PhotozDataError(f"truth table {path}: metadata lacks {missing}")
    write_parquet(table, path, metadata)


def read_fit_quality(path: str | os.PathLike) -> dict:
    """Read the catalog stage's report (keys :data:`FIT_QUALITY_KEYS`)."""
    return read_json(path, FIT_QUALITY_KEYS, "SED-fit report")


def write_fit_quality(report: dict, path: str | os.PathLike) -> None:
    """Write the catalog stage's report as strict JSON, atomically."""
    missing = [k for k in FIT_QUALITY_KEYS if k not in report]
    if missing:
        raise PhotozDataError(f"SED-fit report {path}: missing key(s) {missing}")
    write_json(report, path)


#: Ranges of the numeric component columns (:data:`TRUTH_COMPONENT_COLUMNS`): (low, high,
#: low included, high included).
_COMPONENT_RANGES = {
    "bulge_fraction": (0.0, 1.0, True, True), "knot_fraction": (0.0, 1.0, True, False),
    "young_fraction": (0.0, 1.0, True, True),
    "bulge_half_light_radius": (0.0, np.inf, False, False),
    "disk_half_light_radius": (0.0, np.inf, False, False),
    "disk_old_half_light_radius": (0.0, np.inf, False, False),
    "disk_young_half_light_radius": (0.0, np.inf, False, False),
    "bulge_axis_ratio": (0.0, 1.0, False, True), "disk_axis_ratio": (0.0, 1.0, False, True),
    "knot_sigma": (0.0, np.inf, True, False), "n_knots": (0, np.inf, True, False),
    **{f"flux_{c}_{b}": (0.0, np.inf, True, False)
       for c in ("bulge", "disk_old", "disk_young", "knots") for b in BANDS},
}


def _check_components(path: Path, df: pd.DataFrame) -> None:
    """The component columns present are finite numbers in their ranges (the first bad row named)."""
    for col, (lo, hi, lo_in, hi_in) in _COMPONENT_RANGES.items():
        if col not in df.columns:
            continue
        v = pd.to_numeric(df[col], errors="coerce").to_numpy(dtype=float)
        ok = np.isfinite(v) & ((v >= lo) if lo_in else (v > lo)) & ((v <= hi) if hi_in else (v < hi))
        rule = (f"must be a finite number in {'[' if lo_in else '('}{lo}, {hi}"
                f"{']' if hi_in else ')'}")
        first_bad(path, "truth table", df, col, ~ok, rule)
        if col != "n_knots":
            df[col] = v
