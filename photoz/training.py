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
:mod:`photoz.batches` (one provider per input kind), :func:`fit` is the loop (no I/O), and
:func:`train_network` reads, fits, predicts and writes. Seeds: one config seed is split by
:func:`seed_streams` into independent streams for weight initialisation, padding noise, flux
realisations and batch order, so changing one use never shifts another.
"""

from __future__ import annotations

import copy
import io
import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

import photoz
from photoz.batches import FluxBatches, FluxImageBatches, FluxPooledBatches, ImageBatches
from photoz.config import network_settings
from photoz.datasets import (
    D4,
    NetworkInputs,
    flux_arrays,
    flux_realisations,
    load_photometry,
    prepare_inputs,
)
from photoz.errors import PhotozConfigError, PhotozDataError
from photoz.io import atomic_path
from photoz.logs import progress as tqdm
from photoz.models import build_model, count_parameters
from photoz.products import (  # noqa: F401 - the column lists, defined once
    HISTORY_COLUMNS,
    PREDICTION_COLUMNS,
    write_history,
    write_predictions,
)

log = logging.getLogger("photoz.training")

#: Validation "accuracy" threshold on |dz|/(1+z) (paper Sect. 5; the outlier cut).
ACCURACY_THRESHOLD = 0.15
#: Keras Adam epsilon (PAPER_SPEC §4).
ADAM_EPS = 1e-7
#: Batch size for evaluation passes (no gradients; any size gives the same numbers).
EVAL_BATCH = 1024
#: Floor of the cosine schedule, as a fraction of the initial learning rate.
COSINE_FLOOR = 1e-3

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


def save_checkpoint(path: str | Path, checkpoint: dict) -> None:
    """Write a checkpoint dict with ``torch.save``, atomically, with a checksum of its content.

    The key ``"sha256"`` holds :func:`photoz.io.content_digest` of every other entry (weights,
    input scaling, metadata), which :func:`load_checkpoint` recomputes.
    """
    from photoz.io import content_digest

    body = {k: v for k, v in checkpoint.items() if k != "sha256"}
    buffer = io.BytesIO()
    torch.save({**body, "sha256": content_digest(body)}, buffer)
    with atomic_path(path) as tmp:
        tmp.write_bytes(buffer.getvalue())


def load_checkpoint(path: str | Path) -> dict:
    """Read a checkpoint written by :func:`train_network` and check its checksum.

    Raises
    ------
    PhotozDataError
        Naming the file: it is missing, unreadable or not a photoz checkpoint, it has no
        checksum (written before photoz kept one), or its content does not match the checksum
        (corrupt: e.g. bytes zeroed inside the weights, which ``torch.load`` does not notice).
    """
    from photoz.io import content_digest

    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise PhotozDataError(f"cannot read model checkpoint {path}: {exc}") from exc
    for key in ("net", "state_dict", "input_scaling"):
        if not isinstance(ckpt, dict) or key not in ckpt:
            raise PhotozDataError(f"model checkpoint {path}: no key {key!r}; not a photoz model")
    stored = ckpt.pop("sha256", None)
    if stored is None:
        raise PhotozDataError(f"model checkpoint {path}: no checksum (written by an older "
                              "photoz); retrain it (snakemake --forcerun train_network)")
    actual = content_digest(ckpt)
    if actual != stored:
        raise PhotozDataError(f"model checkpoint {path}: content does not match its checksum "
                              f"(sha256 {actual[:12]}... vs stored {str(stored)[:12]}...): the "
                              "file is corrupt; retrain it (snakemake --forcerun train_network) "
                              "or restore a good copy")
    return ckpt


# --------------------------------------------------------------------------------------------
# Prediction
# --------------------------------------------------------------------------------------------
def _autocast(device: torch.device, dtype: torch.dtype | None):
    return torch.autocast(device.type, dtype=dtype or torch.float32, enabled=dtype is not None)


def _images_on(x: torch.Tensor, device: torch.device) -> torch.Tensor:
    return x.to(device, non_blocking=True).contiguous(memory_format=torch.channels_last)


@torch.no_grad()
def predict_tensors(model: torch.nn.Module, flux: torch.Tensor, images: torch.Tensor | None,
                    device: torch.device, batch_size: int = EVAL_BATCH,
                    progress: bool = False, tta: bool = False,
                    autocast: torch.dtype | None = None) -> np.ndarray:
    """Photo-z of prepared inputs in inference mode.

    Parameters
    ----------
    model : nn.Module
        One of :func:`photoz.models.build_model`'s networks, on ``device``.
    flux : Tensor, shape (n, 20)
    images : Tensor, shape (n, 7, S, S), or None
    device : torch.device
    batch_size : int
    progress : bool
        Show a progress bar.
    tta : bool
        Average the predictions over the 8 D4 elements of each stamp (test-time augmentation;
        the stamps' statistics are D4-invariant, paper Sect. 3). Ignored without images.
    autocast : torch.dtype, optional
        Autocast dtype (:func:`resolve_precision`).

    Returns
    -------
    ndarray, shape (n,), float64
    """
    model.eval()
    out = []
    n = flux.shape[0]
    uses_image = "image" in model.inputs
    elements = range(8) if (tta and uses_image) else (0,)
    d4 = D4(images.shape[-1], device) if len(elements) > 1 else None
    for start in tqdm(range(0, n, batch_size), desc="predict", unit="batch", disable=not progress):
        sl = slice(start, start + batch_size)
        f = flux[sl].to(device, non_blocking=True)
        x = _images_on(images[sl], device) if uses_image else None
        total = torch.zeros(f.shape[0], device=device, dtype=torch.float64)
        for k in elements:
            args = []
            if "flux" in model.inputs:
                args.append(f)
            if uses_image:
                xk = x if k == 0 else d4(x, torch.full((x.shape[0],), k, device=device))
                args.append(xk.contiguous(memory_format=torch.channels_last))
            with _autocast(device, autocast):
                total += model(*args).double()
        out.append((total / len(elements)).cpu())
    return torch.cat(out).numpy() if out else np.zeros(0)


@torch.no_grad()
def pooled_features(model: torch.nn.Module, images: torch.Tensor, device: torch.device,
                    batch_size: int = EVAL_BATCH, autocast: torch.dtype | None = None,
                    progress: bool = False) -> torch.Tensor:
    """The frozen CNN part's pooled output for every D4 element of every stamp.

    Parameters
    ----------
    model : HybridTransfer
        Frozen (:meth:`photoz.models.hybrid.HybridTransfer.freeze`); its ``cnn`` runs in
        inference mode, so the features are a fixed function of the stamp.
    images : Tensor, shape (n, 7, S, S)

    Returns
    -------
    Tensor, shape (8, n, 72), float32, on ``device``
    """
    cnn = model.cnn
    cnn.eval()
    d4 = D4(images.shape[-1], device)
    out = torch.empty((8, images.shape[0], 72), device=device)
    for start in tqdm(range(0, images.shape[0], batch_size), desc="pooled features",
                      unit="batch", disable=not progress):
        sl = slice(start, start + batch_size)
        x = _images_on(images[sl], device)
        for k in range(8):
            xk = d4(x, torch.full((x.shape[0],), k, device=device))
            with _autocast(device, autocast):
                out[k, sl] = cnn.pooled(xk.contiguous(memory_format=torch.channels_last)).float()
    return out


# --------------------------------------------------------------------------------------------
# Schedules
# --------------------------------------------------------------------------------------------
class PlateauSchedule:
    """Keras's ``ReduceLROnPlateau`` and ``EarlyStopping`` on the validation loss (paper Sect. 5).

    Our own ~30 lines because PyTorch's ``ReduceLROnPlateau`` counts differently from the paper's
    Keras: it reduces after ``patience + 1`` bad epochs, Keras after ``patience``. Here, as in
    Keras: the learning rate is multiplied by ``factor`` once ``lr_patience`` consecutive epochs
    failed to beat the best loss by more than ``lr_min_delta`` (then the count restarts);
    training stops once ``stop_patience`` consecutive epochs did not beat the best loss at all.

    Parameters
    ----------
    optimizer : torch.optim.Optimizer
    factor : float
        0.1 in the paper.
    lr_patience : int
        5 in the paper; 0 disables the reduction, which :func:`fit` passes for the cosine
        schedule (the config key ``train.lr_patience`` is >= 1: to train without the plateau
        drop, set ``train.lr_schedule`` to cosine).
    stop_patience : int
        10 in the paper (0 disables early stopping).
    lr_min_delta : float
        Keras default 1e-4.
    """

    def __init__(self, optimizer: torch.optim.Optimizer, factor: float, lr_patience: int,
                 stop_patience: int, lr_min_delta: float = 1e-4) -> None:
        self.optimizer = optimizer
        self.factor, self.lr_patience, self.stop_patience = factor, lr_patience, stop_patience
        self.lr_min_delta = lr_min_delta
        self.best = np.inf
        self.lr_best = np.inf
        self.wait = 0
        self.lr_wait = 0

    def step(self, val_loss: float) -> tuple[bool, bool]:
        """Record one epoch's validation loss.

        Returns
        -------
        improved : bool
            The loss is the best so far (keep this epoch's weights).
        stop : bool
            Early stopping triggered.
        """
        improved = val_loss < self.best
        if improved:
            self.best, self.wait = val_loss, 0
        else:
            self.wait += 1
        if val_loss < self.lr_best - self.lr_min_delta:
            self.lr_best, self.lr_wait = val_loss, 0
        else:
            self.lr_wait += 1
            if self.lr_patience > 0 and self.lr_wait >= self.lr_patience:
                for group in self.optimizer.param_groups:
                    group["lr"] *= self.factor
                self.lr_wait = 0
        stop = self.stop_patience > 0 and self.wait >= self.stop_patience
        return improved, stop


def cosine_factor(step: int, total_steps: int, warmup_steps: int,
                  floor: float = COSINE_FLOOR) -> float:
    """Learning-rate factor of a linear warm-up then cosine decay (Loshchilov & Hutter 2017).

    ``(step + 1) / warmup_steps`` during the warm-up, then
    ``floor + (1 - floor) * (1 + cos(pi * t)) / 2`` with ``t`` going from 0 to 1 over the
    remaining steps.

    Parameters
    ----------
    step : int
        Optimiser step, from 0.
    total_steps : int
        Steps of the whole schedule (``max_epochs`` x batches per epoch).
    warmup_steps : int
    floor : float
        Final factor.

    Returns
    -------
    float
    """
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    t = min(1.0, (step - warmup_steps) / max(1, total_steps - warmup_steps))
    return floor + (1.0 - floor) * 0.5 * (1.0 + math.cos(math.pi * t))


def _accuracy_count(pred: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    return ((pred - z).abs() / (1 + z) < ACCURACY_THRESHOLD).sum()


# --------------------------------------------------------------------------------------------
# The loop
# --------------------------------------------------------------------------------------------
@dataclass
class FitResult:
    """What :func:`fit` returns.

    Attributes
    ----------
    model : nn.Module
        The network with the best validation epoch's weights (the EMA weights if used).
    history : list of list
        One row of :data:`HISTORY_COLUMNS` per epoch.
    best_epoch : int
    best_val_loss, best_val_accuracy : float
    stopped_early : bool
        True if early stopping ended training before ``max_epochs``.
    train_seconds : float
        Time in training steps (validation excluded).
    train_samples : int
    """

    model: torch.nn.Module
    history: list = field(default_factory=list)
    best_epoch: int = 0
    best_val_loss: float = float("inf")
    best_val_accuracy: float = float("nan")
    stopped_early: bool = False
    train_seconds: float = 0.0
    train_samples: int = 0


def fit(model: torch.nn.Module, provider, validate: Callable[[torch.nn.Module], np.ndarray],
        z_val: np.ndarray, cfg: dict, gen: torch.Generator, device: torch.device,
        forward: Callable[..., torch.Tensor] | None = None, name: str = "network",
        autocast: torch.dtype | None = None) -> FitResult:
    """Train ``model`` on ``provider``'s batches; keep the best validation epoch. No I/O.

    Parameters
    ----------
    model : nn.Module
        On ``device``; parameters with ``requires_grad`` are trained.
    provider : photoz.batches provider
        ``batches(gen)`` yields ``(args, z)``; ``n_per_epoch`` and ``n_batches``.
    validate : callable
        ``validate(net) -> ndarray (n_val,)`` photo-z of the validation galaxies with the
        network ``net`` (the model, or its weight average).
    z_val : ndarray, shape (n_val,)
        True redshifts of the validation galaxies.
    cfg : dict
        One network's settings (:func:`check_train_cfg`): ``batch_size``, ``max_epochs``, ``learning_rate``,
        ``lr_factor``, ``lr_patience``, ``early_stopping_patience``, ``lr_schedule``,
        ``warmup_epochs``, ``weight_decay``, ``ema_decay``.
    gen : torch.Generator
        Batch order and augmentation draws.
    device : torch.device
    forward : callable, optional
        ``forward(net, *args)`` -> photo-z; default ``net(*args)``.
    name : str
        For the log.
    autocast : torch.dtype, optional
        Autocast dtype of the forward pass.

    Returns
    -------
    FitResult

    Raises
    ------
    PhotozDataError
        If the validation loss becomes non-finite.
    """
    forward = forward or (lambda net, *args: net(*args))
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=float(cfg["learning_rate"]), eps=ADAM_EPS,
                                  weight_decay=float(cfg["weight_decay"]))
    plateau = cfg["lr_schedule"] == "plateau"
    schedule = PlateauSchedule(optimizer, float(cfg["lr_factor"]),
                               int(cfg["lr_patience"]) if plateau else 0,
                               int(cfg["early_stopping_patience"]))
    n_batches = provider.n_batches
    total_steps = cfg["max_epochs"] * n_batches
    warmup_steps = int(round(float(cfg["warmup_epochs"]) * n_batches))
    step_lr = None
    if not plateau:
        step_lr = torch.optim.lr_scheduler.LambdaLR(
            optimizer, lambda s: cosine_factor(s, total_steps, warmup_steps))
    ema = None
    if cfg["ema_decay"] > 0:
        ema = AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(float(cfg["ema_decay"])),
                            use_buffers=True)
    z_val_t = torch.as_tensor(np.asarray(z_val, dtype=np.float32))
    result = FitResult(model=model)
    best_state = None
    for epoch in range(1, cfg["max_epochs"] + 1):
        t0 = time.perf_counter()
        lr = optimizer.param_groups[0]["lr"]
        model.train()
        loss_sum = torch.zeros((), device=device, dtype=torch.float64)
        correct = torch.zeros((), device=device, dtype=torch.long)
        n_seen = 0
        bar = tqdm(total=n_batches, desc=f"{name} epoch {epoch}/{cfg['max_epochs']}",
                   unit="batch", mininterval=1.0, leave=False)
        for args, z in provider.batches(gen):
            with _autocast(device, autocast):
                pred = forward(model, *args)
            loss = (pred.float() - z).abs().mean()
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            if step_lr is not None:
                step_lr.step()
            if ema is not None:
                ema.update_parameters(model)
            with torch.no_grad():
                loss_sum += loss.detach().double() * z.shape[0]
                correct += _accuracy_count(pred.detach().float(), z)
            n_seen += z.shape[0]
            bar.update(1)
        bar.close()
        epoch_seconds = time.perf_counter() - t0
        result.train_seconds += epoch_seconds
        result.train_samples += provider.n_per_epoch
        train_loss = float(loss_sum) / n_seen
        train_acc = float(correct) / n_seen

        net = ema.module if ema is not None else model
        val_pred = torch.from_numpy(validate(net)).float()
        val_loss = float((val_pred - z_val_t).abs().mean())
        val_acc = float(_accuracy_count(val_pred, z_val_t)) / len(z_val_t)
        seconds = time.perf_counter() - t0
        result.history.append([epoch, train_loss, val_loss, train_acc, val_acc, lr, seconds])
        log.info("%s epoch %d/%d: train loss %.4f (acc %.3f), val loss %.4f (acc %.3f), "
                 "lr %.2e, %.1f s, %.0f samples/s", name, epoch, cfg["max_epochs"], train_loss,
                 train_acc, val_loss, val_acc, lr, seconds, provider.n_per_epoch / epoch_seconds)
        if not np.isfinite(val_loss):
            raise PhotozDataError(f"{name}: validation loss is {val_loss} at epoch {epoch}; "
                                  "check the inputs for extreme values")
        improved, stop = schedule.step(val_loss)
        if improved:
            result.best_epoch, result.best_val_loss, result.best_val_accuracy = (
                epoch, val_loss, val_acc)
            best_state = copy.deepcopy(net.state_dict())
        if stop:
            result.stopped_early = True
            log.info("%s: early stop at epoch %d (best %d)", name, epoch, result.best_epoch)
            break
    model.load_state_dict(best_state)
    return result


# --------------------------------------------------------------------------------------------
# Training with I/O
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


def train_network(net: str, photometry_path: str | Path, shard_paths: Sequence[str | Path],
                  out_model: str | Path, out_history: str | Path, out_predictions: str | Path,
                  train_cfg: dict, instrument, seed: int, threads: int = 1,
                  pretrained: dict | None = None) -> dict:
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
        ``results/predictions/<net>.parquet`` (:data:`PREDICTION_COLUMNS`), written atomically.
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

    Returns
    -------
    dict
        ``net, epochs_run, best_epoch, best_val_loss, best_val_accuracy, stopped_early, seconds,
        samples_per_second, device, precision, n_train, n_validation, n_parameters,
        n_trainable, seed``.

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

    model = build_model(net, seed=_int_seed(streams["init"]))
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
                 name=net, autocast=None if forward is not None else amp)
    z_pred = predict_tensors(model, all_flux, all_img, device, progress=True, tta=tta,
                             autocast=amp)
    predictions = pd.DataFrame({"object_id": data.object_id, "z_true": data.z.astype(np.float64),
                                "z_pred": z_pred, "split": data.split})
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
        "photoz_version": photoz.__version__,
        "torch_version": str(torch.__version__),
    }
    save_checkpoint(out_model, checkpoint)
    write_history(result.history, out_history)
    write_predictions(predictions, out_predictions)
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
    }
    log.info("%s done: %s", net, summary)
    return summary
