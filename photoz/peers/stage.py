"""Classical peer estimators on the networks' photometry table, split and flux measurement.

A user choosing a photo-z method asks how the networks compare with what they would use instead.
Each peer here fits the galaxies the networks train on (``split == "train"`` of the selected rows
of ``results/photometry/photometry.parquet``; the networks' validation rows, which only steer
their early stopping, are not used), predicts every selected galaxy, and
writes ``results/predictions/<peer>.parquet`` in the networks' format
(:data:`photoz.products.train.PREDICTION_COLUMNS`, metadata ``input_flux``), so
:mod:`photoz.evaluate.metrics` scores it beside them.

Inputs on equal terms (issue 29): a peer reads the flux measurement the networks read, the table's
``photometry.flux_type`` (Kron or matched-filter fluxes), as the AB magnitudes and errors the
photometry stage converted them to (:func:`photoz.photometry.matched.magnitude_columns`);
``peer_settings.flux_type`` scores the peers on the other measurement instead. The estimators:

- ``random_forest``: scikit-learn ``RandomForestRegressor`` on 7 magnitudes + 6 adjacent colours.
- ``gradient_boosting``: XGBoost ``XGBRegressor`` (already installed as FlexZBoost's regressor)
  on the same 13 features.
- ``flexzboost``: RAIL's ``FlexZBoostInformer`` / ``FlexZBoostEstimator`` (pz-rail-flexzboost;
  Izbicki & Lee 2017, Dalmasso et al. 2020) on the i magnitude + 6 colours, RAIL's default inputs.
- ``knn``: RAIL's ``KNearNeighInformer`` / ``KNearNeighEstimator`` (pz-rail-sklearn), same inputs.
- ``bpz``: RAIL's ``BPZliteInformer`` / ``BPZliteEstimator`` (pz-rail-bpz, desc-bpz; Benitez 2000)
  template fitting with the catalogue's 31 COSMOS templates (x Calzetti E(B-V) values) through
  our CSST bandpasses, with the catalogue's own model fluxes (:func:`write_bpz_data`), and the
  HDFN prior RAIL ships for these templates.

The RAIL peers run through RAIL's own stages (``make_stage``, ``inform``, ``estimate``); their
p(z) are written as qp files and their point estimate is the mode of p(z) (RAIL's ``zmode``).

Non-detections
--------------
A band is a non-detection when its flux is below the band's 1-sigma limit,
``m_1sigma = m_5sigma + 2.5 log10(5)`` with ``m_5sigma`` the instrument's point-source limits
(:attr:`photoz.instrument.Instrument.limiting_mag`, paper Sect. 2), so negative and zero fluxes
(NaN magnitudes in the photometry table) are non-detections too. The RAIL peers receive RAIL's
convention, magnitude ``nondetect_val = 99`` and ``mag_limits`` = the 1-sigma limits, and each
handles it its own way: FlexZBoost and KNearNeigh put the magnitude at the limit (error 1 mag);
BPZ sets the flux to 0 with a 1-sigma error equal to the limit's flux (the classic BPZ
convention). The tree peers see the magnitude at the 1-sigma limit, as FlexZBoost does.
"""

from __future__ import annotations

import logging
import os
import pickle
import time
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from photoz import BANDS
from photoz.errors import PhotozConfigError, PhotozDataError
from photoz.evaluate.metrics import outlier_fraction, sigma_nmad
from photoz.instrument import load_instrument
from photoz.io import atomic_path
from photoz.names import PEERS, RAIL_PEERS
from photoz.peers.rail import (
    bpz_nt_array,
    fit_bpz,
    fit_flexzboost,
    fit_knn,
    rail_table,
    write_bpz_data,
    zmode,
)
from photoz.peers.trees import fit_gradient_boosting, fit_random_forest, tree_features
from photoz.photometry.matched import magnitude_columns
from photoz.products.train import write_ensemble, write_predictions

log = logging.getLogger(__name__)

#: 2.5 log10(5): the 5-sigma -> 1-sigma limit offset in magnitudes.
FIVE_TO_ONE_SIGMA_MAG = 2.5 * np.log10(5.0)


