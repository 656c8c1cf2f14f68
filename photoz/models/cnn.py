"""The inception CNN of Zhou et al. 2022 (MNRAS 512, 4593), Sect. 4.2 and Fig. 5 (PAPER_SPEC §4).

Input 7 x 32 x 32 stamps. Conv 3x3/32 stride 2 + BatchNorm + LeakyReLU -> 16x16x32; three
inception blocks -> 8x8x72, 4x4x72, 2x2x72; global average pooling -> 72 -> Dense40 + ReLU ->
Dense1. 38,449 parameters counting BatchNorm running mean and variance (37,809 trainable).

Keras defaults where the paper names a layer without settings: LeakyReLU slope 0.3, BatchNorm
epsilon 1e-3 and momentum 0.99 (PyTorch 0.01). Padding: Keras 'same' pads odd kernels
asymmetrically (one more pixel bottom/right) when the stride is 2; we pad symmetrically by
k // 2, which gives the same output sizes and parameter counts and lets PyTorch's fused
convolution run without a separate pad (the sampling grid shifts by half a pixel, which a
network trained from scratch does not notice).
"""

from __future__ import annotations

import torch
from torch import nn

from photoz.models.mlp import BN_EPS, BN_MOMENTUM, linear_fp32

#: Keras LeakyReLU default negative slope (PAPER_SPEC §4).
LEAKY_SLOPE = 0.3


class ConvBlock(nn.Sequential):
    """Conv2d ('same'-size padding) + BatchNorm + LeakyReLU(0.3).

    Parameters
    ----------
    n_in, n_out : int
        Channels.
    kernel : int
        Odd kernel size.
    stride : int
    """

    def __init__(self, n_in: int, n_out: int, kernel: int, stride: int = 1) -> None:
        super().__init__()
        self.conv = nn.Conv2d(n_in, n_out, kernel, stride=stride, padding=kernel // 2)
        self.batchnorm = nn.BatchNorm2d(n_out, eps=BN_EPS, momentum=BN_MOMENTUM)
        self.leaky_relu = nn.LeakyReLU(LEAKY_SLOPE)


class InceptionBlock(nn.Module):
    """The paper's inception block (PAPER_SPEC §4), halving the image side; 72 channels out.

    Branches, concatenated in this order along channels:
    ``branch1`` 1x1/16 stride 2; ``branch2`` 1x1/16 -> 3x3/32 stride 2;
    ``branch3`` 1x1/8 -> 5x5/16 stride 2; ``branch4`` maxpool 3x3 stride 1 -> 1x1/8 stride 2,
    computed as the identical maxpool 3x3 stride 2 -> 1x1/8 stride 1.

    Parameters
    ----------
    n_in : int
        Input channels (32 for the first block, 72 after).
    """

    out_channels = 72

    def __init__(self, n_in: int) -> None:
        super().__init__()
        self.branch1 = ConvBlock(n_in, 16, 1, stride=2)
        self.branch2 = nn.Sequential()
        self.branch2.add_module("reduce", ConvBlock(n_in, 16, 1))
        self.branch2.add_module("conv3x3", ConvBlock(16, 32, 3, stride=2))
        self.branch3 = nn.Sequential()
        self.branch3.add_module("reduce", ConvBlock(n_in, 8, 1))
        self.branch3.add_module("conv5x5", ConvBlock(8, 16, 5, stride=2))
        # The paper's max-pool 3x3 stride 1 feeds a 1x1 stride-2 convolution, which reads only its
        # even rows and columns; a 3x3 stride-2 max-pool computes exactly those (the same windows,
        # the same maxima and gradients, bit for bit: tests/test_models.py), in a quarter of the
        # time, and the 1x1 convolution then runs at stride 1. Same parameters and names.
        self.branch4 = nn.Sequential()
        self.branch4.add_module("maxpool", nn.MaxPool2d(3, stride=2, padding=1))
        self.branch4.add_module("conv1x1", ConvBlock(n_in, 8, 1, stride=1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x : Tensor, shape (B, C, H, W) -> Tensor, shape (B, 72, H/2, W/2)."""
        return torch.cat([self.branch1(x), self.branch2(x), self.branch3(x), self.branch4(x)], 1)


class CNNFeatures(nn.Module):
    """The CNN up to its Dense40 layer: (B, 7, 32, 32) -> (B, 40).

    Children: ``stem`` (conv 3x3/32 stride 2), ``inception1`` ... ``inception3``, ``pool``
    (global average), ``dense`` (Dense40 + ReLU). :meth:`convolutional_layers` is the part the
    hybrid-transfer network freezes (everything before global pooling).
    """

    def __init__(self, n_bands: int = 7) -> None:
        super().__init__()
        self.stem = ConvBlock(n_bands, 32, 3, stride=2)
        self.inception1 = InceptionBlock(32)
        self.inception2 = InceptionBlock(72)
        self.inception3 = InceptionBlock(72)
        self.pool = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.dense = nn.Sequential()
        self.dense.add_module("dense", nn.Linear(InceptionBlock.out_channels, 40))
        self.dense.add_module("relu", nn.ReLU())
        self.out_features = 40

    def convolutional_layers(self) -> list[nn.Module]:
        """``stem``, ``inception1``, ``inception2``, ``inception3`` (before global pooling)."""
        return [self.stem, self.inception1, self.inception2, self.inception3]

    def pooled(self, images: torch.Tensor) -> torch.Tensor:
        """The convolutional part and global pooling: (B, 7, 32, 32) -> (B, 72).

        The hybrid-transfer network freezes exactly this part, so its output can be computed
        once per galaxy and D4 element (:func:`photoz.train.network.train_network`).
        """
        x = images
        for layer in self.convolutional_layers():
            x = layer(x)
        return self.pool(x)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """images : Tensor, shape (B, 7, 32, 32) -> Tensor, shape (B, 40)."""
        return self.dense(self.pooled(images))


class CNN(nn.Module):
    """Photo-z from 7-band 32x32 stamps (paper Sect. 4.2).

    Children: ``features`` (:class:`CNNFeatures`) and ``output`` (Dense1, linear).
    ``forward(images: (B, 7, 32, 32)) -> (B,)`` photo-z.
    """

    inputs: tuple[str, ...] = ("image",)

    def __init__(self, n_bands: int = 7) -> None:
        super().__init__()
        self.features = CNNFeatures(n_bands)
        self.output = nn.Linear(self.features.out_features, 1)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """images : Tensor, shape (B, 7, 32, 32) -> photo-z, Tensor, shape (B,)."""
        return linear_fp32(self.output, self.features(images)).squeeze(-1)
