"""The training loop, its schedules and inference passes (split out of :mod:`photoz.train.network`).

No I/O here: :func:`fit` trains a model on a batch provider (:mod:`photoz.train.batches`) and keeps
its best validation epoch; :class:`PlateauSchedule` and :func:`cosine_factor` are the learning-
rate schedules; :func:`predict_tensors` and :func:`pooled_features` are the no-gradient passes.
:mod:`photoz.train.network` re-exports every name, so ``from photoz.train.network import fit`` still works.
"""

from __future__ import annotations

import copy
import logging
import math
import time
from dataclasses import dataclass, field

import numpy as np
import torch
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn
from tqdm import tqdm

from photoz.errors import PhotozDataError
from photoz.train.heads import PointHead
from photoz.train.inference import autocast_context

log = logging.getLogger(__name__)

#: Validation "accuracy" threshold on |dz|/(1+z) (paper Sect. 5; the outlier cut).
ACCURACY_THRESHOLD = 0.15
#: Keras Adam epsilon (PAPER_SPEC §4).
ADAM_EPS = 1e-7
#: Floor of the cosine schedule, as a fraction of the initial learning rate.
COSINE_FLOOR = 1e-3


# --------------------------------------------------------------------------------------------
# Prediction
# --------------------------------------------------------------------------------------------








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


class _Optimiser:
    """AdamW, the learning-rate schedule (plateau or warm-up + cosine) and the weight average.

    AdamW with ``weight_decay`` 0 is the paper's Adam (Keras epsilon :data:`ADAM_EPS`). foreach:
    one multi-tensor op per Adam step for all parameters instead of ~10 ops per parameter tensor
    (80 in the CNN); the same update bit for bit (2.2 -> 1.3 ms per CNN step on one CPU thread).
    The fused kernel (0.4 ms) rounds differently, so it is not used.
    """

    def __init__(self, model: torch.nn.Module, cfg: dict, n_batches: int) -> None:
        trainable = [p for p in model.parameters() if p.requires_grad]
        self.optimizer = torch.optim.AdamW(trainable, lr=float(cfg["learning_rate"]),
                                           eps=ADAM_EPS, weight_decay=float(cfg["weight_decay"]),
                                           foreach=True)
        plateau = cfg["lr_schedule"] == "plateau"
        self.schedule = PlateauSchedule(self.optimizer, float(cfg["lr_factor"]),
                                        int(cfg["lr_patience"]) if plateau else 0,
                                        int(cfg["early_stopping_patience"]))
        total_steps = cfg["max_epochs"] * n_batches
        warmup_steps = int(round(float(cfg["warmup_epochs"]) * n_batches))
        self.step_lr = None
        if not plateau:
            self.step_lr = torch.optim.lr_scheduler.LambdaLR(
                self.optimizer, lambda s: cosine_factor(s, total_steps, warmup_steps))
        self.ema = None
        if cfg["ema_decay"] > 0:
            self.ema = AveragedModel(model, use_buffers=True, multi_avg_fn=get_ema_multi_avg_fn(
                float(cfg["ema_decay"])))

    def step(self, model: torch.nn.Module, loss: torch.Tensor) -> None:
        """One optimiser step on ``loss``, then the per-step schedule and the weight average."""
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        if self.step_lr is not None:
            self.step_lr.step()
        if self.ema is not None:
            self.ema.update_parameters(model)


def _train_epoch(model: torch.nn.Module, provider, opt: _Optimiser, head, gen: torch.Generator,
                 device: torch.device, desc: str) -> tuple[float, float]:
    """One epoch of training steps; the mean training loss and accuracy over its samples."""
    model.train()
    loss_sum = torch.zeros((), device=device, dtype=torch.float64)
    correct = torch.zeros((), device=device, dtype=torch.long)
    n_seen = 0
    bar = tqdm(total=provider.n_batches, desc=desc, unit="batch", mininterval=1.0, leave=False,
               disable=None)
    for args, z in provider.batches(gen):
        with autocast_context(device, provider.autocast):
            pred = provider.forward(model, *args)
        loss = head.loss(pred, z)
        opt.step(model, loss)
        with torch.no_grad():
            loss_sum += loss.detach().double() * z.shape[0]
            correct += _accuracy_count(head.point(pred.detach()), z)
        n_seen += z.shape[0]
        bar.update(1)
    bar.close()
    return float(loss_sum) / n_seen, float(correct) / n_seen


def fit(model: torch.nn.Module, provider, z_val: np.ndarray, cfg: dict, gen: torch.Generator,
        device: torch.device, name: str = "network", head=None) -> FitResult:
    """Train ``model`` on ``provider``'s batches; keep the best validation epoch. No I/O.

    Parameters
    ----------
    model : nn.Module
        On ``device``; parameters with ``requires_grad`` are trained.
    provider : photoz.train.batches provider
        ``batches(gen)`` yields ``(args, z)``; ``forward(net, *args)`` is the network's output
        in training (autocast ``provider.autocast``); ``validate(net) -> ndarray (n_val,)`` the
        photo-z of the validation galaxies with the network ``net`` (the model, or its weight
        average), (n_val, 3 K) mixture outputs for a p(z) head; ``n_per_epoch``, ``n_batches``.
    z_val : ndarray, shape (n_val,)
        True redshifts of the validation galaxies.
    cfg : dict
        From :func:`check_train_cfg`: ``batch_size``, ``max_epochs``, ``learning_rate``,
        ``lr_factor``, ``lr_patience``, ``early_stopping_patience``, ``lr_schedule``,
        ``warmup_epochs``, ``weight_decay``, ``ema_decay``.
    gen : torch.Generator
        Batch order and augmentation draws.
    device : torch.device
    name : str
        For the log.
    head : photoz.train.heads.PointHead or photoz.train.heads.PdfHead, optional
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
    head = head or PointHead()
    opt = _Optimiser(model, cfg, provider.n_batches)
    z_val_t = torch.as_tensor(np.asarray(z_val, dtype=np.float32))
    result = FitResult(model=model)
    best_state = None
    for epoch in range(1, cfg["max_epochs"] + 1):
        t0 = time.perf_counter()
        lr = opt.optimizer.param_groups[0]["lr"]
        train_loss, train_acc = _train_epoch(model, provider, opt, head, gen, device,
                                             f"{name} epoch {epoch}/{cfg['max_epochs']}")
        epoch_seconds = time.perf_counter() - t0
        result.train_seconds += epoch_seconds
        result.train_samples += provider.n_per_epoch

        net = opt.ema.module if opt.ema is not None else model
        val_pred = torch.from_numpy(provider.validate(net)).float()
        val_loss = float(head.loss(val_pred, z_val_t))
        val_acc = float(_accuracy_count(head.point(val_pred), z_val_t)) / len(z_val_t)
        seconds = time.perf_counter() - t0
        # No time in the history: a product is the same bits in every run; the time is logged.
        result.history.append([epoch, train_loss, val_loss, train_acc, val_acc, lr])
        log.info("%s epoch %d/%d: train loss %.4f (acc %.3f), val loss %.4f (acc %.3f), "
                 "lr %.2e, %.1f s, %.0f samples/s", name, epoch, cfg["max_epochs"], train_loss,
                 train_acc, val_loss, val_acc, lr, seconds, provider.n_per_epoch / epoch_seconds)
        if not np.isfinite(val_loss):
            raise PhotozDataError(f"{name}: validation loss is {val_loss} at epoch {epoch}; "
                                  "check the inputs for extreme values")
        improved, stop = opt.schedule.step(val_loss)
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
