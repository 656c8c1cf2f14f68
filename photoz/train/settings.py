"""One network's training settings, the device and precision it trains in, and its seed streams.

The ``train`` config section holds every network's settings, some per network
(:data:`PER_NETWORK_KEYS`); :func:`network_settings` picks one network's values, which the workflow
passes as the training rule's params so that unrelated edits retrain nothing. The device
(``train.device``) and the bf16 autocast (``train.precision``) are chosen at run time
(:func:`resolve_device`, :func:`resolve_precision`): the same code runs on a CPU and a GPU. One
config seed is split into independent streams (:func:`seed_streams`), so changing one use of
randomness never shifts another.
"""

from __future__ import annotations

import copy

import numpy as np
import torch

from photoz.errors import PhotozConfigError
from photoz.names import NETWORKS

PRECISIONS = ("auto", "fp32", "bf16")


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


def int_seed(ss: np.random.SeedSequence) -> int:
    return int(ss.generate_state(1, np.uint32)[0])


def check_train_cfg(cfg: dict, net: str) -> dict:
    """The settings of network ``net`` from a schema-filled ``train`` section, plus ``device``.

    The schema checks every key's type and range (``photoz.config.validate_config``;
    ``photoz.config.default_config()["train"]`` is the section with its defaults); this picks
    ``net``'s values (:func:`photoz.train.settings.network_settings`) and keeps ``device``.

    Returns
    -------
    dict
        The keys of :data:`photoz.train.settings.TRAIN_KEYS` and ``device``; the per-network keys hold
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


#: The ``train`` keys the training of one network reads (the schema documents each). The
#: machine settings ``device``, ``threads`` and ``gpus`` and the ``networks`` list are not among
#: them: they change where and whether a network trains, not what it learns.
TRAIN_KEYS = ("batch_size", "max_epochs", "learning_rate", "lr_factor", "lr_patience",
              "early_stopping_patience", "n_flux_realisations", "augment_fluxes",
              "augment_images", "image_size", "image_scaling", "passes_per_epoch",
              "lr_schedule", "warmup_epochs", "weight_decay", "ema_decay", "tta", "precision",
              "transfer_freeze", "flux_draws_per_stamp", "output", "pdf_components")


#: ``train`` keys given per network: a mapping network -> value (or one value for all).
PER_NETWORK_KEYS = ("batch_size", "max_epochs", "passes_per_epoch", "lr_schedule", "ema_decay",
                    "flux_draws_per_stamp", "weight_decay", "output")


def network_settings(train: dict, net: str) -> dict:
    """The training settings of one network: :data:`TRAIN_KEYS` of a schema-filled ``train``.

    Each of :data:`PER_NETWORK_KEYS` is resolved to ``net``'s value; one that has no entry for
    ``net`` does not apply to it (e.g. ``passes_per_epoch`` for the MLP) and is ``None``. The
    machine settings and the ``networks`` list are left out, so that the workflow can pass the
    result as the training rule's params: changing ``train.threads`` or trimming
    ``train.networks`` retrains nothing. Idempotent: a result passed in again comes out equal.

    Parameters
    ----------
    train : dict
        The ``train`` section, schema-filled (:func:`validate_config`, :func:`default_config`).
    net : str
        One of :data:`NETWORKS`.

    Returns
    -------
    dict
        A new flat dict with exactly the keys of :data:`TRAIN_KEYS`.

    Raises
    ------
    PhotozConfigError
        For an unknown network, or a ``train`` section that lacks a key (not schema-filled).
    """
    if net not in NETWORKS:
        raise PhotozConfigError(f"unknown network {net!r}; choose one of {list(NETWORKS)}")
    missing = [k for k in TRAIN_KEYS if k not in train]
    if missing:
        raise PhotozConfigError(f"train: missing keys {missing} (pass the schema-filled section: "
                                "photoz.config.default_config()['train'])")
    out = {k: copy.deepcopy(train[k]) for k in TRAIN_KEYS}
    for key in PER_NETWORK_KEYS:
        if isinstance(out[key], dict):
            out[key] = out[key].get(net)
    return out
