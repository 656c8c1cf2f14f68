"""The flux MLP of Zhou et al. 2022 (MNRAS 512, 4593), Sect. 4.1 and Fig. 5 (PAPER_SPEC §4).

20 inputs (paper eq. 7) -> Dense40 + ReLU -> 5 x [Dense40 + BatchNorm + ReLU] -> Dense1.
9,881 parameters counting BatchNorm running mean and variance (9,481 trainable).
Layer settings the paper leaves to Keras take Keras's defaults (BatchNorm epsilon 1e-3,
moving-average momentum 0.99, i.e. PyTorch ``momentum=0.01``).
"""

from __future__ import annotations

import torch
from torch import nn

#: Keras BatchNormalization defaults (PAPER_SPEC §4): epsilon 1e-3, momentum 0.99 -> torch 0.01.
BN_EPS = 1e-3
BN_MOMENTUM = 0.01


def linear_fp32(layer: nn.Linear, x: torch.Tensor) -> torch.Tensor:
    """Apply the output ``layer`` in float32 even inside a bf16/fp16 autocast region.

    A bf16 output would round photo-z to steps of 2**-7 (0.008 at z ~ 1), a quarter of the
    sigma_NMAD we measure; the last Dense1 costs nothing in float32.

    Parameters
    ----------
    layer : nn.Linear
    x : Tensor, shape (B, n_in)

    Returns
    -------
    Tensor, shape (B, n_out), float32
    """
    with torch.autocast(device_type=x.device.type, enabled=False):
        return layer(x.float())


class DenseBlock(nn.Sequential):
    """Dense + BatchNorm + ReLU, the MLP's and the hybrid head's hidden layer (paper Fig. 5).

    Parameters
    ----------
    n_in, n_out : int
        Input and output widths.
    """

    def __init__(self, n_in: int, n_out: int) -> None:
        super().__init__()
        self.dense = nn.Linear(n_in, n_out)
        self.batchnorm = nn.BatchNorm1d(n_out, eps=BN_EPS, momentum=BN_MOMENTUM)
        self.relu = nn.ReLU()


class MLPFeatures(nn.Module):
    """The MLP up to its last hidden layer: (B, 20) -> (B, 40).

    Children: ``dense_in`` (Dense40 + ReLU) then ``hidden1`` ... ``hidden5``
    (:class:`DenseBlock`). The hybrid networks reuse this module unchanged.
    """

    def __init__(self, n_in: int = 20, width: int = 40, n_hidden: int = 5) -> None:
        super().__init__()
        self.dense_in = nn.Sequential()
        self.dense_in.add_module("dense", nn.Linear(n_in, width))
        self.dense_in.add_module("relu", nn.ReLU())
        for i in range(n_hidden):
            self.add_module(f"hidden{i + 1}", DenseBlock(width, width))
        self.n_hidden = n_hidden
        self.out_features = width

    def hidden_layers(self) -> list[nn.Module]:
        """The six hidden layers in order: ``dense_in``, ``hidden1`` ... ``hidden5``."""
        return [self.dense_in] + [getattr(self, f"hidden{i + 1}") for i in range(self.n_hidden)]

    def forward(self, flux_features: torch.Tensor) -> torch.Tensor:
        """flux_features : Tensor, shape (B, 20) -> Tensor, shape (B, 40)."""
        x = flux_features
        for layer in self.hidden_layers():
            x = layer(x)
        return x


class MLP(nn.Module):
    """Photo-z from the 20 flux features (paper Sect. 4.1).

    Children: ``features`` (:class:`MLPFeatures`) and ``output`` (Dense1, linear).
    ``forward(flux_features: (B, 20)) -> (B,)`` photo-z.
    """

    #: Which prepared inputs the network takes, in call order (used by the training loop).
    inputs: tuple[str, ...] = ("flux",)

    def __init__(self, n_in: int = 20) -> None:
        super().__init__()
        self.features = MLPFeatures(n_in)
        self.output = nn.Linear(self.features.out_features, 1)

    def forward(self, flux_features: torch.Tensor) -> torch.Tensor:
        """flux_features : Tensor, shape (B, 20) -> photo-z, Tensor, shape (B,)."""
        return linear_fp32(self.output, self.features(flux_features)).squeeze(-1)
