"""Training the four networks of Zhou et al. 2022 (MNRAS 512, 4593), Sects. 4-5.

The paper's recipe: mean absolute error loss; Adam, learning rate 1e-4 (Keras epsilon 1e-7);
the learning rate divided by 10 after ``lr_patience`` (5) epochs without validation improvement
(Keras ``ReduceLROnPlateau``, absolute min_delta 1e-4; :class:`PlateauSchedule`); stop after
``early_stopping_patience`` (10) such epochs; keep the best validation epoch (PAPER_SPEC §5).
``config/paper.yaml`` keeps exactly that.

Beside it, options measured to give the image networks an optimiser budget like the MLP's (the
MLP's epoch visits all 50 flux realisations of every galaxy, an image network's epoch each
galaxy once; docs/science.md "Image-network recipe"): ``passes_per_epoch`` (each pass a fresh flux realisation
and D4 element per galaxy), a cosine learning-rate schedule with linear warm-up
(``lr_schedule: cosine``, ``warmup_epochs``), several flux realisations per stamp visit
sharing one CNN pass (``flux_draws_per_stamp``, the hybrids), decoupled weight decay (AdamW, Loshchilov &
Hutter 2019; ``weight_decay: 0`` is the paper's Adam), an exponential moving average of the
weights for validation and prediction (``ema_decay``; ``torch.optim.swa_utils``), the mean
prediction over the 8 D4 elements (``tta``; final predictions only, not the per-epoch
validation), and bf16 autocast where the hardware has native
bf16 (``precision``). The hybrid-transfer network trains its unfrozen layers on precomputed
pooled CNN features when its CNN part is frozen (exactly the same function, at MLP cost).

Layout: inputs are prepared by :func:`photoz.train.inputs.prepare_inputs`, batches come from
:mod:`photoz.train.batches` (one provider per input kind), :func:`fit` is the loop (no I/O; in
:mod:`photoz.train.loop` with the schedules and inference passes), checkpoints and prediction
tables are read and written by :mod:`photoz.products.train`, and :func:`train_network` reads,
fits, predicts and writes. Every name of those modules is re-exported here. Seeds: one config seed is split by
:func:`seed_streams` into independent streams for weight initialisation, padding noise, flux
realisations and batch order, so changing one use never shifts another.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import torch

import photoz
from photoz.errors import PhotozConfigError, PhotozDataError
from photoz.models.build import build_model, count_parameters
from photoz.products.train import (
    load_checkpoint,
    save_checkpoint,
    write_ensemble,
    write_history,
    write_predictions,
)
from photoz.train.augment import flux_realisations
from photoz.train.batches import FluxBatches, FluxImageBatches, FluxPooledBatches, ImageBatches
from photoz.train.heads import calibrate, head_for
from photoz.train.inference import (
    images_on,
    pooled_features,
    predict_tensors,
)
from photoz.train.inputs import NetworkInputs, flux_arrays, load_photometry, prepare_inputs
from photoz.train.loop import (
    fit,
)
from photoz.train.predict import Mixtures, input_flux, mixtures_ensemble, predictions_table
from photoz.train.settings import (
    check_train_cfg,
    int_seed,
    resolve_device,
    resolve_precision,
    seed_streams,
)

log = logging.getLogger(__name__)




# --------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------












def _load_pretrained(model, pretrained: dict | None, cfg: dict) -> None:
    if not pretrained or "mlp" not in pretrained or "cnn" not in pretrained:
        raise PhotozConfigError(
            "hybrid_transfer needs pretrained={'mlp': <mlp.pt>, 'cnn': <cnn.pt>}"
        )
    mlp_ckpt, cnn_ckpt = load_checkpoint(pretrained["mlp"]), load_checkpoint(pretrained["cnn"])
    for name, ckpt in (("mlp", mlp_ckpt), ("cnn", cnn_ckpt)):
        if ckpt["net"] != name:
            raise PhotozConfigError(
                f"pretrained[{name!r}] = {pretrained[name]} holds a {ckpt['net']!r} network"
            )
    for key in ("image_size", "image_scaling"):
        if cnn_ckpt["input_scaling"][key] != cfg[key]:
            raise PhotozConfigError(
                f"train.{key} = {cfg[key]!r} but the pretrained CNN {pretrained['cnn']} was "
                f"trained with {cnn_ckpt['input_scaling'][key]!r}; retrain it or match the key"
            )
    model.load_pretrained(mlp_ckpt["state_dict"], cnn_ckpt["state_dict"],
                          freeze=cfg["transfer_freeze"])


def _flux_pool(df: pd.DataFrame, data: NetworkInputs, train_idx: np.ndarray, cfg: dict,
               instrument, rng: np.random.Generator) -> torch.Tensor:
    """Flux-feature realisations of the training galaxies, shape (R, n_train, 20)."""
    n_real = cfg["n_flux_realisations"] if cfg["augment_fluxes"] else 0
    if n_real > 1:
        flux, flux_err, npix = flux_arrays(df.iloc[train_idx])
        return torch.from_numpy(flux_realisations(flux, flux_err, npix, instrument, n_real, rng))
    return data.flux[train_idx].unsqueeze(0)  # one "realisation": the measured fluxes


class _Run:
    """One training's settings, device, precision and seed streams (:mod:`photoz.train.settings`)."""

    def __init__(self, net: str, cfg: dict, seed: int, threads: int) -> None:
        self.net, self.cfg, self.seed = net, cfg, int(seed)
        torch.set_num_threads(max(1, int(threads)))
        self.device = resolve_device(cfg["device"])
        # bf16 autocast for the convolutional networks only: the MLP's 40-wide layers ran 4x
        # slower under bf16 autocast on CPU.
        self.amp = resolve_precision(cfg["precision"], self.device) if net != "mlp" else None
        self.streams = seed_streams(seed)
        log.info("training %s on %s (%s), %d thread(s), seed %d", net, self.device,
                 "bf16 autocast" if self.amp is not None else "float32", threads, seed)


