"""Training the four networks of Zhou et al. 2022 (MNRAS 512, 4593), Sects. 4-5.

The paper's recipe: mean absolute error loss; Adam, learning rate 1e-4 (Keras epsilon 1e-7);
the learning rate divided by 10 after ``lr_patience`` (5) epochs without validation improvement
(Keras ``ReduceLROnPlateau``, absolute min_delta 1e-4; :class:`PlateauSchedule`); stop after
``early_stopping_patience`` (10) such epochs; keep the best validation epoch (PAPER_SPEC §5).
``config/paper.yaml`` keeps exactly that.

Beside it, options measured to give the image networks an optimiser budget like the MLP's (the
MLP's epoch visits all 50 flux realisations of every galaxy, an image network's epoch each
galaxy once; README "Image networks"): ``passes_per_epoch`` (each pass a fresh flux realisation
and D4 element per galaxy), a cosine learning-rate schedule with linear warm-up
(``lr_schedule: cosine``, ``warmup_epochs``), several flux realisations per stamp visit
sharing one CNN pass (``flux_draws_per_stamp``, the hybrids), decoupled weight decay (AdamW, Loshchilov &
Hutter 2019; ``weight_decay: 0`` is the paper's Adam), an exponential moving average of the
weights for validation and prediction (``ema_decay``; ``torch.optim.swa_utils``), the mean
prediction over the 8 D4 elements (``tta``; final predictions only, not the per-epoch
validation), and bf16 autocast where the hardware has native
bf16 (``precision``). The hybrid-transfer network trains its unfrozen layers on precomputed
pooled CNN features when its CNN part is frozen (exactly the same function, at MLP cost).

Layout: inputs are prepared by :func:`photoz.datasets.prepare_inputs`, batches come from
:mod:`photoz.batches` (one provider per input kind), :func:`fit` is the loop (no I/O; in
:mod:`photoz.fitloop` with the schedules and inference passes), checkpoints and prediction
tables are read and written by :mod:`photoz.checkpoints`, and :func:`train_network` reads,
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
from photoz.batches import FluxBatches, FluxImageBatches, FluxPooledBatches, ImageBatches
from photoz.checkpoints import (  # noqa: F401  (re-exported: photoz.training's public names)
    load_checkpoint,
    save_checkpoint,
)
from photoz.config import network_settings
from photoz.datasets import (
    NetworkInputs,
    flux_arrays,
    flux_realisations,
    load_photometry,
    prepare_inputs,
)
from photoz.errors import PhotozConfigError, PhotozDataError
from photoz.fitloop import (  # noqa: F401  (re-exported: photoz.training's public names)
    ACCURACY_THRESHOLD,
    ADAM_EPS,
    COSINE_FLOOR,
    EVAL_BATCH,
    FitResult,
    PlateauSchedule,
    _accuracy_count,
    _autocast,
    _images_on,
    cosine_factor,
    fit,
    pooled_features,
    predict_tensors,
)
from photoz.models import build_model, count_parameters
from photoz.pdf import (
    calibrate,
    head_for,
    make_ensemble,
    prediction_columns,
    write_ensemble,
)
from photoz.products import (  # noqa: F401 - the column lists, defined once
    HISTORY_COLUMNS,
    NETWORK_PREDICTION_COLUMNS,
    PREDICTION_COLUMNS,
    write_history,
    write_predictions,
)

log = logging.getLogger("photoz.training")


PRECISIONS = ("auto", "fp32", "bf16")


# --------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------
def resolve_device(name: str) -> torch.device:
    """``"auto"`` -> CUDA if available else CPU; ``"cpu"``; ``"cuda"`` (must be available).

    Raises
    ------
    PhotozConfigError
        For an unknown name, or ``"cuda"`` without a CUDA device.
    """
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cpu":
        return torch.device("cpu")
    if name == "cuda":
        if not torch.cuda.is_available():
            raise PhotozConfigError("train.device: 'cuda' requested but no CUDA device is available")
        return torch.device("cuda")
    raise PhotozConfigError(f"train.device: {name!r} is not one of 'auto', 'cpu', 'cuda'")


def native_bf16(device: torch.device) -> bool:
    """Whether ``device`` computes bf16 natively (CUDA with bf16, or a CPU with AVX512-BF16/AMX)."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    cpu = torch.cpu
    return bool(getattr(cpu, "_is_avx512_bf16_supported", lambda: False)()
                or getattr(cpu, "_is_amx_tile_supported", lambda: False)())