# --------------------------------------------------------------------------------------------
# Inputs
# --------------------------------------------------------------------------------------------
def one_sigma_limits(limiting_mag_5sigma) -> np.ndarray:
    """The 1-sigma limiting AB magnitudes from 5-sigma ones: m_1 = m_5 + 2.5 log10(5).

    Parameters
    ----------
    limiting_mag_5sigma : array_like, shape (7,), AB mag
        5-sigma point-source limits, NUV u g r i z y (``Instrument.limiting_mag``; paper Sect. 2:
        25.4, 25.4, 26.3, 26.0, 25.9, 25.2, 24.4).

    Returns
    -------
    ndarray, shape (7,), AB mag
        A source at 1/5 of the 5-sigma flux, i.e. 1.747 mag fainter.
    """
    return np.asarray(limiting_mag_5sigma, dtype=float) + FIVE_TO_ONE_SIGMA_MAG


def load_peer_photometry(path: str | os.PathLike, flux_type: str | None = None) -> pd.DataFrame:
    """Selected rows of the photometry table with magnitudes, errors, redshift and split.

    Parameters
    ----------
    path : path-like
        ``results/photometry/photometry.parquet`` (docs/outputs.md §3).
    flux_type : {None, "kron", "matched"}
        The flux measurement to read; None: the table's ``photometry.flux_type``, the one the
        networks read (:func:`photoz.train.inputs.load_photometry`).

    Returns
    -------
    pandas.DataFrame
        Columns ``object_id, redshift, split, mag_<b>, mag_err_<b>`` of the rows with
        ``selected``, index reset; the magnitudes and errors (AB mag) are those of
        ``flux_type``'s fluxes (:func:`photoz.photometry.matched.magnitude_columns`), and
        ``attrs["flux_type"]`` names it.

    Raises
    ------
    PhotozDataError
        If the file is unreadable, a column is missing, no row is selected, or a selected row
        has a non-finite redshift or an unknown split.
    PhotozValueError
        For an unknown ``flux_type``.
    """
    from photoz.train.inputs import load_photometry

    path = Path(path)
    # The one checked reader of the table: columns, finite redshift and fluxes, split labels.
    df = load_photometry(path)
    flux_type = flux_type or df.attrs["flux_type"]
    mag_cols, err_cols = magnitude_columns(flux_type, BANDS)
    cols = ["object_id", "redshift", "split", *mag_cols, *err_cols]
    missing = [c for c in cols if c not in df.columns]
    if missing:
        raise PhotozDataError(f"photometry table {path}: missing columns {missing}")
    if df.empty:
        raise PhotozDataError(f"photometry {path}: no selected galaxy; nothing to fit")
    out = df[cols].reset_index(drop=True)
    out.columns = ["object_id", "redshift", "split", *(f"mag_{b}" for b in BANDS),
                   *(f"mag_err_{b}" for b in BANDS)]
    out.attrs["flux_type"] = flux_type
    return out


