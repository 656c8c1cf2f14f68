"""Training the four networks as Zhou et al. 2022 (MNRAS 512, 4593) trained them (Sect. 4-5).

Loss: mean absolute error. Optimiser: Adam, learning rate 1e-4 (Keras epsilon 1e-7). The learning
rate is divided by 10 after ``lr_patience`` (5) epochs without validation improvement (Keras
``ReduceLROnPlateau``, absolute min_delta 1e-4; :class:`PlateauSchedule`); training stops after
``early_stopping_patience`` (10) such epochs, and the weights of the best validation epoch are kept (PAPER_SPEC §5).

What an epoch is. The MLP's epoch is one pass over the augmented training set, every galaxy once
per flux realisation (the paper's 50-fold enlarged table; the MLP is cheap). The image networks'
epoch visits every training galaxy once, each time with a random one of its flux realisations and
a random D4 element, so over epochs they see the whole augmented set at a cost the time budget
allows (8 x 50 stamps per galaxy would not fit in memory either).

The loop is plain PyTorch over tensors already in memory (:mod:`photoz.datasets`): a batch is an
index into those tensors, D4 transforms are one ``gather``, so the data path never starves the
model. Convolutional networks run in ``channels_last`` memory format (issue 6 measured 1,200 ->
2,200 samples/s for the CNN on 2 CPU threads). The same code runs on CUDA when present.
"""

from __future__ import annotations

import copy
import io
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

import photoz
from photoz.datasets import (
    D4,
    check_image_size,
    flux_arrays,
    flux_realisations,
    load_photometry,
    load_stamps,
    scale_images,
)
from photoz.errors import PhotozConfigError, PhotozDataError
from photoz.features import flux_features
from photoz.io import atomic_path
from photoz.logs import progress as tqdm
from photoz.models import NETWORKS, build_model, count_parameters

log = logging.getLogger("photoz.training")

#: Validation "accuracy" threshold on |dz|/(1+z) (paper Sect. 5; the outlier cut).
ACCURACY_THRESHOLD = 0.15
#: Keras Adam epsilon (PAPER_SPEC §4).
ADAM_EPS = 1e-7
#: Batch size for evaluation passes (no gradients; any size gives the same numbers).
EVAL_BATCH = 1024

HISTORY_COLUMNS = ["epoch", "train_loss", "val_loss", "train_accuracy", "val_accuracy",
                   "learning_rate", "seconds"]
PREDICTION_COLUMNS = ["object_id", "z_true", "z_pred", "split"]

#: The ``train`` config keys this module reads (the config schema documents each).
TRAIN_KEYS = ("device", "batch_size", "max_epochs", "learning_rate", "lr_factor", "lr_patience",
              "early_stopping_patience", "n_flux_realisations", "augment_fluxes",
              "augment_images", "image_size", "image_scaling")

#: Values used for keys absent from the ``train`` section: the paper's (PAPER_SPEC §3-5), and
#: our measured choice of image scaling. ``batch_size`` and ``max_epochs`` have no default.
TRAIN_DEFAULTS = {"device": "auto", "learning_rate": 1.0e-4, "lr_factor": 0.1, "lr_patience": 5,
                  "early_stopping_patience": 10, "n_flux_realisations": 50,
                  "augment_fluxes": True, "augment_images": True, "image_size": 32,
                  "image_scaling": "none"}


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


