"""The photometry stage: shards -> Kron photometry, errors, SNR selection, table (§3)."""

from __future__ import annotations

import logging
import math
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

from photoz import BANDS
from photoz.errors import PhotozDataError
from photoz.photometry.config import PhotometryConfig
from photoz.photometry.kron import measure_stamps
from photoz.photometry.matched import matched_fluxes, matched_table
from photoz.photometry.noise import aperture_flux_error, snr
from photoz.products.catalog import read_truth
from photoz.products.photometry import (
    MEASUREMENT_COLUMNS,
    PHOTOMETRY_COLUMNS,
    read_shard_measurements,
    write_photometry,
    write_selection,
    write_shard_measurements,
)
from photoz.products.simulate import shard_chunks

log = logging.getLogger(__name__)


# --------------------------------------------------------------------------------------------
# Files
# --------------------------------------------------------------------------------------------

def _check_selection(selected: np.ndarray, split: np.ndarray, need: dict[str, int],
                     cfg: PhotometryConfig, n_total: int, n_measured: int,
                     snr_measured: np.ndarray) -> None:
    """Raise if fewer galaxies than ``need[split]`` are selected in some split.

    Raises
    ------
    PhotozDataError
        Naming ``photometry.snr_threshold``, the count per split against the need, and the
        highest SNR of the measured galaxies in the selection bands (a threshold to try).
    """
    counts = {name: int(np.sum(selected & (split == name))) for name in need}
    short = {name: n for name, n in counts.items() if n < need[name]}
    if not short:
        return
    with np.errstate(invalid="ignore"):
        best = np.nanmax(snr_measured, axis=1) if snr_measured.size else np.zeros(0)
    best = best[np.isfinite(best)]
    hint = (f"the highest SNR is {best.max():.3g} and the median {np.median(best):.3g}"
            if best.size else "no galaxy was measured")
    have = ", ".join(f"{name} {counts[name]} (needs {need[name]})" for name in need)
    raise PhotozDataError(
        f"photometry.snr_threshold = {cfg.snr_threshold:g} (SNR in any of "
        f"{'/'.join(cfg.snr_bands)}) selects too few galaxies for training: {have}; "
        f"{int(selected.sum())} selected of {n_measured} measured, {n_total} in the truth table; "
        f"among the measured, {hint}. Lower photometry.snr_threshold, or add galaxies "
        "(catalog.n_galaxies)")


#: Per-galaxy measurements of one shard before the truth table, the errors and the selection
#: (:func:`measure_shard`): ``flux`` and ``matched_flux`` are (n, 7), the rest (n,).
_BAND_FIELDS = ("flux", "matched_flux")
_SHAPE_FIELDS = ("kron_radius", "a", "b", "theta")
_RAW_FIELDS = ("flux", "npix", *_SHAPE_FIELDS, "matched_flux", "matched_npix", "matched_sigma_a",
               "matched_sigma_b", "flag")


