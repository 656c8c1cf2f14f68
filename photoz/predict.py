"""Apply a trained network to a photometry table and its stamps (``python -m photoz predict``).

The inputs are prepared exactly as in training (:func:`photoz.datasets.prepare_inputs`), with the
limiting fluxes (eq. 7), background sigma (eq. 4), image size and intensity scaling stored in
the checkpoint, so a prediction never depends on the config at hand.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from photoz.datasets import load_photometry, prepare_inputs
from photoz.errors import PhotozDataError
from photoz.models import build_model
from photoz.pdf import calibrate, prediction_columns
from photoz.products import write_predictions
from photoz.training import (
    load_checkpoint,
    predict_tensors,
    resolve_device,
    resolve_precision,
    seed_streams,
)

log = logging.getLogger("photoz.predict")


def predict(model_path: str | Path, photometry_path: str | Path,
            shard_paths: Sequence[str | Path], out_path: str | Path | None,
            threads: int = 1, device: str = "auto") -> pd.DataFrame:
    """Photo-z of every selected galaxy of a photometry table with a trained network.

    Parameters
    ----------
    model_path : path-like
        ``results/models/<net>.pt`` from :func:`photoz.training.train_network`.
    photometry_path : path-like
        Photometry table (docs/data_products.md §3). Rows with ``selected == False`` are
        skipped (all rows are used if there is no ``selected`` column); ``redshift`` and
        ``split`` are optional (NaN and ``""`` when absent).
    shard_paths : list of path-like
        Stamp shards (§2) holding every used ``object_id``; ignored by the MLP.
    out_path : path-like or None
        Parquet file for ``object_id, z_true, z_pred, z_mode, z_median, z_lo68, z_hi68, split``
        (written atomically; the p(z) columns use the checkpoint's validation-fitted width
        scale, :mod:`photoz.pdf`); None to skip writing.
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
        names, an unreadable table or shard, or a galaxy without a stamp. An empty selection is
        not an error: it logs a warning and gives an empty table.
    """
    torch.set_num_threads(max(1, int(threads)))
    dev = resolve_device(device)
    ckpt = load_checkpoint(model_path)
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
    df = load_photometry(photometry_path, require_truth=False)
    if len(df) == 0:
        log.warning("photometry table %s has no selected galaxy (no rows, or selected is false "
                    "everywhere): the predictions %s will be empty", photometry_path,
                    out_path if out_path is not None else "returned")
    # Padding noise is drawn from the checkpoint seed's padding stream, as in training.
    rng = np.random.default_rng(seed_streams(ckpt.get("seed", 0))["padding"])
    data = prepare_inputs(df, shard_paths, "image" in model.inputs,
                          np.asarray(scaling["limiting_flux"]), np.asarray(scaling["noise_sigma"]),
                          scaling["image_size"], scaling["image_scaling"], rng)
    if "image" in model.inputs:
        model.to(memory_format=torch.channels_last)
    amp = resolve_precision(ckpt.get("precision", "fp32"), dev)
    raw = predict_tensors(model, data.flux, data.images, dev, progress=True,
                          tta=bool(ckpt.get("tta", False)), autocast=amp)
    if len(data.z) == 0:
        raw = raw.reshape((0,) if output == "point" else (0, 3 * int(ckpt["pdf_components"])))
    w, mu, sig, _ = calibrate(raw, output, data.z, None,
                              width_scale=float(ckpt.get("width_scale", 1.0)))
    frame = pd.DataFrame({"object_id": data.object_id, "z_true": data.z.astype(np.float64),
                          **prediction_columns(raw, output, w, mu, sig), "split": data.split})
    if out_path is not None:
        write_predictions(frame, out_path)
    log.info("predicted %d galaxies with %s (%s) on %s", len(frame), model_path, ckpt["net"], dev)
    return frame