def resolve_precision(name: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype for ``train.precision`` on ``device`` (None: plain float32).

    ``"fp32"``: none. ``"bf16"``: bfloat16 autocast (slow but correct where not native).
    ``"auto"``: bfloat16 where :func:`native_bf16`, else float32. The output layer always runs in
    float32 (:func:`photoz.models.mlp.linear_fp32`). :func:`train_network` applies it to the
    convolutional part only: the MLP's 40-wide layers ran 4x slower under bf16 autocast on CPU.

    Raises
    ------
    PhotozConfigError
        For an unknown name (key ``train.precision``).
    """
    if name not in PRECISIONS:
        raise PhotozConfigError(f"train.precision: {name!r} is not one of {list(PRECISIONS)}")
    if name == "bf16" or (name == "auto" and native_bf16(device)):
        return torch.bfloat16
    return None


def seed_streams(seed: int) -> dict[str, np.random.SeedSequence]:
    """Independent seed streams of one config seed: ``init``, ``padding``, ``flux``, ``order``.

    Built with :class:`numpy.random.SeedSequence` ``spawn``, so the weight initialisation, the
    padding noise of small stamps, the flux realisations and the batch order / augmentation
    draws never share random numbers.
    """
    names = ("init", "padding", "flux", "order")
    return dict(zip(names, np.random.SeedSequence(int(seed)).spawn(len(names)), strict=True))


def _int_seed(ss: np.random.SeedSequence) -> int:
    return int(ss.generate_state(1, np.uint32)[0])


def check_train_cfg(cfg: dict, net: str) -> dict:
    """The settings of network ``net`` from a schema-filled ``train`` section, plus ``device``.

    The schema checks every key's type and range (``photoz.config.validate_config``;
    ``photoz.config.default_config()["train"]`` is the section with its defaults); this picks
    ``net``'s values (:func:`photoz.config.network_settings`) and keeps ``device``.

    Returns
    -------
    dict
        The keys of :data:`photoz.config.TRAIN_KEYS` and ``device``; the per-network keys hold
        ``net``'s value (``None`` where the key does not apply to ``net``).

    Raises
    ------
    PhotozConfigError
        For an unknown network or a missing key (a section that was not schema-filled).
    """
    if "device" not in cfg:
        raise PhotozConfigError("train: missing key 'device' (pass the schema-filled section: "
                                "photoz.config.default_config()['train'])")
    return {**network_settings(cfg, net), "device": cfg["device"]}


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


def train_network(net: str, photometry_path: str | Path, shard_paths: Sequence[str | Path],
                  out_model: str | Path, out_history: str | Path, out_predictions: str | Path,
                  train_cfg: dict, instrument, seed: int, threads: int = 1,
                  pretrained: dict | None = None, out_pdfs: str | Path | None = None) -> dict:
    """Train one network, keep its best validation epoch, predict every selected galaxy.

    Parameters
    ----------
    net : str
        ``"mlp"``, ``"cnn"``, ``"hybrid"`` or ``"hybrid_transfer"``.
    photometry_path : path-like
        Photometry table (docs/data_products.md §3); rows with ``selected`` are used, split by
        ``split`` into train / validation / test.
    shard_paths : list of path-like
        Stamp shards (§2), matched by ``object_id``; not opened for the MLP.
    out_model, out_history, out_predictions : path-like
        ``results/models/<net>.pt`` (weights, train config, input scaling),
        ``results/models/<net>_history.csv`` (one row per epoch, :data:`HISTORY_COLUMNS`),
        ``results/predictions/<net>.parquet`` (:data:`photoz.products.NETWORK_PREDICTION_COLUMNS`), written atomically.
    out_pdfs : path-like, optional
        ``results/pdfs/<net>.hdf5``: the calibrated p(z) of the test galaxies as a qp mixmod
        ensemble (:func:`photoz.pdf.make_ensemble`); not written when None.
    train_cfg : dict
        The schema-filled ``train`` config section, or one network's settings from it
        (:func:`photoz.config.network_settings` plus ``device``, what the workflow passes).
    instrument : photoz.instrument.Instrument
        Limiting fluxes (eq. 7), background sigma (eq. 4; padding noise and image scaling) and
        the eq. 6 noise model for augmented flux errors.
    seed : int
        Split by :func:`seed_streams`; on CPU the same seed and threads give the same
        predictions.
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
    cfg = check_train_cfg(train_cfg, net)
    torch.set_num_threads(max(1, int(threads)))
    device = resolve_device(cfg["device"])
    amp = resolve_precision(cfg["precision"], device) if net != "mlp" else None
    streams = seed_streams(seed)
    gen = torch.Generator().manual_seed(_int_seed(streams["order"]))
    log.info("training %s on %s (%s), %d thread(s), seed %d", net, device,
             "bf16 autocast" if amp is not None else "float32", threads, seed)

    model = build_model(net, seed=_int_seed(streams["init"]), output=cfg["output"],
                        n_components=cfg["pdf_components"])
    head = head_for(cfg["output"])
    if net == "hybrid_transfer":
        _load_pretrained(model, pretrained, cfg)
    needs_images = "image" in model.inputs

    # ---- inputs
    df = load_photometry(photometry_path)
    noise_sigma = instrument.background_sigma()
    limiting_flux = instrument.limiting_flux()
    data = prepare_inputs(df, shard_paths, needs_images, limiting_flux, noise_sigma,
                          cfg["image_size"], cfg["image_scaling"],
                          np.random.default_rng(streams["padding"]))
    train_idx = np.flatnonzero(data.split == "train")
    val_idx = np.flatnonzero(data.split == "validation")
    for name, idx in (("train", train_idx), ("validation", val_idx)):
        if idx.size == 0:
            raise PhotozDataError(f"photometry table {photometry_path}: no selected rows with "
                                  f"split == {name!r}")
    pool = _flux_pool(df, data, train_idx, cfg, instrument,
                      np.random.default_rng(streams["flux"])).to(device)
    z_train = torch.from_numpy(data.z[train_idx]).to(device)

    # ---- the model and its batches, on the device
    model.to(device)
    if needs_images:
        model.to(memory_format=torch.channels_last)
    tta = cfg["tta"] and needs_images
    # On CUDA the training set already lives on the device; the validation set goes there once
    # too (1,201 stamps: 35 MB), and the full set for the final prediction is pinned so its
    # batches copy asynchronously.
    val_flux = data.flux[val_idx].to(device)
    val_img = data.images[val_idx].to(device) if needs_images else None
    all_flux, all_img = data.flux, data.images
    if device.type == "cuda":
        all_flux = all_flux.pin_memory()
        all_img = all_img.pin_memory() if all_img is not None else None
    forward = None

    def validate(m):
        # Without the D4 mean: it would cost the CNN and hybrid ~9% more time per epoch, and
        # the best epoch of a cosine schedule is one of the last either way.
        return predict_tensors(m, val_flux, val_img, device, tta=False, autocast=amp)

    bs, passes, aug = cfg["batch_size"], cfg["passes_per_epoch"], cfg["augment_images"]
    if not needs_images:
        provider = FluxBatches(pool, z_train, bs)
    elif net == "hybrid_transfer" and cfg["transfer_freeze"]:
        # The frozen CNN part is a fixed function of the stamp: compute it once per D4 element.
        pooled = pooled_features(model, data.images[train_idx], device, autocast=amp)
        val_pooled = pooled_features(model, val_img, device, autocast=amp)
        provider = FluxPooledBatches(pool, pooled, z_train, bs, passes, aug)

        def forward(m, flux, pooled_batch):
            return m.forward_pooled(flux, pooled_batch)

        @torch.no_grad()
        def validate(m):
            m.eval()
            elements = range(8) if tta else (0,)
            z = sum(m.forward_pooled(val_flux, val_pooled[k]).double() for k in elements)
            return (z / len(elements)).cpu().numpy()
    elif "flux" in model.inputs:
        provider = FluxImageBatches(pool, _images_on(data.images[train_idx], device), z_train,
                                    bs, passes, aug, flux_draws=cfg["flux_draws_per_stamp"])
    else:
        provider = ImageBatches(_images_on(data.images[train_idx], device), z_train, bs, passes,
                                aug)
    log.info("%s: %d parameters (%d trainable); %d train, %d validation galaxies; %d flux "
             "realisation(s); %d samples x %d batches per epoch; schedule %s", net,
             count_parameters(model), count_parameters(model, trainable_only=True),
             len(train_idx), len(val_idx), pool.shape[0], provider.n_per_epoch,
             provider.n_batches, cfg["lr_schedule"])

    result = fit(model, provider, validate, data.z[val_idx], cfg, gen, device, forward=forward,
                 name=net, autocast=None if forward is not None else amp, head=head)
    raw = predict_tensors(model, all_flux, all_img, device, progress=True, tta=tta,
                          autocast=amp)
    w, mu, sig, width_scale = calibrate(raw, cfg["output"], data.z, data.split == "validation")
    predictions = pd.DataFrame({"object_id": data.object_id, "z_true": data.z.astype(np.float64),
                                **prediction_columns(raw, cfg["output"], w, mu, sig),
                                "split": data.split})
    log.info("%s: p(z) width scale %.3f (fitted on the validation split)", net, width_scale)
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    checkpoint = {
        "net": net,
        "state_dict": state,
        "train_cfg": dict(train_cfg),
        "seed": int(seed),
        "input_scaling": data.input_scaling,
        "tta": bool(tta),
        "precision": cfg["precision"],
        "best_epoch": result.best_epoch,
        "best_val_loss": result.best_val_loss,
        "stopped_early": result.stopped_early,
        "output": cfg["output"],
        "pdf_components": int(cfg["pdf_components"]),
        "width_scale": width_scale,
        "photoz_version": photoz.__version__,
        "torch_version": str(torch.__version__),
    }
    save_checkpoint(out_model, checkpoint)
    write_history(result.history, out_history)
    write_predictions(predictions, out_predictions)
    if out_pdfs is not None:
        test = data.split == "test"
        write_ensemble(out_pdfs, make_ensemble(w[test], mu[test], sig[test], data.object_id[test],
                                               data.z[test], width_scale))
    summary = {
        "net": net,
        "epochs_run": len(result.history),
        "best_epoch": result.best_epoch,
        "best_val_loss": result.best_val_loss,
        "best_val_accuracy": result.best_val_accuracy,
        "stopped_early": result.stopped_early,
        "seconds": time.perf_counter() - t_start,
        "samples_per_second": (result.train_samples / result.train_seconds
                               if result.train_seconds > 0 else float("nan")),
        "device": str(device),
        "precision": "bf16" if amp is not None else "fp32",
        "n_train": int(len(train_idx)),
        "n_validation": int(len(val_idx)),
        "n_parameters": count_parameters(model),
        "n_trainable": count_parameters(model, trainable_only=True),
        "seed": int(seed),
        "output": cfg["output"],
        "width_scale": width_scale,
    }
    log.info("%s done: %s", net, summary)
    return summary
