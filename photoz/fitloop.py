"""The training loop, its schedules and inference passes (split out of :mod:`photoz.training`).

No I/O here: :func:`fit` trains a model on a batch provider (:mod:`photoz.batches`) and keeps
its best validation epoch; :class:`PlateauSchedule` and :func:`cosine_factor` are the learning-
rate schedules; :func:`predict_tensors` and :func:`pooled_features` are the no-gradient passes.
:mod:`photoz.training` re-exports every name, so ``from photoz.training import fit`` still works.
"""

from __future__ import annotations

import copy
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from photoz.datasets import D4
from photoz.errors import PhotozDataError
from photoz.logs import progress as tqdm
from photoz.pdf import PointHead

log = logging.getLogger("photoz.training")

#: Validation "accuracy" threshold on |dz|/(1+z) (paper Sect. 5; the outlier cut).
ACCURACY_THRESHOLD = 0.15
#: Keras Adam epsilon (PAPER_SPEC §4).
ADAM_EPS = 1e-7
#: Batch size for evaluation passes (no gradients; any size gives the same numbers).
EVAL_BATCH = 1024
#: Floor of the cosine schedule, as a fraction of the initial learning rate.
COSINE_FLOOR = 1e-3


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
        Or (n, 3 K) for a p(z) head (:mod:`photoz.pdf`); with ``tta`` its raw outputs are
        averaged over the D4 elements like the point photo-z.
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
        total = 0
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
    return torch.cat(out).numpy() if out else np.zeros(0)  # a p(z) head: (0,) too


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
        5 in the paper (0 disables the reduction).
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
        autocast: torch.dtype | None = None, head=None) -> FitResult:
    """Train ``model`` on ``provider``'s batches; keep the best validation epoch. No I/O.

    Parameters
    ----------
    model : nn.Module
        On ``device``; parameters with ``requires_grad`` are trained.
    provider : photoz.batches provider
        ``batches(gen)`` yields ``(args, z)``; ``n_per_epoch`` and ``n_batches``.
    validate : callable
        ``validate(net) -> ndarray (n_val,)`` photo-z of the validation galaxies with the
        network ``net`` (the model, or its weight average); (n_val, 3 K) mixture outputs for
        a p(z) head.
    z_val : ndarray, shape (n_val,)
        True redshifts of the validation galaxies.
    cfg : dict
        From :func:`check_train_cfg`: ``batch_size``, ``max_epochs``, ``learning_rate``,
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
    head : photoz.pdf.PointHead or photoz.pdf.PdfHead, optional
        ``loss(pred, z)`` (training and validation loss) and ``point(pred)`` (photo-z for the
        accuracy); default the paper's MAE point regression.

    Returns
    -------
    FitResult

    Raises
    ------
    PhotozDataError
        If the validation loss becomes non-finite.
    """
    forward = forward or (lambda net, *args: net(*args))
    head = head or PointHead()
    trainable = [p for p in model.parameters() if p.requires_grad]
    # foreach: one multi-tensor op per Adam step for all parameters instead of ~10 ops per
    # parameter tensor (80 in the CNN); the same update bit for bit (issue 19: 2.2 -> 1.3 ms per
    # CNN step on one CPU thread). The fused kernel (0.4 ms) rounds differently, so not used.
    optimizer = torch.optim.AdamW(trainable, lr=float(cfg["learning_rate"]), eps=ADAM_EPS,
                                  weight_decay=float(cfg["weight_decay"]), foreach=True)
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
            loss = head.loss(pred, z)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            if step_lr is not None:
                step_lr.step()
            if ema is not None:
                ema.update_parameters(model)
            with torch.no_grad():
                loss_sum += loss.detach().double() * z.shape[0]
                correct += _accuracy_count(head.point(pred.detach()), z)
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
        val_loss = float(head.loss(val_pred, z_val_t))
        val_acc = float(_accuracy_count(head.point(val_pred), z_val_t)) / len(z_val_t)
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
