"""TODO docstring."""

from __future__ import annotations

import numpy as np
import torch
from tqdm import tqdm

from photoz.train.augment import D4

#: Batch size for evaluation passes (no gradients; any size gives the same numbers).
EVAL_BATCH = 1024


def autocast_context(device: torch.device, dtype: torch.dtype | None):
    return torch.autocast(device.type, dtype=dtype or torch.float32, enabled=dtype is not None)


def images_on(x: torch.Tensor, device: torch.device) -> torch.Tensor:
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
        Or (n, 3 K) for a p(z) head (:mod:`photoz.train.heads`); with ``tta`` its raw outputs are
        averaged over the D4 elements like the point photo-z.
    """
    model.eval()
    out = []
    n = flux.shape[0]
    uses_image = "image" in model.inputs
    elements = range(8) if (tta and uses_image) else (0,)
    d4 = D4(images.shape[-1], device) if len(elements) > 1 else None
    for start in tqdm(range(0, n, batch_size), desc="predict", unit="batch",
                      disable=None if progress else True):
        sl = slice(start, start + batch_size)
        f = flux[sl].to(device, non_blocking=True)
        x = images_on(images[sl], device) if uses_image else None
        total = 0
        for k in elements:
            args = []
            if "flux" in model.inputs:
                args.append(f)
            if uses_image:
                xk = x if k == 0 else d4(x, torch.full((x.shape[0],), k, device=device))
                args.append(xk.contiguous(memory_format=torch.channels_last))
            with autocast_context(device, autocast):
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
                      unit="batch", disable=None if progress else True):
        sl = slice(start, start + batch_size)
        x = images_on(images[sl], device)
        for k in range(8):
            xk = d4(x, torch.full((x.shape[0],), k, device=device))
            with autocast_context(device, autocast):
                out[k, sl] = cnn.pooled(xk.contiguous(memory_format=torch.channels_last)).float()
    return out
