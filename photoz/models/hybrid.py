"""The hybrid and hybrid-transfer networks of Zhou et al. 2022 (MNRAS 512, 4593), Sect. 4.3.

Hybrid: the MLP up to its last hidden layer (40) and the CNN up to its Dense40 (40) are
concatenated in the order [MLP, CNN] -> 80 -> 6 x [Dense80 + BatchNorm + ReLU] -> Dense1,
trained end to end. 89,129 parameters counting BatchNorm running mean and variance
(87,129 trainable; 44,561 once the transfer network is frozen).

Hybrid-transfer: the same graph, initialised from a trained MLP and a trained CNN; the first
five MLP hidden layers and the whole CNN before global pooling are frozen, with their
BatchNorm layers kept in inference mode (PAPER_SPEC §4).
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn

from photoz.models.cnn import CNNFeatures
from photoz.models.mlp import DenseBlock, MLPFeatures, linear_fp32


class Hybrid(nn.Module):
    """Photo-z from flux features and stamps together (paper Sect. 4.3).

    Children: ``mlp`` (:class:`MLPFeatures`), ``cnn`` (:class:`CNNFeatures`), ``head``
    (``hidden1`` ... ``hidden6``, each Dense80 + BatchNorm + ReLU) and ``output`` (Dense1).
    ``forward(flux_features: (B, 20), images: (B, 7, 32, 32)) -> (B,)`` photo-z.
    """

    inputs: tuple[str, ...] = ("flux", "image")

    def __init__(self, n_features: int = 20, n_bands: int = 7, n_head: int = 6) -> None:
        super().__init__()
        self.mlp = MLPFeatures(n_features)
        self.cnn = CNNFeatures(n_bands)
        width = self.mlp.out_features + self.cnn.out_features
        self.head = nn.Sequential()
        for i in range(n_head):
            self.head.add_module(f"hidden{i + 1}", DenseBlock(width, width))
        self.output = nn.Linear(width, 1)

    def forward(self, flux_features: torch.Tensor, images: torch.Tensor) -> torch.Tensor:
        """flux_features (k B, 20), images (B, 7, 32, 32) -> photo-z, Tensor, shape (k B,).

        Normally k = 1. With k > 1 the rows of ``flux_features`` are k flux realisations of the
        B galaxies, realisation-major (row ``j * B + i`` belongs to stamp ``i``); the CNN branch
        runs once per stamp and its features are repeated (one stamp, k flux draws).
        """
        return self.combine(self.mlp(flux_features), self.cnn(images))

    def combine(self, mlp_features: torch.Tensor, cnn_features: torch.Tensor) -> torch.Tensor:
        """The head on the concatenated branches: (k B, 40), (B, 40) -> photo-z (k B,)."""
        k, rem = divmod(mlp_features.shape[0], cnn_features.shape[0])
        if rem:
            raise ValueError(f"{mlp_features.shape[0]} flux rows for {cnn_features.shape[0]} "
                             "stamps: need a whole number of flux draws per stamp")
        if k > 1:
            cnn_features = cnn_features.repeat(k, 1)
        x = torch.cat([mlp_features, cnn_features], dim=1)
        return linear_fp32(self.output, self.head(x)).squeeze(-1)

    def forward_pooled(self, flux_features: torch.Tensor, pooled: torch.Tensor) -> torch.Tensor:
        """Photo-z from flux features and the CNN's pooled features (:meth:`CNNFeatures.pooled`).

        flux_features (B, 20), pooled (B, 72) -> (B,). Equal to :meth:`forward` when ``pooled``
        is ``self.cnn.pooled(images)``.
        """
        return self.combine(self.mlp(flux_features), self.cnn.dense(pooled))


class HybridTransfer(Hybrid):
    """The hybrid graph with pretrained, partly frozen branches (paper Sect. 4.3).

    Call :meth:`load_pretrained` with the trained MLP's and CNN's state dicts; it copies them
    and freezes the first five MLP hidden layers and the CNN's convolutional part
    (:meth:`frozen_modules`). Frozen modules stay in inference mode (BatchNorm uses its running
    statistics and does not update them) even when the network is put in training mode.
    """

    def __init__(self, n_features: int = 20, n_bands: int = 7, n_head: int = 6) -> None:
        super().__init__(n_features, n_bands, n_head)
        self.frozen = False

    def frozen_modules(self) -> list[nn.Module]:
        """``mlp.dense_in``, ``mlp.hidden1`` ... ``mlp.hidden4``, ``cnn.stem``, ``cnn.inception1-3``."""
        return self.mlp.hidden_layers()[:5] + self.cnn.convolutional_layers()

    def freeze(self) -> None:
        """Stop gradients through :meth:`frozen_modules` and keep them in inference mode."""
        for module in self.frozen_modules():
            for p in module.parameters():
                p.requires_grad_(False)
        self.frozen = True
        self.train(self.training)

    def load_pretrained(self, mlp_state: Mapping[str, torch.Tensor],
                        cnn_state: Mapping[str, torch.Tensor], freeze: bool = True) -> None:
        """Copy trained branches in, then (by default) :meth:`freeze`.

        Parameters
        ----------
        mlp_state : mapping
            ``state_dict()`` of a trained :class:`photoz.models.mlp.MLP`; its ``features.*``
            entries are loaded into ``mlp`` (its Dense1 output layer is not part of the hybrid).
        cnn_state : mapping
            ``state_dict()`` of a trained :class:`photoz.models.cnn.CNN`; ``features.*`` into
            ``cnn`` (the Dense40 is loaded too and stays trainable).
        freeze : bool

        Raises
        ------
        RuntimeError
            If a state dict does not match the architecture (missing or unexpected keys).
        """
        for branch, state in ((self.mlp, mlp_state), (self.cnn, cnn_state)):
            sub = {k[len("features."):]: v for k, v in state.items() if k.startswith("features.")}
            branch.load_state_dict(sub, strict=True)
        if freeze:
            self.freeze()

    def train(self, mode: bool = True) -> HybridTransfer:
        """Set training mode, keeping frozen modules in inference mode."""
        super().train(mode)
        if getattr(self, "frozen", False):
            for module in self.frozen_modules():
                module.eval()
        return self