def select(flux: np.ndarray, npix: np.ndarray, measured: np.ndarray, instrument,
           cfg: PhotometryConfig) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Flux errors, SNR and the selection of measured galaxies (paper eq. 6, Sect. 2).

    Parameters
    ----------
    flux : ndarray, shape (n, 7), electrons
        1 x Kron aperture fluxes (NaN where not measured).
    npix : ndarray, shape (n,)
        Aperture areas, pixels.
    measured : ndarray of bool, shape (n,)
    instrument : photoz.instrument.Instrument
    cfg : PhotometryConfig

    Returns
    -------
    flux_err : ndarray, shape (n, 7), electrons
        Eq. 6 denominator, sigma^2 = max(F, 0) + N_pix (B_sky + B_dark) t N + R_n^2 N N_pix
        (:func:`photoz.photometry.noise.aperture_flux_error`); NaN where not measured.
    snr : ndarray, shape (n, 7)
        F / sigma (eq. 6).
    selected : ndarray of bool, shape (n,)
        Measured and SNR > ``cfg.snr_threshold`` in any of ``cfg.snr_bands`` (the paper: 10 in g
        or i).
    """
    flux_err = np.full_like(flux, np.nan)
    flux_err[measured] = aperture_flux_error(
        flux[measured], npix[measured], instrument.background_per_pixel(),
        instrument.read_noise, np.asarray(instrument.n_exposures))
    snr_all = snr(flux, flux_err)
    sel_idx = [BANDS.index(bd) for bd in cfg.snr_bands]
    with np.errstate(invalid="ignore"):
        selected = measured & np.any(snr_all[:, sel_idx] > cfg.snr_threshold, axis=1)
    return flux_err, snr_all, selected


def measure_shard(shard, cfg: PhotometryConfig, inst_sigma: np.ndarray, bar=None,
                  known: pd.Index | None = None) -> tuple[dict[str, np.ndarray], int]:
    """Kron and matched-filter measurements of every galaxy of one shard, in shard order.

    Parameters
    ----------
    shard : path-like
        A stamp shard (docs/outputs.md §2), read in chunks of about 32 MiB.
    cfg : PhotometryConfig
    inst_sigma : ndarray, shape (7,), electrons
        The instrument's eq. 4 background sigma (fallback and check of the shard's).
    bar : progress bar, optional
        Updated per chunk.
    known : pandas.Index, optional
        The truth table's object_ids: an id outside it stops the stage at once, naming the
        shard and row, before the rest is measured.

    Returns
    -------
    measurements : dict of str to ndarray
        ``object_id`` and the :data:`_RAW_FIELDS` (``flag`` "" where measured).
    n_sigma_mismatch : int
        Stamps whose ``noise_sigma`` is more than 2% from ``inst_sigma``.

    Raises
    ------
    PhotozDataError
        For an unreadable shard, or an object_id not in ``known``.
    """
    parts, mismatch = [], 0
    for start, block, ids, sig in shard_chunks(shard):
        unknown = known.get_indexer(ids) < 0 if known is not None else np.zeros(len(ids), bool)
        if unknown.any():
            j = int(np.flatnonzero(unknown)[0])
            raise PhotozDataError(f"stamp shard {shard}: object_id {ids[j]} (row {start + j}) "
                                  "is not in the truth table")
        pos = sig > 0
        mismatch += int(np.sum(np.any(pos & (np.abs(sig / inst_sigma - 1) > 0.02), axis=1)))
        res = measure_stamps(block, sig, cfg.kron_factor, cfg.detection_bands,
                             cfg.detection_threshold, fallback_sigma=inst_sigma)
        ok = np.flatnonzero(res["flag"] == "")
        mres = matched_fluxes(block[ok], *(res[k][ok] for k in ("x", "y", "a", "b", "theta")))
        part = {"object_id": np.asarray(ids, np.int64), "flag": np.asarray(res["flag"], object),
                "flux": res["flux"], "npix": res["npix"], **{k: res[k] for k in _SHAPE_FIELDS}}
        for k in ("flux", "npix", "sigma_a", "sigma_b"):
            shape = (len(ids), len(BANDS)) if k == "flux" else len(ids)
            part[f"matched_{k}"] = np.full(shape, np.nan)
            part[f"matched_{k}"][ok] = mres[k]
        parts.append(part)
        if bar is not None:
            bar.update(len(ids))
    if not parts:
        empty = {k: np.zeros((0, len(BANDS)) if k in _BAND_FIELDS else 0) for k in _RAW_FIELDS}
        return {"object_id": np.zeros(0, np.int64), **empty, "flag": np.zeros(0, object)}, 0
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}, mismatch


def _truth_rows(ids: np.ndarray, row_of: pd.Index, seen: np.ndarray, source, truth_path):
    """Truth-table rows of one shard's galaxies; marks them seen.

    Raises
    ------
    PhotozDataError
        An id not in the truth table, or one already seen (in this or an earlier shard).
    """
    rows = row_of.get_indexer(ids)
    if np.any(rows < 0):
        j = int(np.flatnonzero(rows < 0)[0])
        raise PhotozDataError(f"stamp shard {source}: object_id {ids[j]} (row {j}) is not in the "
                              f"truth table {truth_path}")
    if np.any(seen[rows]) or len(np.unique(rows)) != len(rows):
        j = int(np.flatnonzero(seen[rows])[0]) if np.any(seen[rows]) else 0
        raise PhotozDataError(f"stamp shard {source}: object_id {ids[j]} (row {j}) appears twice "
                              "in the shards")
    seen[rows] = True
    return rows


def measure_shard_to_file(shard, out_path, instrument, phot_cfg: dict, cropped_path=None,
                          crop_size: int = 32, compression: str = "none") -> dict:
    """Rule measure_shard (``simulate.keep_full_stamps: false``): one shard's measurements and
    the crop of its selected galaxies, so the full shard can be deleted right after.

    The photometry then combines the shards' measurement files (:func:`measure_photometry` with
    ``measured_paths``) instead of reading all full shards at once, so only the shards not yet
    measured exist on disk. The selection is the stage's own (:func:`select`): the galaxies
    cropped are those the table marks ``selected``.

    Parameters
    ----------
    shard : path-like
        A full stamp shard (§2).
    out_path : path-like
        Parquet of the measurements (``object_id``, the raw Kron and matched columns, ``flag``;
        metadata ``n_sigma_mismatch``), written atomically.
    instrument : photoz.instrument.Instrument
    phot_cfg : dict
        The ``photometry`` config section.
    cropped_path : path-like, optional
        Where to write the selected galaxies' central ``crop_size`` pixels
        (:func:`photoz.products.simulate.crop_shard`); none if not given.
    crop_size : int
        ``train.image_size`` (at most the stamp side).
    compression : str
        ``simulate.compression`` of the crop.

    Returns
    -------
    dict
        ``n_galaxies``, ``n_measured``, ``n_selected``.

    Raises
    ------
    PhotozConfigError, PhotozDataError
        For a bad ``phot_cfg`` or an unreadable shard.
    """
    from photoz.products.simulate import crop_shard, open_shard

    cfg = PhotometryConfig.from_dict(phot_cfg)
    inst_sigma = np.asarray(instrument.background_sigma(), dtype=float)
    with tqdm(total=None, desc=f"photometry {Path(shard).name}", unit="gal",
              disable=None) as bar:
        meas, mismatch = measure_shard(shard, cfg, inst_sigma, bar=bar)
    measured = meas["flag"] == ""
    _, _, selected = select(meas["flux"], meas["npix"], measured, instrument, cfg)
    cols = {"object_id": meas["object_id"]}
    for k in _RAW_FIELDS:
        if k in _BAND_FIELDS:
            cols.update({f"{k}_{b}": meas[k][:, j] for j, b in enumerate(BANDS)})
        else:
            cols[k] = meas[k].astype(str) if k == "flag" else meas[k]
    write_shard_measurements(pd.DataFrame(cols, columns=list(MEASUREMENT_COLUMNS)), out_path,
                             mismatch)
    if cropped_path is not None:
        with open_shard(shard) as f:
            side = int(min(f["images"].shape[2:]))
        crop_shard(shard, cropped_path, meas["object_id"][selected], min(int(crop_size), side),
                   compression)
    out = {"n_galaxies": int(len(measured)), "n_measured": int(measured.sum()),
           "n_selected": int(selected.sum())}
    log.info("%s: %d galaxies, %d measured, %d selected%s", shard, out["n_galaxies"],
             out["n_measured"], out["n_selected"],
             f"; their central {crop_size} pixels -> {cropped_path}" if cropped_path else "")
    return out


def _read_measurements(path) -> tuple[dict[str, np.ndarray], int]:
    """One shard's measurements file (:func:`photoz.products.photometry.read_shard_measurements`) as
    :func:`measure_shard` returns them."""
    df, mismatch = read_shard_measurements(path)
    out = {"object_id": df["object_id"].to_numpy(np.int64)}
    for k in _RAW_FIELDS:
        if k in _BAND_FIELDS:
            out[k] = df[[f"{k}_{b}" for b in BANDS]].to_numpy(float)
        else:
            out[k] = df[k].to_numpy(object if k == "flag" else float)
    return out, mismatch


def photometry_columns() -> list[str]:
    """Column order of the photometry table (:data:`photoz.products.photometry.PHOTOMETRY_COLUMNS`)."""
    return list(PHOTOMETRY_COLUMNS)


def _gather_measurements(truth: pd.DataFrame, truth_path: Path, shard_paths: list,
                         measured_paths: list | None, instrument,
                         cfg: PhotometryConfig) -> dict[str, np.ndarray]:
    """The :data:`_RAW_FIELDS` of every truth galaxy, in truth-table order.

    Parameters
    ----------
    truth : pandas.DataFrame
        The truth table (``object_id``).
    truth_path : Path
        Its file, named in errors.
    shard_paths : list of path-like
        Shards to measure (:func:`measure_shard`), in this order; ignored when
        ``measured_paths`` is given.
    measured_paths : list of path-like or None
        Measurement files to read instead (:func:`measure_shard_to_file`), in this order.
    instrument : photoz.instrument.Instrument
        Eq. 4 background sigma (fallback and check of the shards').
    cfg : PhotometryConfig

    Returns
    -------
    dict of str to ndarray
        ``flux`` and ``matched_flux`` (n, 7), the rest (n,); NaN and the flag ``no stamp in the
        shards`` for galaxies in no source. These and the stamps whose ``noise_sigma`` is more
        than 2% off the instrument's are logged as warnings.

    Raises
    ------
    PhotozDataError
        For an unreadable source, or an object_id not in the truth table or in two sources.
    """
    n_total = len(truth)
    row_of = pd.Index(truth["object_id"].to_numpy())
    raw = {k: np.full((n_total, len(BANDS)) if k in _BAND_FIELDS else n_total, np.nan)
           for k in _RAW_FIELDS if k != "flag"}
    raw["flag"] = np.full(n_total, "no stamp in the shards", dtype=object)
    seen = np.zeros(n_total, dtype=bool)
    inst_sigma = np.asarray(instrument.background_sigma(), dtype=float)
    sigma_mismatch = 0
    sources = [("measurements", Path(p)) for p in measured_paths] if measured_paths is not None \
        else [("shard", Path(p)) for p in shard_paths]

    log.info("photometry of %d truth galaxies from %d %s(s); config %s",
             n_total, len(sources), sources[0][0] if sources else "shard", cfg)
    with tqdm(total=n_total, desc="photometry", unit="gal", disable=None) as bar:
        for kind, path in sources:
            if kind == "shard":
                meas, mismatch = measure_shard(path, cfg, inst_sigma, bar=bar, known=row_of)
            else:
                meas, mismatch = _read_measurements(path)
                bar.update(len(meas["object_id"]))
            sigma_mismatch += mismatch
            rows = _truth_rows(meas["object_id"], row_of, seen, path, truth_path)
            for k in raw:
                raw[k][rows] = meas[k]

    n_missing = int(np.sum(~seen))
    if n_missing:
        log.warning("%d of %d truth galaxies have no stamp in the %d shard(s); flagged "
                    "'no stamp in the shards'", n_missing, n_total, len(sources))
    if sigma_mismatch:
        log.warning("%d stamps have a noise_sigma more than 2%% from the instrument's eq. 4 "
                    "value %s; flux errors follow the instrument (eq. 6)",
                    sigma_mismatch, np.round(inst_sigma, 2).tolist())
    return raw


def _photometry_table(truth: pd.DataFrame, raw: dict[str, np.ndarray], instrument,
                      cfg: PhotometryConfig
                      ) -> tuple[pd.DataFrame, np.ndarray, np.ndarray, np.ndarray]:
    """The photometry table (§3) of :func:`_gather_measurements`'s ``raw``.

    Returns
    -------
    table : pandas.DataFrame
        Columns :func:`photometry_columns`, rows in truth-table order.
    measured, selected : ndarray of bool, shape (n,)
    snr : ndarray, shape (n, 7)
        As :func:`select`.
    """
    flux, npix, flag = raw["flux"], raw["npix"], raw["flag"]
    measured = flag == ""
    flux_err, snr_all, selected = select(flux, npix, measured, instrument, cfg)
    mag = instrument.electrons_to_mag(flux)
    with np.errstate(divide="ignore", invalid="ignore"):
        mag_err = np.where(flux > 0, 2.5 / np.log(10.0) * flux_err / flux, np.nan)

    data: dict[str, np.ndarray] = {
        "object_id": truth["object_id"].to_numpy(np.int64),
        "redshift": truth["redshift"].to_numpy(float),
        "split": truth["split"].astype(str).to_numpy(),
    }
    for prefix, arr in (("flux", flux), ("flux_err", flux_err), ("mag", mag),
                        ("mag_err", mag_err), ("snr", snr_all)):
        for j, bd in enumerate(BANDS):
            data[f"{prefix}_{bd}"] = arr[:, j]
    data.update({k: raw[k] for k in _SHAPE_FIELDS})
    data["npix"] = npix
    data.update(matched_table(raw["matched_flux"], raw["matched_npix"], raw["matched_sigma_a"],
                              raw["matched_sigma_b"], instrument, BANDS))
    data["flag"] = flag.astype(str)
    data["selected"] = selected
    return pd.DataFrame(data, columns=photometry_columns()), measured, selected, snr_all


def _write_outputs(df: pd.DataFrame, selection: dict, cfg: PhotometryConfig, out_path: Path,
                   selection_path: Path) -> None:
    """Write the photometry table (with the config and selection as metadata) and selection.json."""
    write_photometry(df, out_path, {
        "photometry_config": {**cfg.__dict__, "snr_bands": list(cfg.snr_bands),
                              "detection_bands": list(cfg.detection_bands)},
        "selection": selection,
    })
    write_selection(selection, selection_path)


def _log_summary(selection: dict, cfg: PhotometryConfig, flag_counts: dict[str, int],
                 seconds: float, rate: float) -> None:
    """Log the counts, the reasons galaxies were not measured (most frequent first) and the time."""
    log.info("measured %d of %d galaxies; selected %d with SNR > %g in any of %s",
             selection["n_measured"], selection["n_total"], selection["n_selected"],
             cfg.snr_threshold, "/".join(cfg.snr_bands))
    for reason, count in sorted(flag_counts.items(), key=lambda kv: -kv[1]):
        log.info("not measured: %d x %s", count, reason)
    log.info("photometry took %.1f s (%.0f galaxy-bands/s)", seconds, rate)


def measure_photometry(truth_path, shard_paths: list, out_path, selection_path, instrument,
                       phot_cfg: dict, min_selected: dict[str, int] | None = None,
                       measured_paths: list | None = None) -> dict:
    """Measure every stamp, apply the SNR selection and write the photometry table.

    Parameters
    ----------
    truth_path : str or Path
        Truth table, parquet (docs/outputs.md §1); object_id, redshift, split are used.
    shard_paths : list of str or Path
        Stamp shards, HDF5 (§2), read chunk by chunk (about 32 MiB of stamps at a time).
        Ignored when ``measured_paths`` is given.
    measured_paths : list of str or Path, optional
        Instead of measuring the shards here, the per-shard measurements
        :func:`measure_shard_to_file` wrote (rule measure_shard, ``simulate.keep_full_stamps:
        false``): the same numbers, so the same table, bit for bit.
    out_path : str or Path
        Photometry table to write, parquet (§3), one row per truth-table galaxy in its order.
    selection_path : str or Path
        selection.json to write (§3): n_total, n_measured, n_selected, snr_threshold,
        snr_bands.
    instrument : photoz.instrument.Instrument
        Noise model of eq. 6 (sky, dark, read noise, exposures), zero points for magnitudes.
    phot_cfg : dict
        ``kron_factor``, ``snr_threshold``, ``snr_bands``, ``detection_bands``,
        ``detection_threshold`` (see :class:`PhotometryConfig`).
    min_selected : dict of str to int, optional
        Fewest selected galaxies per split (``train``, ``validation``, ``test``) the run needs;
        the workflow passes :data:`TRAINING_NEEDS`. None checks nothing.

    Returns
    -------
    dict
        The selection.json content plus ``seconds``, ``galaxy_bands_per_s`` and
        ``flag_counts`` (reason -> count).

    Raises
    ------
    PhotozConfigError
        For a bad ``phot_cfg``.
    PhotozDataError
        For an unreadable truth table, a corrupt/truncated shard (naming the file), a shard
        object_id absent from the truth table or present in two shards; or a selection smaller
        than ``min_selected`` in some split (naming ``photometry.snr_threshold``, the counts
        and the highest SNR found), before any file is written.

    Notes
    -----
    Flux errors: paper eq. 6 denominator, sigma^2 = max(F, 0) + N_pix (B_sky + B_dark) t N
    + R_n^2 N N_pix (:func:`photoz.photometry.noise.aperture_flux_error`), N_pix the exact
    aperture area. Magnitudes: AB from the instrument zero points; mag_err = 2.5 / ln 10 sigma / F;
    both NaN for F <= 0. Truth galaxies with no stamp in any shard are flagged ``no stamp in the
    shards``.
    """
    t0 = time.perf_counter()
    cfg = PhotometryConfig.from_dict(phot_cfg)
    truth_path, out_path, selection_path = Path(truth_path), Path(out_path), Path(selection_path)
    truth = read_truth(truth_path, ["object_id", "redshift", "split"])
    raw = _gather_measurements(truth, truth_path, shard_paths, measured_paths, instrument, cfg)
    df, measured, selected, snr_all = _photometry_table(truth, raw, instrument, cfg)
    selection = {"n_total": len(truth), "n_measured": int(measured.sum()),
                 "n_selected": int(selected.sum()), "snr_threshold": cfg.snr_threshold,
                 "snr_bands": list(cfg.snr_bands)}
    if min_selected:
        sel_idx = [BANDS.index(bd) for bd in cfg.snr_bands]
        _check_selection(selected, truth["split"].astype(str).to_numpy(), min_selected, cfg,
                         len(truth), selection["n_measured"], snr_all[measured][:, sel_idx])
    _write_outputs(df, selection, cfg, out_path, selection_path)
    flag_counts = dict(Counter(f for f in raw["flag"] if f))
    seconds = time.perf_counter() - t0
    rate = len(truth) * len(BANDS) / seconds if seconds > 0 else math.inf
    _log_summary(selection, cfg, flag_counts, seconds, rate)
    return {**selection, "seconds": seconds, "galaxy_bands_per_s": rate,
            "flag_counts": flag_counts}