def _model(run: _Run, pretrained: dict | None) -> torch.nn.Module:
    """The network, initialised from the ``init`` stream (hybrid-transfer: from ``pretrained``)."""
    model = build_model(run.net, seed=int_seed(run.streams["init"]), output=run.cfg["output"],
                        n_components=run.cfg["pdf_components"])
    if run.net == "hybrid_transfer":
        _load_pretrained(model, pretrained, run.cfg)
    return model


def _summary(run: _Run, model, result, mix: Mixtures, n_train: int, n_val: int,
             t_start: float) -> dict:
    """What :func:`train_network` returns (and logs)."""
    return {
        "net": run.net, "epochs_run": len(result.history), "best_epoch": result.best_epoch,
        "best_val_loss": result.best_val_loss, "best_val_accuracy": result.best_val_accuracy,
        "stopped_early": result.stopped_early, "seconds": time.perf_counter() - t_start,
        "samples_per_second": (result.train_samples / result.train_seconds
                               if result.train_seconds > 0 else float("nan")),
        "device": str(run.device), "precision": "bf16" if run.amp is not None else "fp32",
        "n_train": int(n_train), "n_validation": int(n_val),
        "n_parameters": count_parameters(model),
        "n_trainable": count_parameters(model, trainable_only=True), "seed": run.seed,
        "output": run.cfg["output"], "width_scale": mix.width_scale,
    }


def _split_rows(data: NetworkInputs, photometry_path) -> tuple[np.ndarray, np.ndarray]:
    """Row indices of the training and validation galaxies; neither may be empty."""
    train_idx = np.flatnonzero(data.split == "train")
    val_idx = np.flatnonzero(data.split == "validation")
    for name, idx in (("train", train_idx), ("validation", val_idx)):
        if idx.size == 0:
            raise PhotozDataError(f"photometry table {photometry_path}: no selected rows with "
                                  f"split == {name!r}")
    return train_idx, val_idx


def _provider(run: _Run, model, data: NetworkInputs, pool: torch.Tensor,
              train_idx: np.ndarray, val_idx: np.ndarray):
    """The batch provider of this network's input kind (:mod:`photoz.train.batches`).

    On CUDA the training set lives on the device, and the validation set goes there once too
    (1,201 stamps: 35 MB).
    """
    provider = _batches(run, model, data, pool, train_idx, val_idx)
    log.info("%s: %d parameters (%d trainable); %d train, %d validation galaxies; %d flux "
             "realisation(s); %d samples x %d batches per epoch; schedule %s", run.net,
             count_parameters(model), count_parameters(model, trainable_only=True),
             len(train_idx), len(val_idx), pool.shape[0], provider.n_per_epoch,
             provider.n_batches, run.cfg["lr_schedule"])
    return provider