def check_train_cfg(cfg: dict, net: str) -> dict:
    """Validate the ``train`` config section for network ``net``; return a flat copy.

    Returns
    -------
    dict
        The keys of :data:`TRAIN_KEYS`, with ``batch_size`` and ``max_epochs`` resolved to
        ``net``'s ints.

    Raises
    ------
    PhotozConfigError
        Naming the missing or bad key (``train.<key>``).
    """
    if net not in NETWORKS:
        raise PhotozConfigError(f"unknown network {net!r}; choose one of {list(NETWORKS)}")
    defaulted = [k for k in TRAIN_KEYS if k not in cfg and k in TRAIN_DEFAULTS]
    if defaulted:
        log.info("train: keys %s absent; using %s", defaulted,
                 {k: TRAIN_DEFAULTS[k] for k in defaulted})
    cfg = {**TRAIN_DEFAULTS, **cfg}
    missing = [k for k in TRAIN_KEYS if k not in cfg]
    if missing:
        raise PhotozConfigError(f"train: missing keys {missing}")
    out = {k: cfg[k] for k in TRAIN_KEYS}
    for key in ("batch_size", "max_epochs"):
        value = cfg[key]
        if isinstance(value, dict):
            if net not in value:
                raise PhotozConfigError(f"train.{key}: no entry for network {net!r}")
            value = value[net]
        if not isinstance(value, (int, np.integer)) or value < 1:
            raise PhotozConfigError(f"train.{key}.{net}: {value!r} must be a positive integer")
        out[key] = int(value)
    for key in ("learning_rate", "lr_factor"):
        if not isinstance(cfg[key], (int, float)) or not cfg[key] > 0:
            raise PhotozConfigError(f"train.{key}: {cfg[key]!r} must be a positive number")
    for key in ("lr_patience", "early_stopping_patience", "n_flux_realisations"):
        if not isinstance(cfg[key], (int, np.integer)) or cfg[key] < 0:
            raise PhotozConfigError(f"train.{key}: {cfg[key]!r} must be a non-negative integer")
    for key in ("augment_fluxes", "augment_images"):
        if not isinstance(cfg[key], bool):
            raise PhotozConfigError(f"train.{key}: {cfg[key]!r} must be true or false")
    check_image_size(cfg["image_size"])
    scale_images(np.zeros((1, 7, 1, 1), np.float32), cfg["image_scaling"], np.ones(7))
    return out


def _atomic_write(path: str | Path, write) -> None:
    """Call ``write(tmp_path)`` on a temporary file in ``path``'s directory, then os.replace."""
    with atomic_path(path) as tmp:
        write(tmp)


def save_checkpoint(path: str | Path, checkpoint: dict) -> None:
    """Write a checkpoint dict with ``torch.save``, atomically, with a checksum of its content.

    The key ``"sha256"`` holds :func:`photoz.io.content_digest` of every other entry (weights,
    input scaling, metadata), which :func:`load_checkpoint` recomputes.
    """
    from photoz.io import content_digest

    body = {k: v for k, v in checkpoint.items() if k != "sha256"}
    buffer = io.BytesIO()
    torch.save({**body, "sha256": content_digest(body)}, buffer)
    _atomic_write(path, lambda tmp: Path(tmp).write_bytes(buffer.getvalue()))


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


def write_predictions(path: str | Path, frame: pd.DataFrame) -> None:
    """Write a predictions table (object_id, z_true, z_pred, split) atomically as parquet."""
    _atomic_write(path, lambda tmp: frame.to_parquet(tmp, index=False))


# --------------------------------------------------------------------------------------------
# Inputs
# --------------------------------------------------------------------------------------------
@dataclass
class NetworkInputs:
    """Prepared, in-memory inputs of every selected galaxy.

    Attributes
    ----------
    object_id : ndarray, shape (n,), int64
    z : ndarray, shape (n,), float32
        True redshift (NaN when unknown).
    split : ndarray, shape (n,), str
    flux : Tensor, shape (n, 20), float32
        Eq. 7 features of the measured fluxes.
    images : Tensor, shape (n, 7, S, S), float32, or None
        Scaled stamps (None for the MLP).
    input_scaling : dict
        What a predictor needs to prepare the same inputs (stored in the checkpoint).
    """

    object_id: np.ndarray
    z: np.ndarray
    split: np.ndarray
    flux: torch.Tensor
    images: torch.Tensor | None
    input_scaling: dict


