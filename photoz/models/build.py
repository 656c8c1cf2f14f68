"""Building the four networks by name and counting their parameters as the paper's Keras did.

``build_model(name)`` for ``"mlp"``, ``"cnn"``, ``"hybrid"``, ``"hybrid_transfer"``, initialised as
Keras initialises (Glorot-uniform kernels, zero biases; :func:`keras_init_`); ``count_parameters``
counts them the way the paper's Keras did (BatchNorm running mean and variance included).
"""

from __future__ import annotations

import torch
from torch import nn

from photoz.errors import PhotozConfigError
from photoz.models.cnn import CNN
from photoz.models.hybrid import Hybrid, HybridTransfer
from photoz.models.mlp import MLP
from photoz.names import NETWORKS

_CLASSES = {"mlp": MLP, "cnn": CNN, "hybrid": Hybrid, "hybrid_transfer": HybridTransfer}


def keras_init_(model: nn.Module, generator: torch.Generator | None = None) -> nn.Module:
    """Re-initialise weights as the paper's Keras did: Glorot-uniform kernels, zero biases.

    Keras ``Dense`` and ``Conv2D`` default to ``glorot_uniform`` / ``zeros``; BatchNorm starts
    at gamma = 1, beta = 0, mean 0, variance 1 (PyTorch's defaults already).

    Parameters
    ----------
    model : nn.Module
        Modified in place.
    generator : torch.Generator, optional
        Source of randomness (seeded by the caller); default the global generator.

    Returns
    -------
    nn.Module
        ``model``.
    """
    for module in model.modules():
        if isinstance(module, (nn.Linear, nn.Conv2d)):
            nn.init.xavier_uniform_(module.weight, generator=generator)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
    return model


def build_model(name: str, seed: int | None = None, output: str = "point",
                n_components: int = 3) -> nn.Module:
    """Build one of the paper's networks.

    Parameters
    ----------
    name : str
        ``"mlp"``, ``"cnn"``, ``"hybrid"`` or ``"hybrid_transfer"``.
    seed : int, optional
        Seed of the Keras-style weight initialisation (:func:`keras_init_`); without it the
        global torch generator is used.
    output : str
        ``"point"`` (the paper's Dense1) or ``"pdf"``: the last layer only is replaced by a
        Dense(3 ``n_components``) giving a Gaussian mixture (:mod:`photoz.train.heads`); the body, and its
        parameter count, stay the paper's.
    n_components : int
        Mixture components K for ``output="pdf"``.

    Returns
    -------
    nn.Module
        ``MLP`` (forward(flux (B, 20))), ``CNN`` (forward(images (B, 7, 32, 32))), ``Hybrid`` or
        ``HybridTransfer`` (forward(flux, images)); each returns photo-z of shape (B,) (or the
        mixture's raw outputs, (B, 3 K), for ``output="pdf"``). Attribute
        ``inputs`` names the inputs in call order. A ``HybridTransfer`` comes unfrozen; call its
        ``load_pretrained`` to load and freeze the trained branches.

    Raises
    ------
    PhotozConfigError
        For an unknown name, output or a component count below 1.
    """
    try:
        cls = _CLASSES[name]
    except KeyError:
        raise PhotozConfigError(f"unknown network {name!r}; choose one of {list(NETWORKS)}") from None
    if output not in ("point", "pdf"):
        raise PhotozConfigError(f"train.output.{name}: {output!r} is not one of ['point', 'pdf']")
    model = cls()
    if output == "pdf":
        if isinstance(n_components, bool) or int(n_components) != n_components or n_components < 1:
            raise PhotozConfigError(f"train.pdf_components: {n_components!r} must be a positive "
                                    "integer")
        model.output = nn.Linear(model.output.in_features, 3 * int(n_components))
    model.output_kind = output
    generator = None if seed is None else torch.Generator().manual_seed(int(seed))
    return keras_init_(model, generator)


def count_parameters(model: nn.Module, include_buffers: bool = True,
                     trainable_only: bool = False) -> int:
    """Number of parameters, counted as the paper's Keras summary did.

    Parameters
    ----------
    model : nn.Module
    include_buffers : bool
        Add BatchNorm running mean and variance (Keras's non-trainable "moving" weights);
        ``num_batches_tracked`` (a PyTorch-only counter) is never counted.
    trainable_only : bool
        Count only parameters with ``requires_grad`` (and no buffers).

    Returns
    -------
    int
    """
    if trainable_only:
        return sum(p.numel() for p in model.parameters() if p.requires_grad)
    n = sum(p.numel() for p in model.parameters())
    if include_buffers:
        n += sum(b.numel() for name, b in model.named_buffers()
                 if name.endswith(("running_mean", "running_var")))
    return n
