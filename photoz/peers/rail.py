"""The RAIL peers of :mod:`photoz.peers` (FlexZBoost, KNearNeigh, BPZlite): RAIL tables and stages.

The glue between our photometry and RAIL: input tables with RAIL's non-detection convention
(:func:`rail_table`), the stage options every RAIL peer shares, ``make_stage`` -> ``inform`` ->
``estimate`` per peer, the mode of the p(z), and BPZ's data directory of CSST filter curves and
model fluxes (:func:`write_bpz_data`). The notes of :mod:`photoz.peers` describe the methods.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from photoz import BANDS
from photoz.io import atomic_path

log = logging.getLogger(__name__)

#: RAIL's marker magnitude for a non-detection (``SHARED_PARAMS.nondetect_val`` default).
NONDETECT_MAG = 99.0
#: Magnitude error RAIL's FlexZBoost/KNearNeigh give a non-detection; we pass the same.
NONDETECT_MAG_ERR = 1.0
#: BPZ zero-point errors added in quadrature (RAIL's LSST default is 0.01 mag per band).
BPZ_ZP_ERROR = 0.01
#: Templates per broad type (E, Sp, SB) of the HDFN prior: COSMOS as RAIL's
#: ``COSMOS31_HDFN_prior.pkl``, CWW as RAIL's default ``nt_array``.
BPZ_NT = {"cosmos": (10, 5, 16), "cww": (1, 2, 5)}

RAIL_MAG = "mag_{}"
RAIL_MAG_ERR = "mag_err_{}"


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