def _batches(run: _Run, model, data: NetworkInputs, pool: torch.Tensor, train_idx: np.ndarray,
             val_idx: np.ndarray):
    """:func:`_provider` without the log line."""
    cfg, device, amp = run.cfg, run.device, run.amp
    bs, passes, aug = cfg["batch_size"], cfg["passes_per_epoch"], cfg["augment_images"]
    z_train = torch.from_numpy(data.z[train_idx]).to(device)
    val_flux = data.flux[val_idx].to(device)
    if "image" not in model.inputs:
        return FluxBatches(pool, z_train, bs, val_flux=val_flux)
    val_img = data.images[val_idx].to(device)
    if run.net == "hybrid_transfer" and cfg["transfer_freeze"]:
        # The frozen CNN part is a fixed function of the stamp: compute it once per D4 element.
        pooled = pooled_features(model, data.images[train_idx], device, autocast=amp)
        val_pooled = pooled_features(model, val_img, device, autocast=amp)
        return FluxPooledBatches(pool, pooled, z_train, bs, passes, aug, val_flux=val_flux,
                                 val_pooled=val_pooled, tta=cfg["tta"])
    images = images_on(data.images[train_idx], device)
    if "flux" in model.inputs:
        return FluxImageBatches(pool, images, z_train, bs, passes, aug,
                                flux_draws=cfg["flux_draws_per_stamp"], val_flux=val_flux,
                                val_images=val_img, autocast=amp)
    return ImageBatches(images, z_train, bs, passes, aug, val_flux=val_flux, val_images=val_img,
                        autocast=amp)


def _predict_every_galaxy(run: _Run, model, data: NetworkInputs) -> Mixtures:
    """The trained network's calibrated p(z) of every selected galaxy (one inference pass).

    The width scale is fitted on the validation split (:func:`photoz.train.heads.calibrate`). On
    CUDA the inputs are pinned so that their batches copy asynchronously.
    """
    tta = run.cfg["tta"] and "image" in model.inputs
    all_flux, all_img = data.flux, data.images
    if run.device.type == "cuda":
        all_flux = all_flux.pin_memory()
        all_img = all_img.pin_memory() if all_img is not None else None
    raw = predict_tensors(model, all_flux, all_img, run.device, progress=True, tta=tta,
                          autocast=run.amp)
    output = run.cfg["output"]
    w, mu, sig, width_scale = calibrate(raw, output, data.z, data.split == "validation")
    log.info("%s: p(z) width scale %.3f (fitted on the validation split)", run.net, width_scale)
    return Mixtures(run.net, data.object_id, data.z.astype(np.float64), data.split, w, mu, sig,
                    width_scale, raw, output, run.device,
                    input_flux(model.inputs, data.input_scaling["flux_type"]))


def _checkpoint(run: _Run, model, train_cfg: dict, data: NetworkInputs, result, mix: Mixtures
                ) -> dict:
    """What ``results/models/<net>.pt`` holds (:func:`photoz.products.train.save_checkpoint`)."""
    return {
        "net": run.net,
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "train_cfg": dict(train_cfg),
        "seed": run.seed,
        "input_scaling": data.input_scaling,
        "tta": bool(run.cfg["tta"] and "image" in model.inputs),
        "precision": run.cfg["precision"],
        "best_epoch": result.best_epoch,
        "best_val_loss": result.best_val_loss,
        "stopped_early": result.stopped_early,
        "output": run.cfg["output"],
        "pdf_components": int(run.cfg["pdf_components"]),
        "width_scale": mix.width_scale,
        "photoz_version": photoz.__version__,
        "torch_version": str(torch.__version__),
    }


