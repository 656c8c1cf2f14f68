"""Apply a trained network to a photometry table and its stamps (``python -m photoz predict``).

The inputs are prepared exactly as in training (:func:`photoz.train.inputs.prepare_inputs`), with the
flux type (Kron or matched), limiting fluxes (eq. 7), background sigma (eq. 4), image size and
intensity scaling stored in the checkpoint, so a prediction depends neither on the config at hand
nor on the table's metadata (a table re-saved with pandas has none). The table is checked before
the network sees it (:func:`check_flux_range`): the columns that network reads must be present,
and finite, with errors > 0 and within :data:`FLUX_BOUND` of the limiting flux, in every selected
row; a bad value is a one-line :class:`~photoz.errors.PhotozDataError` naming column and row.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from photoz import BANDS
from photoz.errors import PhotozDataError
from photoz.mixture import mixture_of_members
from photoz.models.build import build_model
from photoz.photometry.matched import network_flux_columns
from photoz.products.common import first_bad
from photoz.products.train import (
    load_checkpoint,
    make_ensemble,
    make_mixture_ensemble,
    write_predictions,
)
from photoz.train.heads import calibrate, mixture_arrays, prediction_columns
from photoz.train.inference import predict_tensors
from photoz.train.inputs import load_photometry, prepare_inputs
from photoz.train.settings import resolve_device, resolve_precision, seed_streams

log = logging.getLogger(__name__)

#: Largest |flux| and flux error :func:`check_flux_range` accepts, in units of the band's limiting
#: flux F_lim (eq. 7, stored in the checkpoint): 1e8 F_lim is 20 magnitudes brighter than the
#: 5-sigma limit (AB ~ 5-6 in every band), brighter than any galaxy a stamp holds. A flux of 1e300
#: gave dz = 17.9 without a word (issue 30). Errors must also be at least 1e-8 F_lim (eq. 6 gives
#: at least the pixel noise, ~1/50 F_lim).
FLUX_BOUND = 1e8


def predict(model_path: str | Path, photometry_path: str | Path,
            shard_paths: Sequence[str | Path], out_path: str | Path | None,
            threads: int = 1, device: str = "auto") -> pd.DataFrame:
    """Photo-z of every selected galaxy of a photometry table with a trained network.

    Parameters
    ----------
    model_path : path-like
        ``results/models/<net>.pt`` from :func:`photoz.train.network.train_network`, or a deep
        ensemble's from :func:`photoz.train.ensemble.combine_members` (``train.ensemble_size`` > 1:
        the photo-z of the members' mixture).
    photometry_path : path-like
        Photometry table (docs/outputs.md §3). Rows with ``selected == False`` are
        skipped (all rows are used if there is no ``selected`` column); ``redshift`` and
        ``split`` are optional (NaN and ``""`` when absent).
    shard_paths : list of path-like
        Stamp shards (§2) holding every used ``object_id``; ignored by the MLP.
    out_path : path-like or None
        Parquet file for ``object_id, z_true, z_pred, z_mode, z_median, z_lo68, z_hi68, split``
        (written atomically; the p(z) columns use the checkpoint's validation-fitted width
        scale, :mod:`photoz.train.heads`); None to skip writing.
    threads : int
        ``torch.set_num_threads``.
    device : str
        ``"auto"`` (CUDA if present), ``"cpu"`` or ``"cuda"``.

    Returns
    -------
    pandas.DataFrame
        Columns ``object_id`` (int64), ``z_true``, ``z_pred``, ``z_mode``, ``z_median``,
        ``z_lo68``, ``z_hi68`` (float64), ``split`` (str).

    Raises
    ------
    PhotozDataError
        For an unreadable or corrupt checkpoint, one whose weights do not fit the network it
        names, an unreadable or corrupt table or shard, a galaxy without a stamp, or a table
        that lacks a column the network reads (the checkpoint's flux type: ``flux_<b>``,
        ``flux_err_<b>``, ``npix`` for Kron, the ``*_matched_<b>_csst`` ones and
        ``npix_matched`` for matched) or holds, in a selected row, a value that is not finite,
        an error <= 0, or a flux or error beyond :data:`FLUX_BOUND` (column and row named).
        Rows with ``selected`` false are skipped (their number is logged). An empty selection is
        not an error: it logs a warning and gives an empty table.
    """
    mix = predict_mixtures(model_path, photometry_path, shard_paths, threads, device,
                           out_path=out_path)
    frame = predictions_table(mix)
    if out_path is not None:
        write_predictions(frame, out_path, metadata={"input_flux": mix.input_flux})
    log.info("predicted %d galaxies with %s (%s) on %s", len(frame), model_path, mix.net,
             mix.device)
    return frame


@dataclass
class Mixtures:
    """Calibrated p(z) of every selected galaxy of a table (:func:`predict_mixtures`).

    ``w``, ``mu``, ``sig`` have shape (n, K) (n, N K for a deep ensemble): the calibrated mixture
    before its truncation at z = 0 (the p(z) is that mixture truncated and renormalised,
    :func:`mixtures_ensemble`); ``raw`` and ``output`` are what
    :func:`photoz.train.heads.prediction_columns` takes (an ensemble: ``None`` and ``"pdf"``, so
    that ``z_pred`` is the p(z)'s median). ``input_flux`` is the flux measurement the network read
    (:func:`input_flux`), written into the predictions table's metadata.
    """

    net: str
    object_id: np.ndarray
    z_true: np.ndarray
    split: np.ndarray
    w: np.ndarray
    mu: np.ndarray
    sig: np.ndarray
    width_scale: float
    raw: np.ndarray | None
    output: str
    device: torch.device
    input_flux: str | None = None


def input_flux(model_inputs, flux_type: str) -> str:
    """The flux measurement a network reads: ``flux_type`` (``photometry.flux_type``: ``kron`` or
    ``matched``) if ``"flux"`` is among its ``model_inputs``, else ``"none"`` (the CNN: stamps)."""
    return str(flux_type) if "flux" in model_inputs else "none"


def _network_outputs(ckpt: dict, model_path, df: pd.DataFrame, shard_paths, dev):
    """One network's prepared inputs, raw outputs (n,) or (n, 3 K) on ``df``'s galaxies, output
    setting and :func:`input_flux`."""
    try:
        output = ckpt.get("output", "point")
        model = build_model(ckpt["net"], output=output,
                            n_components=int(ckpt.get("pdf_components", 3)))
        model.load_state_dict(ckpt["state_dict"])
    except (RuntimeError, KeyError, ValueError) as exc:
        # torch's message lists every missing, unexpected or mis-shaped tensor: keep its start.
        detail = str(exc).strip().splitlines()[0][:300]
        raise PhotozDataError(
            f"model checkpoint {model_path}: labelled network {ckpt['net']!r} but its weights do "
            f"not fit that network ({detail}); the file was written for another network or "
            "edited: retrain it (snakemake --forcerun train_network)") from exc
    model.to(dev)
    scaling = ckpt["input_scaling"]
    # Padding noise is drawn from the checkpoint seed's padding stream, as in training.
    rng = np.random.default_rng(seed_streams(ckpt.get("seed", 0))["padding"])
    data = prepare_inputs(df, shard_paths, "image" in model.inputs,
                          np.asarray(scaling["limiting_flux"]), np.asarray(scaling["noise_sigma"]),
                          scaling["image_size"], scaling["image_scaling"], rng)
    if "image" in model.inputs:
        model.to(memory_format=torch.channels_last)
    # As in training (photoz.train.network.train_network): bf16 autocast for the image networks only;
    # the MLP always runs in float32 (with "auto" on a bf16 CPU its photo-z moved by ~0.002).
    amp = resolve_precision(ckpt.get("precision", "fp32"), dev) if ckpt["net"] != "mlp" else None
    raw = predict_tensors(model, data.flux, data.images, dev, progress=True,
                          tta=bool(ckpt.get("tta", False)), autocast=amp)
    if len(data.z) == 0:
        raw = raw.reshape((0,) if output == "point" else (0, 3 * int(ckpt["pdf_components"])))
    return data, raw, output, input_flux(model.inputs, data.input_scaling["flux_type"])


def predict_mixtures(model_path: str | Path, photometry_path: str | Path,
                     shard_paths: Sequence[str | Path], threads: int = 1, device: str = "auto",
                     out_path: str | Path | None = None) -> Mixtures:
    """The calibrated p(z) of every selected galaxy with a trained network or deep ensemble.

    A single network's widths are multiplied by its checkpoint's ``width_scale``; a deep
    ensemble's checkpoint (``ensemble`` key, :func:`photoz.train.ensemble.combine_members`) gives the
    equal-weight mixture of its members' raw mixtures times the ensemble's ``width_scale``.
    Arguments and errors as :func:`predict` (``out_path`` only names the file in a warning).
    """
    torch.set_num_threads(max(1, int(threads)))
    dev = resolve_device(device)
    ckpt = load_checkpoint(model_path)
    flux_type = checkpoint_flux_type(ckpt, model_path)
    df = load_photometry(photometry_path, require_truth=False, flux_type=flux_type)
    check_flux_range(df, flux_type, ckpt["input_scaling"]["limiting_flux"], photometry_path)
    n_rows = df.attrs.get("n_rows", len(df))
    log.info("%s: %d of %d rows selected; %d skipped (column selected is false)%s",
             photometry_path, len(df), n_rows, n_rows - len(df),
             f"; {flux_type} fluxes (the checkpoint's)" if len(df) else "")
    if len(df) == 0:
        log.warning("photometry table %s has no selected galaxy (no rows, or selected is false "
                    "everywhere): the predictions %s will be empty", photometry_path,
                    out_path if out_path is not None else "returned")
    ensemble = ckpt.get("ensemble")
    if ensemble is None:
        data, raw, output, flux = _network_outputs(ckpt, model_path, df, shard_paths, dev)
        w, mu, sig, scale = calibrate(raw, output, data.z, None,
                                      width_scale=float(ckpt.get("width_scale", 1.0)))
    else:
        members = []
        for member in ensemble["members"]:
            data, raw, output, flux = _network_outputs(member, model_path, df, shard_paths, dev)
            members.append(mixture_arrays(raw, output))
        scale = float(ensemble["width_scale"])
        w, mu, sig = mixture_of_members(members)
        sig, raw, output = sig * scale, None, "pdf"
    return Mixtures(ckpt["net"], data.object_id, data.z.astype(np.float64), data.split, w, mu,
                    sig, float(scale), raw, output, dev, flux)


def checkpoint_flux_type(ckpt: dict, model_path) -> str:
    """The fluxes a checkpoint's network was trained on: ``kron`` or ``matched``.

    Stored in its ``input_scaling`` since matched fluxes exist; a checkpoint without it was
    trained before them, on Kron fluxes (a warning says so).

    Raises
    ------
    PhotozDataError
        If the checkpoint names another flux type or other bands than ``NUV u g r i z y``.
    """
    scaling = ckpt["input_scaling"]
    bands = tuple(scaling.get("bands", BANDS))
    if bands != BANDS:
        raise PhotozDataError(f"model checkpoint {model_path}: trained on bands {list(bands)}, "
                              f"not {list(BANDS)}")
    flux_type = scaling.get("flux_type")
    if flux_type is None:
        log.warning("model checkpoint %s does not say which fluxes it was trained on (written "
                    "before matched fluxes existed): using the Kron fluxes flux_<band>",
                    model_path)
        return "kron"
    if flux_type not in ("kron", "matched"):
        raise PhotozDataError(f"model checkpoint {model_path}: unknown flux type {flux_type!r} "
                              "in input_scaling; retrain it")
    return str(flux_type)


def check_flux_range(df: pd.DataFrame, flux_type: str, limiting_flux, path) -> None:
    """Refuse fluxes and errors the network was never meant to see (:data:`FLUX_BOUND`).

    Parameters
    ----------
    df : pandas.DataFrame
        Selected rows of a photometry table (:func:`photoz.train.inputs.load_photometry`, which
        has checked them finite, errors > 0), with the file's row numbers in ``_row``.
    flux_type : str
        ``kron`` or ``matched`` (the columns of
        :func:`photoz.photometry.matched.network_flux_columns`).
    limiting_flux : sequence of float, shape (7,), electrons
        F_lim per band (the checkpoint's).
    path : path-like
        The table, named in the error.

    Raises
    ------
    PhotozDataError
        Naming file, column and row: ``|flux| > FLUX_BOUND F_lim``, or a flux error outside
        ``[F_lim / FLUX_BOUND, FLUX_BOUND F_lim]``.
    """
    flux_cols, err_cols, _ = network_flux_columns(flux_type, BANDS)
    rows = df["_row"].to_numpy() if "_row" in df.columns else None
    for j, lim in enumerate(np.asarray(limiting_flux, dtype=float)):
        top, low = FLUX_BOUND * lim, lim / FLUX_BOUND
        flux = df[flux_cols[j]].to_numpy(dtype=float)
        first_bad(path, "photometry table", df, flux_cols[j], np.abs(flux) > top,
                  f"|flux| must be <= {top:.3g} e- ({FLUX_BOUND:g} x the limiting flux)", rows)
        err = df[err_cols[j]].to_numpy(dtype=float)
        first_bad(path, "photometry table", df, err_cols[j], (err > top) | (err < low),
                  f"the error must be in [{low:.3g}, {top:.3g}] e- (1/{FLUX_BOUND:g} to "
                  f"{FLUX_BOUND:g} x the limiting flux)", rows)


def predictions_table(mix: Mixtures) -> pd.DataFrame:
    """The predictions table of a network or deep ensemble: the one place it is assembled.

    Parameters
    ----------
    mix : Mixtures
        Calibrated p(z) of the galaxies (training: :func:`photoz.train.network.train_network`;
        prediction: :func:`predict_mixtures`; ensembles: :func:`photoz.train.ensemble.combine_members`).

    Returns
    -------
    pandas.DataFrame
        Columns :data:`photoz.products.train.NETWORK_PREDICTION_COLUMNS`: ``object_id`` (int64),
        ``z_true``, ``z_pred`` (the p(z) median for a p(z) head, the output for a point head),
        ``z_mode``, ``z_median``, ``z_lo68``, ``z_hi68`` (float64), ``split`` (str).
    """
    return pd.DataFrame({"object_id": mix.object_id, "z_true": mix.z_true,
                         **prediction_columns(mix.raw, mix.output, mix.w, mix.mu, mix.sig),
                         "split": mix.split})


def mixtures_ensemble(mix: Mixtures, rows: np.ndarray | None = None, truncated: bool = True):
    """The calibrated p(z) of ``rows`` (default every galaxy) as a ``qp`` ensemble.

    ``truncated``: the p(z) truncated at z = 0 (:func:`photoz.products.train.make_ensemble`, the
    network's p(z) file); otherwise the untruncated mixtures as a ``qp.mixmod``
    (:func:`photoz.products.train.make_mixture_ensemble`, a deep-ensemble member's file). Ancillary
    ``width_scale`` the calibration's.
    """
    sel = slice(None) if rows is None else rows
    make = make_ensemble if truncated else make_mixture_ensemble
    return make(mix.w[sel], mix.mu[sel], mix.sig[sel], mix.object_id[sel], mix.z_true[sel],
                mix.width_scale)
