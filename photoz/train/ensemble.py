"""Deep ensembles (issue 13; ``train.ensemble_size``, default 1 = off): N trainings, one mixture.

With ``train.ensemble_size: N`` > 1 every network is trained N times (Lakshminarayanan et al.
2017, NeurIPS 30, "Simple and scalable predictive uncertainty estimation using deep ensembles"),
each training a separate workflow job (:func:`train_member`, rule ``train_member``), and its p(z)
is the equal-weight mixture of the members' mixtures (:func:`combine_members`, rule
``combine_ensemble``): N K components per galaxy, weights ``w_ik / N``, truncated at z = 0.

Seeds: member ``k`` (0 ... N - 1) is trained with seed ``seed + k`` (:func:`member_seed`), every
other setting the network's; member 0 is therefore exactly the single training of
``ensemble_size: 1`` (same seed, same settings, same weights), and the members of a run with seed
2022 are the single trainings of seeds 2022, 2023, ... (the seeds benchmark's). hybrid_transfer's
member ``k`` starts from the MLP's and the CNN's member ``k``.

Calibration: one width factor for the whole ensemble, fitted on the ensemble mixture of the
*validation* galaxies by negative log-likelihood (:func:`photoz.mixture.fit_width_scale`; the
likelihood of the mixture truncated at z = 0, as for one network) and applied to the members' raw
(uncalibrated) widths: the mixture is what is scored, and its spread already
holds the members' disagreement, so factors fitted per member would make it too wide. The members'
own factors (each fitted as for a single network) stay in their checkpoints and member files.
``width_scale`` of the qp file and summary.json is the ensemble's; the ``_raw`` scores are those of
the mixture of raw members.

Point estimates come from the mixture exactly as for one network: from the ensemble mixture
truncated at z = 0 (:func:`photoz.mixture.point_estimates`; ``z_pred`` is its median, also when the
members are point regressions), and ``results/pdfs/<net>.hdf5`` holds that truncated p(z)
(:func:`photoz.products.train.make_ensemble`). The members' files hold their untruncated mixtures
(``qp.mixmod``), the raw material of the combination.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from photoz.errors import PhotozDataError
from photoz.io import atomic_path
from photoz.mixture import Z_LOWER, fit_width_scale, mixture_of_members
from photoz.products.train import (
    ensemble_arrays,
    load_checkpoint,
    prediction_metadata,
    read_ensemble,
    read_history,
    read_predictions,
    save_checkpoint,
    write_ensemble,
    write_predictions,
)
from photoz.train.network import train_network
from photoz.train.predict import Mixtures, mixtures_ensemble, predictions_table


def member_seed(seed: int, member: int) -> int:
    """Training seed of ensemble member ``member`` of a run with seed ``seed``: ``seed + member``.

    Member 0 keeps the run seed, so that it is the ``ensemble_size: 1`` training exactly.
    """
    return int(seed) + int(member)




def train_member(net: str, member: int, photometry_path: str | Path,
                 shard_paths: Sequence[str | Path], out_model: str | Path,
                 out_history: str | Path, out_predictions: str | Path, out_mixtures: str | Path,
                 train_cfg: dict, instrument, seed: int, threads: int = 1,
                 pretrained: dict | None = None) -> dict:
    """Train ensemble member ``member`` of ``net`` and write its p(z) of every selected galaxy.

    :func:`photoz.train.network.train_network` with seed :func:`member_seed` ``(seed, member)`` (its
    checkpoint, history and predictions table; the member's own width scale), then the member's
    calibrated mixtures of *every* selected galaxy from the same inference pass, as a qp file,
    ``out_mixtures``, the input of :func:`combine_members` (the validation rows calibrate the
    ensemble).

    Parameters
    ----------
    net, photometry_path, shard_paths, train_cfg, instrument, threads, pretrained
        As :func:`photoz.train.network.train_network`; ``pretrained`` holds member ``member`` of the
        MLP and CNN for hybrid_transfer.
    member : int
        0 ... ``ensemble_size`` - 1.
    out_model, out_history, out_predictions : path-like
        ``results/models/<net>_m<k>.pt``, ``results/models/<net>_m<k>_history.csv``,
        ``results/members/<net>_m<k>.parquet``.
    out_mixtures : path-like
        ``results/members/<net>_m<k>.hdf5`` (:func:`photoz.products.train.make_mixture_ensemble`:
        the member's calibrated, untruncated mixtures of every selected galaxy in the predictions
        table's order; ancillary ``width_scale`` is the member's).
    seed : int
        The run seed.

    Returns
    -------
    dict
        :func:`photoz.train.network.train_network`'s summary, with ``member``.
    """
    summary = train_network(net, photometry_path, shard_paths, out_model, out_history,
                            out_predictions, train_cfg, instrument, member_seed(seed, member),
                            threads=threads, pretrained=pretrained, out_mixtures=out_mixtures)
    return {**summary, "member": int(member)}


def combine_members(member_models: Sequence[str | Path], member_predictions: Sequence[str | Path],
                    member_mixtures: Sequence[str | Path], member_histories: Sequence[str | Path],
                    out_model: str | Path, out_history: str | Path, out_predictions: str | Path,
                    out_pdfs: str | Path) -> dict:
    """Combine N trained members into the network's products (rule ``combine_ensemble``).

    Parameters
    ----------
    member_models, member_predictions, member_mixtures, member_histories : sequences of path-like
        :func:`train_member`'s outputs of members 0 ... N - 1, in member order.
    out_model : path-like
        ``results/models/<net>.pt``: member 0's checkpoint (so a reader of one network gets a
        valid one) plus ``ensemble = {"size", "seeds", "width_scale", "members"}``, the members'
        full checkpoints; :func:`photoz.train.predict.predict` applies the whole ensemble.
    out_history : path-like
        ``results/models/<net>_history.csv``: member 0's history (a copy; the training-history
        figure draws it).
    out_predictions : path-like
        ``results/predictions/<net>.parquet``: ``z_pred`` (the median), ``z_mode``, ``z_median``,
        ``z_lo68``, ``z_hi68`` of the ensemble mixture truncated at z = 0, every selected galaxy.
    out_pdfs : path-like
        ``results/pdfs/<net>.hdf5``: the calibrated ensemble mixture (N K components) of the test
        galaxies truncated at z = 0 (:func:`photoz.products.train.make_ensemble`), ancillary
        ``width_scale`` the ensemble's.

    Returns
    -------
    dict
        ``size``, ``seeds``, ``width_scale`` (the ensemble's), ``member_width_scales``.

    Raises
    ------
    PhotozDataError
        If the lists differ in length or are empty, a member file is unreadable, or the members
        hold different galaxies (object_id, in order) or no validation galaxy.
    """
    n = len(member_models)
    if n == 0 or {len(member_predictions), len(member_mixtures), len(member_histories)} != {n}:
        raise PhotozDataError(f"deep ensemble: {n} member checkpoints, {len(member_predictions)} "
                              f"prediction tables, {len(member_mixtures)} p(z) files and "
                              f"{len(member_histories)} histories: one of each per member")
    table = read_predictions(member_predictions[0], split=None)[["object_id", "z_true", "split"]]
    raw_members, scales = _raw_members(member_mixtures, table, member_predictions[0])
    w, mu, raw_sig = mixture_of_members(raw_members)
    z = table["z_true"].to_numpy(np.float64)
    split = table["split"].to_numpy()
    val = split == "validation"
    width_scale = fit_width_scale(z[val], w[val], mu[val], raw_sig[val], lower=Z_LOWER)
    mix = Mixtures("ensemble", table["object_id"].to_numpy(np.int64), z, split, w, mu,
                   raw_sig * width_scale, float(width_scale), None, "pdf", None,
                   prediction_metadata(member_predictions[0]).get("input_flux"))
    ckpts = [load_checkpoint(p) for p in member_models]
    seeds = [int(c["seed"]) for c in ckpts]
    ensemble = {"size": n, "seeds": seeds, "width_scale": float(width_scale), "members": ckpts}
    save_checkpoint(out_model, {**ckpts[0], "ensemble": ensemble})
    read_history(member_histories[0])  # checked (not corrupt) before it is copied
    _copy_atomic(member_histories[0], out_history)
    write_predictions(predictions_table(mix), out_predictions,
                      metadata={"input_flux": mix.input_flux})
    write_ensemble(out_pdfs, mixtures_ensemble(mix, split == "test"))
    return {"size": n, "seeds": seeds, "width_scale": float(width_scale),
            "member_width_scales": scales}


def _raw_members(member_mixtures: Sequence[str | Path], table: pd.DataFrame, first_table
                 ) -> tuple[list, list[float]]:
    """Each member's uncalibrated mixtures (w, mu, sig / its width scale) and its width scale.

    Raises
    ------
    PhotozDataError
        If a member holds other galaxies (object_id, in order) than ``table``.
    """
    raw_members, scales = [], []
    for path in member_mixtures:
        ens = read_ensemble(path)
        ids = np.asarray(ens.ancil["object_id"])
        if not np.array_equal(ids, table["object_id"].to_numpy()):
            raise PhotozDataError(f"deep ensemble: {path} holds other galaxies (object_id) than "
                                  f"{first_table}; retrain the members on one table")
        w, mu, sig = ensemble_arrays(ens)
        scale = float(np.asarray(ens.ancil["width_scale"])[0]) if len(ids) else 1.0
        raw_members.append((w, mu, sig / scale))
        scales.append(scale)
    return raw_members, scales


def _copy_atomic(src: str | os.PathLike, dst: str | os.PathLike) -> None:
    with atomic_path(dst, suffix=Path(dst).suffix) as tmp:
        shutil.copyfile(src, tmp)
