"""The photometry stage: shards -> Kron photometry, errors, SNR selection, table (§3)."""

from __future__ import annotations

import logging
import math
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd

from photoz import BANDS
from photoz.errors import PhotozDataError
from photoz.features import aperture_flux_error, snr
from photoz.logs import progress
from photoz.photometry.config import PhotometryConfig
from photoz.photometry.kron import measure_stamps
from photoz.photometry.matched import matched_fluxes, matched_table
from photoz.products import (
    PHOTOMETRY_COLUMNS,
    read_truth,
    shard_chunks,
    write_photometry,
    write_selection,
)

log = logging.getLogger("photoz.photometry")


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


def photometry_columns() -> list[str]:
    """Column order of the photometry table (:data:`photoz.products.PHOTOMETRY_COLUMNS`)."""
    return list(PHOTOMETRY_COLUMNS)


def measure_photometry(truth_path, shard_paths: list, out_path, selection_path, instrument,
                       phot_cfg: dict, min_selected: dict[str, int] | None = None) -> dict:
    """Measure every stamp, apply the SNR selection and write the photometry table.

    Parameters
    ----------
    truth_path : str or Path
        Truth table, parquet (docs/data_products.md §1); object_id, redshift, split are used.
    shard_paths : list of str or Path
        Stamp shards, HDF5 (§2), read chunk by chunk (about 32 MiB of stamps at a time).
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
    + R_n^2 N N_pix (:func:`photoz.features.aperture_flux_error`), N_pix the exact aperture area.
    Magnitudes: AB from the instrument zero points; mag_err = 2.5 / ln 10 sigma / F; both NaN for
    F <= 0. Truth galaxies with no stamp in any shard are flagged ``no stamp in the shards``.
    """
    t0 = time.perf_counter()
    cfg = PhotometryConfig.from_dict(phot_cfg)
    truth_path, out_path, selection_path = Path(truth_path), Path(out_path), Path(selection_path)
    truth = read_truth(truth_path, ["object_id", "redshift", "split"])
    n_total = len(truth)
    nb = len(BANDS)
    row_of = pd.Index(truth["object_id"].to_numpy())

    flux = np.full((n_total, nb), np.nan)
    npix = np.full(n_total, np.nan)
    shape_cols = {k: np.full(n_total, np.nan) for k in ("kron_radius", "a", "b", "theta")}
    matched = {"flux": np.full((n_total, nb), np.nan),
               **{k: np.full(n_total, np.nan) for k in ("npix", "sigma_a", "sigma_b")}}
    flag = np.full(n_total, "no stamp in the shards", dtype=object)
    seen = np.zeros(n_total, dtype=bool)
    inst_sigma = np.asarray(instrument.background_sigma(), dtype=float)
    sigma_mismatch = 0

    log.info("photometry of %d truth galaxies from %d shard(s); config %s",
             n_total, len(shard_paths), cfg)
    with progress(total=n_total, desc="photometry", unit="gal") as bar:
        for shard in map(Path, shard_paths):
            for start, block, ids, sig in shard_chunks(shard):
                rows = row_of.get_indexer(ids)
                if np.any(rows < 0):
                    j = int(np.flatnonzero(rows < 0)[0])
                    raise PhotozDataError(
                        f"stamp shard {shard}: object_id {ids[j]} (row {start + j}) is not in "
                        f"the truth table {truth_path}"
                    )
                if np.any(seen[rows]) or len(np.unique(rows)) != len(rows):
                    j = int(np.flatnonzero(seen[rows])[0]) if np.any(seen[rows]) else 0
                    raise PhotozDataError(
                        f"stamp shard {shard}: object_id {ids[j]} (row {start + j}) appears "
                        "twice in the shards"
                    )
                seen[rows] = True
                pos = sig > 0
                sigma_mismatch += int(np.sum(
                    np.any(pos & (np.abs(sig / inst_sigma - 1) > 0.02), axis=1)))
                res = measure_stamps(block, sig, cfg.kron_factor, cfg.detection_bands,
                                     cfg.detection_threshold, fallback_sigma=inst_sigma)
                flux[rows] = res["flux"]
                npix[rows] = res["npix"]
                for k in shape_cols:
                    shape_cols[k][rows] = res[k]
                flag[rows] = res["flag"]
                ok = np.flatnonzero(res["flag"] == "")
                mres = matched_fluxes(block[ok], *(res[k][ok] for k in ("x", "y", "a", "b",
                                                                          "theta")))
                for k in matched:
                    matched[k][rows[ok]] = mres[k]
                bar.update(len(ids))

    n_missing = int(np.sum(~seen))
    if n_missing:
        log.warning("%d of %d truth galaxies have no stamp in the %d shard(s); flagged "
                    "'no stamp in the shards'", n_missing, n_total, len(shard_paths))
    if sigma_mismatch:
        log.warning("%d stamps have a noise_sigma more than 2%% from the instrument's eq. 4 "
                    "value %s; flux errors follow the instrument (eq. 6)",
                    sigma_mismatch, np.round(inst_sigma, 2).tolist())
    measured = flag == ""
    flux_err = np.full_like(flux, np.nan)
    flux_err[measured] = aperture_flux_error(
        flux[measured], npix[measured], instrument.background_per_pixel(),
        instrument.read_noise, np.asarray(instrument.n_exposures))
    snr_all = snr(flux, flux_err)
    mag = instrument.electrons_to_mag(flux)
    with np.errstate(divide="ignore", invalid="ignore"):
        mag_err = np.where(flux > 0, 2.5 / np.log(10.0) * flux_err / flux, np.nan)
    sel_idx = [BANDS.index(bd) for bd in cfg.snr_bands]
    with np.errstate(invalid="ignore"):
        selected = measured & np.any(snr_all[:, sel_idx] > cfg.snr_threshold, axis=1)

    data: dict[str, np.ndarray] = {
        "object_id": truth["object_id"].to_numpy(np.int64),
        "redshift": truth["redshift"].to_numpy(float),
        "split": truth["split"].astype(str).to_numpy(),
    }
    for prefix, arr in (("flux", flux), ("flux_err", flux_err), ("mag", mag),
                        ("mag_err", mag_err), ("snr", snr_all)):
        for j, bd in enumerate(BANDS):
            data[f"{prefix}_{bd}"] = arr[:, j]
    data.update(shape_cols)
    data["npix"] = npix
    data.update(matched_table(matched["flux"], matched["npix"], matched["sigma_a"],
                              matched["sigma_b"], instrument, BANDS))
    data["flag"] = flag.astype(str)
    data["selected"] = selected
    df = pd.DataFrame(data, columns=photometry_columns())

    n_measured, n_selected = int(measured.sum()), int(selected.sum())
    if min_selected:
        _check_selection(selected, truth["split"].astype(str).to_numpy(), min_selected, cfg,
                         n_total, n_measured, snr_all[measured][:, sel_idx])
    selection = {
        "n_total": n_total,
        "n_measured": n_measured,
        "n_selected": n_selected,
        "snr_threshold": cfg.snr_threshold,
        "snr_bands": list(cfg.snr_bands),
    }
    write_photometry(df, out_path, {
        "photometry_config": {**cfg.__dict__, "snr_bands": list(cfg.snr_bands),
                              "detection_bands": list(cfg.detection_bands)},
        "selection": selection,
    })
    write_selection(selection, selection_path)

    flag_counts = dict(Counter(f for f in flag if f))
    seconds = time.perf_counter() - t0
    log.info("measured %d of %d galaxies; selected %d with SNR > %g in any of %s",
             n_measured, n_total, n_selected, cfg.snr_threshold, "/".join(cfg.snr_bands))
    for reason, count in sorted(flag_counts.items(), key=lambda kv: -kv[1]):
        log.info("not measured: %d x %s", count, reason)
    rate = n_total * nb / seconds if seconds > 0 else math.inf
    log.info("photometry took %.1f s (%.0f galaxy-bands/s)", seconds, rate)
    return {**selection, "seconds": seconds, "galaxy_bands_per_s": rate,
            "flag_counts": flag_counts}