def train_network(net: str, photometry_path: str | Path, shard_paths: Sequence[str | Path],
                  out_model: str | Path, out_history: str | Path, out_predictions: str | Path,
                  train_cfg: dict, instrument, seed: int, threads: int = 1,
                  pretrained: dict | None = None, out_pdfs: str | Path | None = None,
                  out_mixtures: str | Path | None = None) -> dict:
    """Train one network, keep its best validation epoch, predict every selected galaxy.

    Parameters
    ----------
    net : str
        ``"mlp"``, ``"cnn"``, ``"hybrid"`` or ``"hybrid_transfer"``.
    photometry_path : path-like
        Photometry table (docs/outputs.md §3); rows with ``selected`` are used, split by
        ``split`` into train / validation / test.
    shard_paths : list of path-like
        Stamp shards (§2), matched by ``object_id``; not opened for the MLP.
    out_model, out_history, out_predictions : path-like
        ``results/models/<net>.pt``, ``<net>_history.csv``, ``results/predictions/<net>.parquet``
        (:mod:`photoz.products.train`), written atomically.
    out_pdfs, out_mixtures : path-like, optional
        The calibrated p(z) as a qp file: of the test galaxies, truncated at z = 0
        (``results/pdfs/<net>.hdf5``, :func:`photoz.products.train.make_ensemble`), and the
        untruncated mixtures of every selected galaxy (a deep-ensemble member's, a ``qp.mixmod``
        that :mod:`photoz.train.ensemble` combines).
    train_cfg : dict
        The schema-filled ``train`` config section, or one network's settings from it
        (:func:`photoz.train.settings.network_settings` plus ``device``, what the workflow passes).
    instrument : photoz.instrument.Instrument
        Limiting fluxes (eq. 7), background sigma (eq. 4; padding noise and image scaling) and
        the eq. 6 noise model for augmented flux errors.
    seed : int
        Split by :func:`seed_streams`; on CPU the same seed and threads give the same bits.
    threads : int
        ``torch.set_num_threads``.
    pretrained : dict, optional
        ``{"mlp": path, "cnn": path}`` of trained checkpoints; required for ``hybrid_transfer``.
        Either may have been trained with either ``train.output``: only their bodies are loaded.

    Returns
    -------
    dict
        ``net, epochs_run, best_epoch, best_val_loss, best_val_accuracy, stopped_early, seconds,
        samples_per_second, device, precision, n_train, n_validation, n_parameters,
        n_trainable, seed, output, width_scale``.

    Raises
    ------
    PhotozConfigError
        For a bad ``train`` key, or a missing/mismatched pretrained checkpoint.
    PhotozDataError
        For unusable photometry or stamps, or an empty train or validation split.
    """
    t_start = time.perf_counter()
    run = _Run(net, check_train_cfg(train_cfg, net), seed, threads)
    model = _model(run, pretrained)
    df = load_photometry(photometry_path)
    data = prepare_inputs(df, shard_paths, "image" in model.inputs, instrument.limiting_flux(),
                          instrument.background_sigma(), run.cfg["image_size"],
                          run.cfg["image_scaling"], np.random.default_rng(run.streams["padding"]))
    train_idx, val_idx = _split_rows(data, photometry_path)
    pool = _flux_pool(df, data, train_idx, run.cfg, instrument,
                      np.random.default_rng(run.streams["flux"])).to(run.device)
    model.to(run.device)
    if "image" in model.inputs:
        model.to(memory_format=torch.channels_last)
    provider = _provider(run, model, data, pool, train_idx, val_idx)
    gen = torch.Generator().manual_seed(int_seed(run.streams["order"]))
    result = fit(model, provider, data.z[val_idx], run.cfg, gen, run.device, name=net,
                 head=head_for(run.cfg["output"]))
    mix = _predict_every_galaxy(run, model, data)
    save_checkpoint(out_model, _checkpoint(run, model, train_cfg, data, result, mix))
    write_history(result.history, out_history)
    write_predictions(predictions_table(mix), out_predictions, {"input_flux": mix.input_flux})
    if out_pdfs is not None:
        write_ensemble(out_pdfs, mixtures_ensemble(mix, mix.split == "test"))
    if out_mixtures is not None:
        write_ensemble(out_mixtures, mixtures_ensemble(mix, truncated=False))
    summary = _summary(run, model, result, mix, len(train_idx), len(val_idx), t_start)
    log.info("%s done: %s", net, summary)
    return summary
