"""The photometry stage: shards -> Kron photometry, errors, SNR selection, table (§3)."""

from __future__ import annotations

import logging
import math
import time
from collections import Counter
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from photoz import BANDS
from photoz.errors import PhotozDataError
from photoz.features import aperture_flux_error, snr
from photoz.io import write_json, write_parquet
from photoz.logs import progress
from photoz.photometry.config import PhotometryConfig
from photoz.photometry.kron import measure_stamps
from photoz.photometry.matched import matched_columns, matched_fluxes, matched_table

log = logging.getLogger("photoz.photometry")

#: Bytes of stamp data read from a shard at a time (bounds memory: about 4x this in total).
_CHUNK_BYTES = 32 * 2**20

# --------------------------------------------------------------------------------------------
# Files
# --------------------------------------------------------------------------------------------

def _read_truth(truth_path: Path) -> pd.DataFrame:
    """Read object_id, redshift and split of the truth table (docs/data_products.md §1)."""
    try:
        schema = pq.read_schema(truth_path)
    except (OSError, pa.ArrowException) as exc:
        raise PhotozDataError(f"cannot read truth table {truth_path}: {exc}") from exc
    missing = [c for c in ("object_id", "redshift", "split") if c not in schema.names]
    if missing:
        raise PhotozDataError(
            f"truth table {truth_path}: missing column(s) {missing} (docs/data_products.md §1)"
        )
    try:
        truth = pd.read_parquet(truth_path, columns=["object_id", "redshift", "split"])
    except (OSError, pa.ArrowException) as exc:
        raise PhotozDataError(f"cannot read truth table {truth_path}: {exc}") from exc
    dup = truth["object_id"].duplicated()
    if dup.any():
        row = int(np.flatnonzero(dup.to_numpy())[0])
        raise PhotozDataError(
            f"truth table {truth_path}: column object_id, row {row}: duplicate id "
            f"{truth['object_id'].iloc[row]}"
        )
    return truth.reset_index(drop=True)


def _shard_chunks(path: Path, chunk_bytes: int = _CHUNK_BYTES):
    """Yield (start, images, object_id, noise_sigma) chunks of one stamp shard (§2).

    Raises
    ------
    PhotozDataError
        Naming the file, for a missing, corrupt or truncated shard or a wrong layout.
    """
    try:
        f = h5py.File(path, "r")
    except (OSError, ValueError) as exc:
        raise PhotozDataError(
            f"cannot open stamp shard {path} (missing, corrupt or truncated HDF5): {exc}; "
            "re-run the simulate rule for it"
        ) from exc
    with f:
        for name in ("images", "object_id", "noise_sigma"):
            if name not in f:
                raise PhotozDataError(
                    f"stamp shard {path}: no dataset {name!r} (docs/data_products.md §2)"
                )
        images, oid, sigma = f["images"], f["object_id"], f["noise_sigma"]
        if images.ndim != 4 or images.shape[1] != len(BANDS):
            raise PhotozDataError(
                f"stamp shard {path}: dataset images has shape {images.shape}, expected "
                f"(N, {len(BANDS)}, H, W)"
            )
        n = images.shape[0]
        if oid.shape != (n,) or sigma.shape != (n, len(BANDS)):
            raise PhotozDataError(
                f"stamp shard {path}: object_id {oid.shape} and noise_sigma {sigma.shape} do "
                f"not match images {images.shape} (expected ({n},) and ({n}, {len(BANDS)}))"
            )
        bands = f.attrs.get("bands")
        if bands is not None:
            bands = [bd.decode() if isinstance(bd, bytes) else str(bd) for bd in np.atleast_1d(bands)]
            if len(bands) == 1 and " " in bands[0]:
                bands = bands[0].split()
            if tuple(bands) != BANDS:
                raise PhotozDataError(
                    f"stamp shard {path}: attribute bands is {bands}, expected {list(BANDS)}"
                )
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
                    f"truncated file): {exc}; re-run the simulate rule for it"
                ) from exc
            yield start, block, ids, sig




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
    """Column order of the photometry table (docs/data_products.md §3)."""
    cols = ["object_id", "redshift", "split"]
    for prefix in ("flux", "flux_err", "mag", "mag_err", "snr"):
        cols += [f"{prefix}_{bd}" for bd in BANDS]
    cols += ["kron_radius", "a", "b", "theta", "npix"]
    return cols + matched_columns(BANDS) + ["flag", "selected"]


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
    truth = _read_truth(truth_path)
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
            for start, block, ids, sig in _shard_chunks(shard):
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
    write_parquet(df, out_path, {
        "photometry_config": {**cfg.__dict__, "snr_bands": list(cfg.snr_bands),
                              "detection_bands": list(cfg.detection_bands)},
        "selection": selection,
    })
    write_json(selection, selection_path)

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