def prepare_inputs(df: pd.DataFrame, shard_paths: Sequence[str | Path], needs_images: bool,
                   limiting_flux: np.ndarray, noise_sigma: np.ndarray, image_size: int,
                   image_scaling: str, rng: np.random.Generator) -> NetworkInputs:
    """Features and (if needed) scaled 32x32 stamps for the rows of a photometry table.

    Parameters
    ----------
    df : DataFrame
        From :func:`photoz.datasets.load_photometry`.
    shard_paths : sequence of path-like
        Stamp shards (read only when ``needs_images``).
    needs_images : bool
    limiting_flux : ndarray, shape (7,), electrons
        F_lim of eq. 7.
    noise_sigma : ndarray, shape (7,), electrons
        N_bkg per band (padding noise and image scaling).
    image_size : int
    image_scaling : str
    rng : numpy.random.Generator
        Padding noise.
    """
    flux, flux_err, _ = flux_arrays(df)
    feats = flux_features(flux, flux_err, limiting_flux)
    images = None
    if needs_images:
        raw = load_stamps(shard_paths, df["object_id"].to_numpy(), image_size, noise_sigma, rng)
        images = torch.from_numpy(scale_images(raw, image_scaling, noise_sigma))
    scaling = {
        "image_size": int(image_size),
        "image_scaling": image_scaling,
        "noise_sigma": [float(v) for v in noise_sigma],
        "limiting_flux": [float(v) for v in limiting_flux],
        "bands": list(photoz.BANDS),
    }
    return NetworkInputs(
        object_id=df["object_id"].to_numpy(dtype=np.int64),
        z=df["redshift"].to_numpy(dtype=np.float32),
        split=df["split"].astype(str).to_numpy(),
        flux=torch.from_numpy(feats),
        images=images,
        input_scaling=scaling,
    )


def _to_device(x: torch.Tensor | None, device: torch.device, image: bool = False):
    if x is None:
        return None
    if image:
        return x.to(device).contiguous(memory_format=torch.channels_last)
    return x.to(device)


@torch.no_grad()
def predict_tensors(model: torch.nn.Module, flux: torch.Tensor, images: torch.Tensor | None,
                    device: torch.device, batch_size: int = EVAL_BATCH,
                    progress: bool = False) -> np.ndarray:
    """Photo-z of prepared inputs in inference mode.

    Parameters
    ----------
    model : nn.Module
        One of :func:`photoz.models.build_model`'s networks, on ``device``.
    flux : Tensor, shape (n, 20)
    images : Tensor, shape (n, 7, S, S), or None
    device : torch.device

    Returns
    -------
    ndarray, shape (n,), float64
    """
    model.eval()
    out = []
    n = flux.shape[0]
    starts = range(0, n, batch_size)
    for start in tqdm(starts, desc="predict", unit="batch", disable=not progress):
        sl = slice(start, start + batch_size)
        args = []
        for name in model.inputs:
            if name == "flux":
                args.append(flux[sl].to(device))
            else:
                args.append(_to_device(images[sl], device, image=True))
        out.append(model(*args).float().cpu())
    return torch.cat(out).double().numpy() if out else np.zeros(0)


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


