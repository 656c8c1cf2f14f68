"""Classical peer estimators on the networks' photometry table and split.

A user choosing a photo-z method asks how the networks compare with what they would use instead.
Each peer here fits the galaxies the networks train on (``split == "train"`` of the selected rows
of ``results/photometry/photometry.parquet``; the networks' validation rows, which only steer
their early stopping, are not used), predicts every selected galaxy, and
writes ``results/predictions/<peer>.parquet`` in the networks' format
(:data:`photoz.metrics.PREDICTION_COLUMNS`), so :mod:`photoz.metrics` scores it beside them:

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
from photoz.io import atomic_path, write_parquet
from photoz.metrics import PEER_LABELS, PEERS  # noqa: F401 - the names, defined once

log = logging.getLogger("photoz.peers")

#: Peers that run through RAIL stages and also write their p(z) as a qp file.
RAIL_PEERS: tuple[str, ...] = ("flexzboost", "knn", "bpz")
#: RAIL's marker magnitude for a non-detection (``SHARED_PARAMS.nondetect_val`` default).
NONDETECT_MAG = 99.0
#: Magnitude error RAIL's FlexZBoost/KNearNeigh give a non-detection; we pass the same.
NONDETECT_MAG_ERR = 1.0
#: 2.5 log10(5): the 5-sigma -> 1-sigma limit offset in magnitudes.
FIVE_TO_ONE_SIGMA_MAG = 2.5 * np.log10(5.0)
#: BPZ zero-point errors added in quadrature (RAIL's LSST default is 0.01 mag per band).
BPZ_ZP_ERROR = 0.01
#: Templates per broad type (E, Sp, SB) of the HDFN prior: COSMOS as RAIL's
#: ``COSMOS31_HDFN_prior.pkl``, CWW as RAIL's default ``nt_array``.
BPZ_NT = {"cosmos": (10, 5, 16), "cww": (1, 2, 5)}

RAIL_MAG = "mag_{}"
RAIL_MAG_ERR = "mag_err_{}"


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


def load_peer_photometry(path: str | os.PathLike) -> pd.DataFrame:
    """Selected rows of the photometry table with magnitudes, errors, redshift and split.

    Parameters
    ----------
    path : path-like
        ``results/photometry/photometry.parquet`` (docs/data_products.md §3).

    Returns
    -------
    pandas.DataFrame
        Columns ``object_id, redshift, split, mag_<b>, mag_err_<b>`` of the rows with
        ``selected``; index reset.

    Raises
    ------
    PhotozDataError
        If the file is unreadable, a column is missing, no row is selected, or a selected row
        has a non-finite redshift or an unknown split.
    """
    from photoz.datasets import load_photometry

    path = Path(path)
    # The one checked reader of the table: columns, finite redshift and fluxes, split labels.
    df = load_photometry(path)
    cols = ["object_id", "redshift", "split"]
    cols += [f"mag_{b}" for b in BANDS] + [f"mag_err_{b}" for b in BANDS]
    missing = [c for c in cols if c not in df.columns]
    if missing:
        raise PhotozDataError(f"photometry table {path}: missing columns {missing}")
    if df.empty:
        raise PhotozDataError(f"photometry {path}: no selected galaxy; nothing to fit")
    return df[cols].reset_index(drop=True)


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


def tree_features(mag: np.ndarray, nondetected: np.ndarray, limits_1sigma) -> np.ndarray:
    """The tree peers' inputs: 7 magnitudes and 6 adjacent colours, non-detections at the limit.

    Parameters
    ----------
    mag : ndarray, shape (n, 7), AB mag
    nondetected : ndarray of bool, shape (n, 7)
    limits_1sigma : array_like, shape (7,), AB mag

    Returns
    -------
    ndarray, shape (n, 13)
        ``mag_NUV ... mag_y`` then ``NUV-u, u-g, g-r, r-i, i-z, z-y`` (the colours a
        FlexZBoost model of RAIL builds, ``make_color_data``).
    """
    m = np.where(nondetected, np.asarray(limits_1sigma, dtype=float), mag)
    return np.concatenate([m, m[:, :-1] - m[:, 1:]], axis=1)


def rail_table(mag: np.ndarray, mag_err: np.ndarray, nondetected: np.ndarray,
               redshift: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """A RAIL input table (dict of columns) with non-detections marked RAIL's way.

    Parameters
    ----------
    mag, mag_err : ndarray, shape (n, 7)
    nondetected : ndarray of bool, shape (n, 7)
    redshift : ndarray, shape (n,), optional
        Added as column ``redshift`` (informers).

    Returns
    -------
    dict of str to ndarray
        ``mag_<b>`` (:data:`NONDETECT_MAG` where not detected), ``mag_err_<b>``
        (:data:`NONDETECT_MAG_ERR` there; RAIL replaces it with its own value anyway).
    """
    m = np.where(nondetected, NONDETECT_MAG, mag)
    e = np.where(nondetected | ~np.isfinite(mag_err), NONDETECT_MAG_ERR, mag_err)
    table = {}
    for j, b in enumerate(BANDS):
        table[RAIL_MAG.format(b)] = m[:, j].astype(np.float64)
        table[RAIL_MAG_ERR.format(b)] = e[:, j].astype(np.float64)
    if redshift is not None:
        table["redshift"] = np.asarray(redshift, dtype=np.float64)
    return table


def _rail_common(limits_1sigma) -> dict:
    """Stage options every RAIL peer shares: our bands, errors and 1-sigma limits."""
    bands = [RAIL_MAG.format(b) for b in BANDS]
    return dict(
        hdf5_groupname="",
        bands=bands,
        err_bands=[RAIL_MAG_ERR.format(b) for b in BANDS],
        ref_band=RAIL_MAG.format("i"),
        mag_limits={c: float(v) for c, v in zip(bands, limits_1sigma, strict=True)},
        nondetect_val=NONDETECT_MAG,
        redshift_col="redshift",
        output_mode="return",
    )


# --------------------------------------------------------------------------------------------
# The estimators
# --------------------------------------------------------------------------------------------
def fit_random_forest(x_train, z_train, x_pred, *, n_estimators: int, min_samples_leaf: int,
                      seed: int, threads: int):
    """scikit-learn random forest regression of z on the tree features.

    Parameters
    ----------
    x_train : ndarray, shape (n_train, n_feat); z_train : ndarray, shape (n_train,)
    x_pred : ndarray, shape (n_pred, n_feat)
    n_estimators, min_samples_leaf : int
        ``RandomForestRegressor`` options (Breiman 2001).
    seed, threads : int

    Returns
    -------
    z_pred : ndarray, shape (n_pred,)
    model : sklearn.ensemble.RandomForestRegressor
    """
    from sklearn.ensemble import RandomForestRegressor

    model = RandomForestRegressor(n_estimators=n_estimators, min_samples_leaf=min_samples_leaf,
                                  random_state=seed, n_jobs=threads)
    model.fit(x_train, z_train)
    return model.predict(x_pred), model


def fit_gradient_boosting(x_train, z_train, x_pred, *, n_estimators: int, learning_rate: float,
                          max_depth: int, seed: int, threads: int):
    """XGBoost gradient-boosted trees (Chen & Guestrin 2016), squared error, on the tree features.

    Parameters
    ----------
    x_train : ndarray, shape (n_train, n_feat); z_train : ndarray, shape (n_train,)
    x_pred : ndarray, shape (n_pred, n_feat)
    n_estimators : int
        Boosting rounds.
    learning_rate : float
    max_depth : int
    seed, threads : int

    Returns
    -------
    z_pred : ndarray, shape (n_pred,)
    model : xgboost.XGBRegressor
    """
    from xgboost import XGBRegressor

    model = XGBRegressor(n_estimators=n_estimators, learning_rate=learning_rate,
                         max_depth=max_depth, random_state=seed, n_jobs=threads,
                         tree_method="hist")
    model.fit(x_train, z_train)
    return model.predict(x_pred).astype(float), model


def _run_rail(informer_cls, estimator_cls, name: str, train: dict, pred: dict,
              inform_opts: dict, estimate_opts: dict):
    """``make_stage`` -> ``inform`` -> ``make_stage`` -> ``estimate``; return (ensemble, model)."""
    informer = informer_cls.make_stage(name=f"inform_{name}", **inform_opts)
    model = informer.inform(train)
    estimator = estimator_cls.make_stage(name=f"estimate_{name}", model=model, **estimate_opts)
    ensemble = estimator.estimate(pred).data
    return ensemble, model.data


def zmode(ensemble, zmin: float, zmax: float, nzbins: int) -> np.ndarray:
    """Mode of each p(z) of a qp ensemble on the grid linspace(zmin, zmax, nzbins) (RAIL ``zmode``).

    Returns
    -------
    ndarray, shape (n,)
    """
    grid = np.linspace(zmin, zmax, nzbins)
    return np.asarray(ensemble.mode(grid=grid), dtype=float).ravel()


def fit_flexzboost(train: dict, pred: dict, limits_1sigma, *, max_basis: int, max_depth: int,
                   trainfrac: float, nbump: int, nsharp: int, zmax: float, nzbins: int,
                   seed: int):
    """RAIL FlexZBoost: inform (with RAIL's bump/sharpen grid search) and estimate.

    Parameters
    ----------
    train, pred : dict of str to ndarray
        :func:`rail_table` of the fitted and the predicted galaxies (``train`` with redshift).
    limits_1sigma : array_like, shape (7,), AB mag
    max_basis : int
        Cosine basis functions (RAIL default 35).
    max_depth : int
        XGBoost tree depth of each coefficient's regression (RAIL default 8).
    trainfrac : float
        Fraction for the fit; the rest tunes bump threshold and sharpening (RAIL default 0.75).
    nbump, nsharp : int
        Grid points of those searches (RAIL defaults 20 and 15).
    zmax : float
        Top of the redshift grid (zmin 0).
    nzbins : int
        Points of the p(z) grid.
    seed : int

    Returns
    -------
    ensemble : qp.Ensemble
        p(z) of ``pred`` (RAIL's ``interp`` representation).
    model : flexcode.FlexCodeModel
    """
    from rail.estimation.algos.flexzboost import FlexZBoostEstimator, FlexZBoostInformer

    common = _rail_common(limits_1sigma)
    inform_opts = dict(common, zmin=0.0, zmax=zmax, nzbins=nzbins, trainfrac=trainfrac,
                       max_basis=max_basis, nbump=nbump, nsharp=nsharp, seed=seed,
                       regression_params={"max_depth": max_depth, "objective": "reg:squarederror",
                                          "random_state": seed})
    estimate_opts = dict(common, zmin=0.0, zmax=zmax, nzbins=nzbins, qp_representation="interp")
    return _run_rail(FlexZBoostInformer, FlexZBoostEstimator, "flexzboost", train, pred,
                     inform_opts, estimate_opts)


def fit_knn(train: dict, pred: dict, limits_1sigma, *, nneigh_min: int, nneigh_max: int,
            zmax: float, nzbins: int, seed: int):
    """RAIL KNearNeigh: inform (grid over neighbours and Gaussian width) and estimate.

    Parameters
    ----------
    train, pred : dict of str to ndarray
        :func:`rail_table` of the fitted and predicted galaxies.
    limits_1sigma : array_like, shape (7,), AB mag
    nneigh_min, nneigh_max : int
        Range of neighbour counts searched (RAIL defaults 3 and 7).
    zmax : float; nzbins : int
        The p(z) grid.
    seed : int

    Returns
    -------
    ensemble : qp.Ensemble (mixture of Gaussians)
    model : dict
    """
    from rail.estimation.algos.k_nearneigh import KNearNeighEstimator, KNearNeighInformer

    common = _rail_common(limits_1sigma)
    inform_opts = dict(common, zmin=0.0, zmax=zmax, nzbins=nzbins, nneigh_min=nneigh_min,
                       nneigh_max=nneigh_max, seed=seed)
    estimate_opts = dict(common, zmin=0.0, zmax=zmax, nzbins=nzbins)
    return _run_rail(KNearNeighInformer, KNearNeighEstimator, "knn", train, pred,
                     inform_opts, estimate_opts)


def bpz_template_names(library: str, ebv) -> list[str]:
    """BPZ names of the templates (x E(B-V)) :func:`write_bpz_data` writes, in its order.

    A template of ``photoz.sed.template_names(library)`` keeps its name at E(B-V) = 0 and is
    ``<name>_E<ebv:.2f>`` otherwise; the E(B-V) copies follow their template, so a broad type's
    templates stay one block (BPZ's ``nt_array``).
    """
    from photoz.sed import template_names

    names = []
    for name in template_names(library):
        stem = name[:-4] if name.endswith(".sed") else name
        names += [stem if e == 0 else f"{stem}_E{e:.2f}" for e in np.atleast_1d(ebv)]
    return names


def write_bpz_data(directory: str | os.PathLike, bandpasses: Mapping, library: str = "cosmos",
                   zmax: float = 3.0, ebv=(0.0,)) -> tuple[str, list[str]]:
    """A BPZ data directory (SED/, FILTER/, AB/) holding the catalogue's model fluxes.

    BPZ reads, for each template and filter, an ``AB/<template>.<filter>.withmadau.AB`` table of
    redshift against the model's AB flux (maggies, 10^(-0.4 m_AB); any per-template scale, as BPZ
    fits the amplitude). We write it from :func:`photoz.sed.build_flux_grid`, the integration the
    catalogue stage fits its galaxies with: the same 31 COSMOS (or 8 CWW) templates, Calzetti
    E(B-V), Madau (1995) IGM, and the simulation's own ``galsim.Bandpass`` curves, so that BPZ's
    models are the catalogue's exactly (desc-bpz's ``ABflux`` would redo the integral with its own
    IGM and filter resampling, in ~30 s of CPU for 31 x 7 files against ~2 s here). The curves are
    also written as ``FILTER/CSST_<b>.res`` (Angstrom, throughput) for reference.

    Parameters
    ----------
    directory : path-like
        Created if needed; files are overwritten.
    bandpasses : mapping of str to galsim.Bandpass
        ``Instrument.bandpasses`` (wavelengths in nm).
    library : str
        ``cosmos`` or ``cww`` (:data:`photoz.sed.LIBRARIES`).
    zmax : float
        Top of the redshift grid (step 0.01 from 0; BPZ interpolates onto its own grid).
    ebv : sequence of float, mag
        Calzetti E(B-V) values; each template is written once per value
        (:func:`bpz_template_names`).

    Returns
    -------
    spectra_file : str
        Name of the template list in ``SED/``.
    filters : list of str
        BPZ filter names, NUV ... y.
    """
    from photoz.sed import build_flux_grid

    directory = Path(directory)
    for sub in ("SED", "FILTER", "AB"):
        (directory / sub).mkdir(parents=True, exist_ok=True)
    ebv = np.atleast_1d(np.asarray(ebv, dtype=float))
    bands = {b: bandpasses[b] for b in BANDS}
    grid = build_flux_grid(bands, library=library, z_max=zmax + 0.05, dz=0.01, ebv=ebv)
    maggies = grid.to_maggies(grid.flux)  # (T, E, Z, B)
    names = bpz_template_names(library, ebv)
    spectra_file = f"photoz_{library}_{len(ebv)}ebv.list"
    (directory / "SED" / spectra_file).write_text("".join(f"{n}.sed\n" for n in names))
    filters = [f"CSST_{b}" for b in BANDS]
    for b, fname in zip(BANDS, filters, strict=True):
        wave_nm = np.asarray(bands[b].wave_list, dtype=float)
        with atomic_path(directory / "FILTER" / f"{fname}.res") as tmp:
            np.savetxt(tmp, np.column_stack([10.0 * wave_nm, bands[b](wave_nm)]), fmt="%.6g")
    k = 0
    for t in range(maggies.shape[0]):
        for e in range(maggies.shape[1]):
            for j, fname in enumerate(filters):
                with atomic_path(directory / "AB" / f"{names[k]}.{fname}.withmadau.AB") as tmp:
                    np.savetxt(tmp, np.column_stack([grid.z, maggies[t, e, :, j]]), fmt="%.6e")
            k += 1
    log.info("BPZ data %s: %d templates x %d E(B-V) x %d filters, z 0-%.2f", directory,
             maggies.shape[0], len(ebv), len(filters), grid.z[-1])
    return spectra_file, filters


def bpz_nt_array(library: str, n_ebv: int) -> list[int]:
    """Templates per broad type for :func:`write_bpz_data`'s list: :data:`BPZ_NT` x ``n_ebv``."""
    return [n * n_ebv for n in BPZ_NT[library]]


def fit_bpz(train: dict, pred: dict, limits_1sigma, *, data_dir: str | os.PathLike,
            spectra_file: str, filters, nt_array, zmax: float, nzbins: int):
    """RAIL BPZ-lite template fitting with the HDFN prior (Benitez 2000) on our templates.

    Parameters
    ----------
    train, pred : dict of str to ndarray
        :func:`rail_table`; ``train`` informs the stage (with the HDFN prior no fit is made).
    limits_1sigma : array_like, shape (7,), AB mag
        BPZ's flux error of a non-detection is the flux at this limit.
    data_dir : path-like
        :func:`write_bpz_data`'s directory; ``spectra_file`` and ``filters`` its return values.
    nt_array : list of int
        Templates per broad type (E, Sp, SB) of the HDFN prior, in the list's order
        (:func:`bpz_nt_array`).
    zmax : float; nzbins : int
        The redshift grid (zmin 0).

    Returns
    -------
    ensemble : qp.Ensemble
    model : dict
    """
    from desc_bpz import paths as bpz_paths
    from rail.estimation.algos.bpz_lite import BPZliteEstimator, BPZliteInformer

    bpz_paths.set_data_dir(str(data_dir))
    common = _rail_common(limits_1sigma)
    zeros = [0.0] * len(BANDS)
    inform_opts = dict(common, zmin=0.0, zmax=zmax, nzbins=nzbins, output_hdfn=True,
                       nt_array=list(nt_array), spectra_file=spectra_file,
                       bpz_ref_data_path=str(data_dir), zp_offsets=zeros)
    estimate_opts = dict(common, zmin=0.0, zmax=zmax, nzbins=nzbins, dz=zmax / (nzbins - 1),
                         bpz_ref_data_path=str(data_dir), spectra_file=spectra_file,
                         filter_list=list(filters), madau_flag="yes",
                         zp_errors=[BPZ_ZP_ERROR] * len(BANDS), zp_offsets=zeros)
    return _run_rail(BPZliteInformer, BPZliteEstimator, "bpz", train, pred,
                     inform_opts, estimate_opts)


# --------------------------------------------------------------------------------------------
# One peer, end to end
# --------------------------------------------------------------------------------------------
def run_peer(peer: str, photometry_path: str | os.PathLike, out_predictions: str | os.PathLike,
             out_model: str | os.PathLike, instrument_cfg: dict | None, settings: Mapping,
             seed: int, threads: int = 1, out_pdf: str | os.PathLike | None = None,
             sed_library: str = "cosmos", work_dir: str | os.PathLike | None = None) -> pd.DataFrame:
    """Fit one peer on the training galaxies and predict every selected galaxy.

    Parameters
    ----------
    peer : str
        One of :data:`PEERS`.
    photometry_path : path-like
        ``results/photometry/photometry.parquet``.
    out_predictions : path-like
        ``results/predictions/<peer>.parquet``: ``object_id, z_true, z_pred, split`` for every
        selected galaxy (docs/data_products.md §4), written atomically.
    out_model : path-like
        The fitted model, pickled (atomically).
    instrument_cfg : dict or None
        The ``instrument`` config section (:func:`photoz.instrument.load_instrument`): its
        5-sigma limits give the 1-sigma ones, its bandpasses BPZ's filters.
    settings : mapping
        ``peer_settings.<peer>`` of the config (schema-validated; every key present).
    seed, threads : int
    out_pdf : path-like, optional
        For the RAIL peers, the p(z) of every selected galaxy as a qp file (HDF5), atomically.
    sed_library : str
        ``catalog.sed_library``: the templates BPZ fits.
    work_dir : path-like, optional
        BPZ's data directory (default beside ``out_model``).

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
    from photoz.instrument import load_instrument

    if peer not in PEERS:
        raise PhotozConfigError(f"peers: unknown peer {peer!r}; choose from {list(PEERS)}")
    start = time.perf_counter()
    instrument = load_instrument(instrument_cfg)
    limits = one_sigma_limits(instrument.limiting_mag)
    df = load_peer_photometry(photometry_path)
    fit = (df["split"] == "train").to_numpy()
    if not fit.any():
        raise PhotozDataError(f"photometry {photometry_path}: no selected galaxy in split "
                              "'train'; nothing to fit the peers on")
    mag, mag_err, nondet = magnitudes(df, limits)
    z = df["redshift"].to_numpy(dtype=float)
    log.info("%s: fitting %d galaxies, predicting %d; 1-sigma limits %s; non-detected "
             "fraction per band %s", peer, int(fit.sum()), len(df), np.round(limits, 3),
             np.round(nondet.mean(axis=0), 4))
    s = dict(settings)
    ensemble = None
    if peer in ("random_forest", "gradient_boosting"):
        x = tree_features(mag, nondet, limits)
        fn = fit_random_forest if peer == "random_forest" else fit_gradient_boosting
        z_pred, model = fn(x[fit], z[fit], x, seed=seed, threads=threads, **s)
    else:
        train = rail_table(mag[fit], mag_err[fit], nondet[fit], z[fit])
        pred = rail_table(mag, mag_err, nondet)
        if peer == "flexzboost":
            ensemble, model = fit_flexzboost(train, pred, limits, seed=seed, **s)
        elif peer == "knn":
            ensemble, model = fit_knn(train, pred, limits, seed=seed, **s)
        else:
            data_dir = Path(work_dir) if work_dir else Path(out_model).parent / "bpz_data"
            ebv = s.pop("ebv")
            spectra, filters = write_bpz_data(data_dir, instrument.bandpasses, sed_library,
                                              s["zmax"], ebv)
            ensemble, model = fit_bpz(train, pred, limits, data_dir=data_dir, spectra_file=spectra,
                                      filters=filters, nt_array=bpz_nt_array(sed_library, len(ebv)),
                                      **s)
        z_pred = zmode(ensemble, 0.0, s["zmax"], s["nzbins"])
    z_pred = np.asarray(z_pred, dtype=float)
    bad = ~np.isfinite(z_pred)
    if bad.any():
        raise PhotozDataError(f"{peer}: non-finite photo-z for object_id "
                              f"{df['object_id'].iloc[int(np.flatnonzero(bad)[0])]} "
                              f"({int(bad.sum())} galaxies)")
    out = pd.DataFrame({"object_id": df["object_id"].to_numpy(), "z_true": z,
                        "z_pred": z_pred, "split": df["split"].astype(str).to_numpy()})
    seconds = time.perf_counter() - start
    write_parquet(out, out_predictions, metadata={"peer": peer, "seed": seed,
                                                  "settings": s, "seconds": round(seconds, 2)})
    with atomic_path(out_model) as tmp, open(tmp, "wb") as fh:
        pickle.dump(model, fh)
    if out_pdf is not None:
        if ensemble is None:
            raise PhotozConfigError(f"peers: {peer} gives no p(z); only {list(RAIL_PEERS)} do")
        ensemble.set_ancil({"object_id": df["object_id"].to_numpy(), "zmode": z_pred})
        with atomic_path(out_pdf) as tmp:
            target = tmp.with_suffix(".hdf5")
            ensemble.write_to(str(target))
            os.replace(target, tmp)
    test = out["split"] == "test"
    if test.any():
        from photoz.metrics import outlier_fraction, sigma_nmad

        log.info("%s: %.1f s; test sigma_NMAD %.4f, outliers %.2f%% (%d galaxies)", peer,
                 seconds, sigma_nmad(out.z_pred[test], out.z_true[test]),
                 100 * outlier_fraction(out.z_pred[test], out.z_true[test]), int(test.sum()))
    return out