def magnitudes(df: pd.DataFrame, limits_1sigma) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Magnitudes, errors and the non-detection mask of a photometry table.

    Parameters
    ----------
    df : pandas.DataFrame
        With ``mag_<b>`` (NaN for non-positive flux) and ``mag_err_<b>``, bands NUV u g r i z y.
    limits_1sigma : array_like, shape (7,), AB mag
        :func:`one_sigma_limits`.

    Returns
    -------
    mag : ndarray, shape (n, 7), AB mag
        As measured (NaN where the flux is not positive).
    mag_err : ndarray, shape (n, 7), mag
    nondetected : ndarray of bool, shape (n, 7)
        Flux at or below the 1-sigma limit: magnitude NaN or fainter than the limit.
    """
    mag = df[[f"mag_{b}" for b in BANDS]].to_numpy(dtype=float)
    mag_err = df[[f"mag_err_{b}" for b in BANDS]].to_numpy(dtype=float)
    limits = np.asarray(limits_1sigma, dtype=float)
    with np.errstate(invalid="ignore"):
        nondetected = ~np.isfinite(mag) | (mag >= limits)
    return mag, mag_err, nondetected




# --------------------------------------------------------------------------------------------
# The estimators
# --------------------------------------------------------------------------------------------




# --------------------------------------------------------------------------------------------
# One peer, end to end
# --------------------------------------------------------------------------------------------
def run_peer(peer: str, photometry_path: str | os.PathLike, out_predictions: str | os.PathLike,
             out_model: str | os.PathLike, instrument_cfg: dict | None, settings: Mapping,
             seed: int, threads: int = 1, out_pdf: str | os.PathLike | None = None,
             sed_library: str = "cosmos", work_dir: str | os.PathLike | None = None,
             flux_type: str | None = None) -> pd.DataFrame:
    """Fit one peer on the training galaxies and predict every selected galaxy.

    Parameters
    ----------
    peer : str
        One of :data:`PEERS`.
    photometry_path : path-like
        ``results/photometry/photometry.parquet``.
    out_predictions, out_model : path-like
        ``results/predictions/<peer>.parquet`` (:data:`photoz.products.train.PREDICTION_COLUMNS`,
        every selected galaxy; metadata ``peer``, ``seed``, ``settings`` and ``input_flux``, the
        flux measurement read; no wall time) and the fitted model, pickled; both written
        atomically.
    instrument_cfg : dict or None
        The ``instrument`` config section (:func:`photoz.instrument.load_instrument`): its
        5-sigma limits give the 1-sigma ones, its bandpasses BPZ's filters.
    settings : mapping
        ``peer_settings.<peer>`` of the config (schema-validated; every key present).
    seed, threads : int
    out_pdf : path-like, optional
        For the RAIL peers, the p(z) of every selected galaxy as a qp file (HDF5; ancillary
        ``object_id``, ``z_true``, ``split``, ``zmode``), atomically.
    sed_library : str
        ``catalog.sed_library``: the templates BPZ fits.
    work_dir : path-like, optional
        BPZ's data directory (default beside ``out_model``).
    flux_type : {None, "kron", "matched"}
        ``peer_settings.flux_type``: the flux measurement to fit and predict from; None (the
        default): the table's ``photometry.flux_type``, the networks' (:func:`load_peer_photometry`).

    Returns
    -------
    pandas.DataFrame
        The predictions written.

    Raises
    ------
    PhotozConfigError
        For an unknown peer.
    PhotozDataError
        If the photometry is unreadable or no galaxy is in the train split, or a
        prediction is not finite.
    """
    if peer not in PEERS:
        raise PhotozConfigError(f"peers: unknown peer {peer!r}; choose from {list(PEERS)}")
    start = time.perf_counter()
    instrument = load_instrument(instrument_cfg)
    limits = one_sigma_limits(instrument.limiting_mag)
    df, fit = _peer_table(photometry_path, flux_type)
    mag, mag_err, nondet = magnitudes(df, limits)
    z = df["redshift"].to_numpy(dtype=float)
    log.info("%s: %s fluxes; fitting %d galaxies, predicting %d; 1-sigma limits %s; non-detected "
             "fraction per band %s", peer, df.attrs["flux_type"], fit.sum(), len(df),
             limits.round(3), nondet.mean(0).round(4))
    s = dict(settings)
    if peer in RAIL_PEERS:
        data_dir = Path(work_dir) if work_dir else Path(out_model).parent / "bpz_data"
        ensemble, model = _fit_rail(peer, mag, mag_err, nondet, z, fit, limits, s, seed,
                                    instrument, sed_library, data_dir)
        z_pred = zmode(ensemble, 0.0, s["zmax"], s["nzbins"])
    else:
        x = tree_features(mag, nondet, limits)
        fn = fit_random_forest if peer == "random_forest" else fit_gradient_boosting
        (z_pred, model), ensemble = fn(x[fit], z[fit], x, seed=seed, threads=threads, **s), None
    out = _predictions(peer, df, z, z_pred)
    seconds = time.perf_counter() - start
    # No wall time in the metadata: a product is the same bits in every run with the same seed
    # (the time is in the log line below and in benchmarks/).
    meta = {"peer": peer, "seed": seed, "settings": s, "input_flux": df.attrs["flux_type"]}
    _write_peer(peer, out, meta, model, ensemble, out_predictions, out_model, out_pdf)
    _log_test_metrics(peer, out, seconds)
    return out


def _write_peer(peer: str, out: pd.DataFrame, meta: dict, model, ensemble, out_predictions,
                out_model, out_pdf) -> None:
    """Write a peer's predictions (with ``meta``), its pickled model and (RAIL) its p(z) file.

    Raises
    ------
    PhotozConfigError
        If a p(z) file is asked of a peer without p(z).
    """
    if out_pdf is not None and ensemble is None:
        raise PhotozConfigError(f"peers: {peer} gives no p(z); only {list(RAIL_PEERS)} do")
    write_predictions(out, out_predictions, metadata=meta)
    with atomic_path(out_model) as tmp, open(tmp, "wb") as fh:
        pickle.dump(model, fh)
    if out_pdf is not None:
        ensemble.set_ancil({"object_id": out["object_id"].to_numpy(),
                            "z_true": out["z_true"].to_numpy(dtype=np.float64),
                            "split": out["split"].to_numpy().astype(str),
                            "zmode": out["z_pred"].to_numpy()})
        write_ensemble(out_pdf, ensemble)  # with the digest photoz verify checks


def _log_test_metrics(peer: str, out: pd.DataFrame, seconds: float) -> None:
    """One log line: the fit's time and the test galaxies' sigma_NMAD and outlier fraction."""
    test = out["split"] == "test"
    if test.any():
        log.info("%s: %.1f s; test sigma_NMAD %.4f, outliers %.2f%% (%d galaxies)", peer,
                 seconds, sigma_nmad(out.z_pred[test], out.z_true[test]),
                 100 * outlier_fraction(out.z_pred[test], out.z_true[test]), int(test.sum()))


def _peer_table(photometry_path, flux_type: str | None = None) -> tuple[pd.DataFrame, np.ndarray]:
    """The selected galaxies (:func:`load_peer_photometry`) and which of them to fit (train)."""
    df = load_peer_photometry(photometry_path, flux_type)
    fit = (df["split"] == "train").to_numpy()
    if not fit.any():
        raise PhotozDataError(f"photometry {photometry_path}: no selected galaxy in split "
                              "'train'; nothing to fit the peers on")
    return df, fit


def _fit_rail(peer: str, mag, mag_err, nondet, z, fit, limits, s: dict, seed: int, instrument,
              sed_library: str, data_dir: Path):
    """Inform a RAIL peer on the ``fit`` rows and estimate every row: (qp ensemble, model).

    ``s`` loses BPZ's ``ebv`` key (it sets BPZ's templates, not an estimator setting).
    """
    train = rail_table(mag[fit], mag_err[fit], nondet[fit], z[fit])
    pred = rail_table(mag, mag_err, nondet)
    if peer == "flexzboost":
        return fit_flexzboost(train, pred, limits, seed=seed, **s)
    if peer == "knn":
        return fit_knn(train, pred, limits, seed=seed, **s)
    ebv = s.pop("ebv")
    spectra, filters = write_bpz_data(data_dir, instrument.bandpasses, sed_library, s["zmax"],
                                      ebv)
    return fit_bpz(train, pred, limits, data_dir=data_dir, spectra_file=spectra, filters=filters,
                   nt_array=bpz_nt_array(sed_library, len(ebv)), **s)


def _predictions(peer: str, df: pd.DataFrame, z: np.ndarray, z_pred) -> pd.DataFrame:
    """The peer's predictions table; every photo-z must be finite (object_id named)."""
    z_pred = np.asarray(z_pred, dtype=float)
    bad = ~np.isfinite(z_pred)
    if bad.any():
        raise PhotozDataError(f"{peer}: non-finite photo-z for object_id "
                              f"{df['object_id'].iloc[int(np.flatnonzero(bad)[0])]} "
                              f"({int(bad.sum())} galaxies)")
    return pd.DataFrame({"object_id": df["object_id"].to_numpy(), "z_true": z,
                         "z_pred": z_pred, "split": df["split"].astype(str).to_numpy()})