def _accuracy_count(pred: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    return ((pred - z).abs() / (1 + z) < ACCURACY_THRESHOLD).sum()


# --------------------------------------------------------------------------------------------
# Training
# --------------------------------------------------------------------------------------------
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
        The ``train`` config section (keys :data:`TRAIN_KEYS`; see :func:`check_train_cfg`).
    instrument : photoz.instrument.Instrument
        Limiting fluxes (eq. 7), background sigma (eq. 4; padding noise) and the eq. 6 noise
        model for augmented flux errors.
    seed : int
        Seeds weight initialisation, padding noise, flux realisations, shuffling and D4 draws;
        on CPU the same seed and threads give the same predictions.
    threads : int
        ``torch.set_num_threads``.
    pretrained : dict, optional
        ``{"mlp": path, "cnn": path}`` of trained checkpoints; required for ``hybrid_transfer``.

    Returns
    -------
    dict
        ``net, epochs_run, best_epoch, best_val_loss, best_val_accuracy, seconds,
        samples_per_second, device, n_train, n_validation, n_parameters, n_trainable, seed``.

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
    rng = np.random.default_rng(seed)
    gen = torch.Generator().manual_seed(int(seed))
    log.info("training %s on %s with %d thread(s), seed %d", net, device, threads, seed)

    model = build_model(net, seed=seed)
    if net == "hybrid_transfer":
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
        model.load_pretrained(mlp_ckpt["state_dict"], cnn_ckpt["state_dict"])
    needs_images = "image" in model.inputs

    # ---- inputs
    df = load_photometry(photometry_path)
    noise_sigma = instrument.background_sigma()
    limiting_flux = instrument.limiting_flux()
    data = prepare_inputs(df, shard_paths, needs_images, limiting_flux, noise_sigma,
                          cfg["image_size"], cfg["image_scaling"], rng)
    train_idx = np.flatnonzero(data.split == "train")
    val_idx = np.flatnonzero(data.split == "validation")
    for name, idx in (("train", train_idx), ("validation", val_idx)):
        if idx.size == 0:
            raise PhotozDataError(f"photometry table {photometry_path}: no selected rows with "
                                  f"split == {name!r}")
    n_real = cfg["n_flux_realisations"] if cfg["augment_fluxes"] else 0
    if n_real > 1:
        flux, flux_err, npix = flux_arrays(df.iloc[train_idx])
        pool = torch.from_numpy(flux_realisations(flux, flux_err, npix, instrument, n_real, rng))
    else:
        pool = data.flux[train_idx].unsqueeze(0)  # one "realisation": the measured fluxes
    n_real_eff = pool.shape[0]
    z_train = torch.from_numpy(data.z[train_idx])

    # ---- tensors on the device, in the layout the model wants
    model.to(device)
    if needs_images:
        model.to(memory_format=torch.channels_last)
    z_train = z_train.to(device)
    img_train = _to_device(data.images[train_idx], device) if needs_images else None
    val_flux = data.flux[val_idx]
    val_img = data.images[val_idx] if needs_images else None
    z_val = torch.from_numpy(data.z[val_idx]).to(device)
    d4 = D4(cfg["image_size"], device) if needs_images else None
    uses_flux = "flux" in model.inputs
    if net == "mlp":
        # Epoch = every (realisation, galaxy) pair once: the paper's enlarged training set.
        flat_flux = pool.reshape(-1, pool.shape[-1]).to(device)
        flat_z = z_train.repeat(n_real_eff)
        n_per_epoch = flat_flux.shape[0]
    else:
        pool = pool.to(device)
        n_per_epoch = len(train_idx)

    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.Adam(trainable, lr=float(cfg["learning_rate"]), eps=ADAM_EPS)
    schedule = PlateauSchedule(optimizer, float(cfg["lr_factor"]), int(cfg["lr_patience"]),
                               int(cfg["early_stopping_patience"]))
    batch_size = cfg["batch_size"]
    n_batches = -(-n_per_epoch // batch_size)
    log.info("%s: %d parameters (%d trainable); %d train, %d validation galaxies; %d flux "
             "realisation(s); %d samples x %d batches per epoch", net, count_parameters(model),
             count_parameters(model, trainable_only=True), len(train_idx), len(val_idx),
             n_real_eff, n_per_epoch, n_batches)

    history = []
    best = {"loss": np.inf, "epoch": 0, "state": None, "accuracy": np.nan}
    train_seconds, train_samples = 0.0, 0
    for epoch in range(1, cfg["max_epochs"] + 1):
        t0 = time.perf_counter()
        lr = optimizer.param_groups[0]["lr"]
        model.train()
        perm = torch.randperm(n_per_epoch, generator=gen)
        if net != "mlp":
            real = torch.randint(n_real_eff, (n_per_epoch,), generator=gen)
            elements = (torch.randint(8, (n_per_epoch,), generator=gen)
                        if cfg["augment_images"] else torch.zeros(n_per_epoch, dtype=torch.long))
            perm, real, elements = perm.to(device), real.to(device), elements.to(device)
        else:
            perm = perm.to(device)
        loss_sum = torch.zeros((), device=device, dtype=torch.float64)
        correct = torch.zeros((), device=device, dtype=torch.long)
        bar = tqdm(total=n_batches, desc=f"{net} epoch {epoch}/{cfg['max_epochs']}", unit="batch",
                   mininterval=1.0, leave=False)
        for b in range(n_batches):
            idx = perm[b * batch_size:(b + 1) * batch_size]
            if net == "mlp":
                args, z = (flat_flux[idx],), flat_z[idx]
            else:
                z = z_train[idx]
                args = []
                if uses_flux:
                    args.append(pool[real[b * batch_size:(b + 1) * batch_size], idx])
                x = img_train[idx]
                if cfg["augment_images"]:
                    x = d4(x, elements[b * batch_size:(b + 1) * batch_size])
                args.append(x.contiguous(memory_format=torch.channels_last))
            pred = model(*args)
            loss = (pred - z).abs().mean()
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            with torch.no_grad():
                loss_sum += loss.detach().double() * len(idx)
                correct += _accuracy_count(pred.detach(), z)
            bar.update(1)
        bar.close()
        epoch_train_seconds = time.perf_counter() - t0
        train_seconds += epoch_train_seconds
        train_samples += n_per_epoch
        train_loss = float(loss_sum) / n_per_epoch
        train_acc = float(correct) / n_per_epoch

        val_pred = torch.from_numpy(predict_tensors(model, val_flux, val_img, device)).float()
        z_val_cpu = z_val.cpu()
        val_loss = float((val_pred - z_val_cpu).abs().mean())
        val_acc = float(_accuracy_count(val_pred, z_val_cpu)) / len(val_idx)
        seconds = time.perf_counter() - t0
        history.append([epoch, train_loss, val_loss, train_acc, val_acc, lr, seconds])
        log.info("%s epoch %d: train %.4f (acc %.3f), val %.4f (acc %.3f), lr %.1e, %.1f s, "
                 "%.0f samples/s", net, epoch, train_loss, train_acc, val_loss, val_acc, lr,
                 seconds, n_per_epoch / epoch_train_seconds)
        if not np.isfinite(val_loss):
            raise PhotozDataError(f"{net}: validation loss is {val_loss} at epoch {epoch}; "
                                  "check the inputs for extreme values")
        improved, stop = schedule.step(val_loss)
        if improved:
            best = {"loss": val_loss, "epoch": epoch, "accuracy": val_acc,
                    "state": copy.deepcopy(model.state_dict())}
        if stop:
            log.info("%s: early stop at epoch %d (best %d)", net, epoch, best["epoch"])
            break

    model.load_state_dict(best["state"])
    z_pred = predict_tensors(model, data.flux, data.images, device, progress=True)
    predictions = pd.DataFrame({"object_id": data.object_id, "z_true": data.z.astype(np.float64),
                                "z_pred": z_pred, "split": data.split})
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    checkpoint = {
        "net": net,
        "state_dict": state,
        "train_cfg": dict(train_cfg),
        "seed": int(seed),
        "input_scaling": data.input_scaling,
        "best_epoch": best["epoch"],
        "best_val_loss": best["loss"],
        "photoz_version": photoz.__version__,
        "torch_version": str(torch.__version__),
    }
    save_checkpoint(out_model, checkpoint)
    hist = pd.DataFrame(history, columns=HISTORY_COLUMNS)
    _atomic_write(out_history, lambda tmp: hist.to_csv(tmp, index=False))
    write_predictions(out_predictions, predictions)
    summary = {
        "net": net,
        "epochs_run": len(history),
        "best_epoch": best["epoch"],
        "best_val_loss": best["loss"],
        "best_val_accuracy": best["accuracy"],
        "seconds": time.perf_counter() - t_start,
        "samples_per_second": train_samples / train_seconds if train_seconds > 0 else float("nan"),
        "device": str(device),
        "n_train": int(len(train_idx)),
        "n_validation": int(len(val_idx)),
        "n_parameters": count_parameters(model),
        "n_trainable": count_parameters(model, trainable_only=True),
        "seed": int(seed),
    }
    log.info("%s done: %s", net, summary)
    return summary
