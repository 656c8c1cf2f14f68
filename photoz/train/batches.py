"""Batch providers: what one training epoch feeds each kind of network, and how it is validated.

One provider per input kind, each holding its tensors on the training device. A provider yields
``(args, z)`` per batch (:meth:`batches`, ``args`` in the network's call order), computes the
network's output from them (:meth:`forward`, with the autocast dtype :attr:`autocast`) and its
photo-z of the validation galaxies (:meth:`validate`), so that the loop
(:func:`photoz.train.loop.fit`) never asks which kind of network it trains:

- :class:`FluxBatches` (MLP): the paper's enlarged table, every (flux realisation, galaxy) pair
  once per epoch (Zhou et al. 2022, Sect. 3: 50 Gaussian realisations per training galaxy).
- :class:`ImageBatches` (CNN) and :class:`FluxImageBatches` (hybrid): ``passes`` passes over
  the training galaxies per epoch, each visit with a fresh random D4 element of the stamps
  and (hybrid) fresh random flux realisations (``flux_draws`` per stamp, sharing one CNN pass).
- :class:`FluxPooledBatches` (hybrid-transfer with frozen CNN): like the hybrid, but the
  frozen convolutional part's pooled output is precomputed for each galaxy and D4 element, so
  an epoch costs little more than an MLP epoch and can visit every flux realisation.

Our own code because the data already sit in memory as whole tensors
(:mod:`photoz.train.inputs`): a batch is an index, a D4 transform one ``gather``, with no
per-sample Python and no loader processes (a ``DataLoader`` over this would only add copies).
All randomness comes from the ``torch.Generator`` passed to :meth:`batches`.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch

from photoz.train.augment import D4
from photoz.train.inference import predict_tensors

Batch = tuple[tuple[torch.Tensor, ...], torch.Tensor]


class _Provider:
    """Shared bookkeeping: ``n_per_epoch`` samples in batches of ``batch_size``; the plain forward
    pass; validation by :func:`photoz.train.inference.predict_tensors` (no D4 mean: it would cost
    the CNN and hybrid ~9% more time per epoch, and the best epoch of a cosine schedule is one of
    the last either way)."""

    n_per_epoch: int
    batch_size: int
    #: Autocast dtype of the training forward pass (None: float32).
    autocast: torch.dtype | None = None
    val_flux: torch.Tensor | None = None
    val_images: torch.Tensor | None = None

    def forward(self, model: torch.nn.Module, *args: torch.Tensor) -> torch.Tensor:
        """The network's raw output for one batch's ``args``."""
        return model(*args)

    def validate(self, model: torch.nn.Module) -> np.ndarray:
        """Raw outputs for the validation galaxies, shape (n_val,) or (n_val, 3 K)."""
        device = self.val_flux.device
        return predict_tensors(model, self.val_flux, self.val_images, device, tta=False,
                               autocast=self.autocast)

    @property
    def n_batches(self) -> int:
        """Batches per epoch (the last one may be short, but not a single sample: BatchNorm
        cannot normalise one sample in training, so a lone last sample is left out of the epoch;
        the next epoch's shuffle gives it a batch)."""
        full, rest = divmod(self.n_per_epoch, self.batch_size)
        return full + (rest > 1 or (rest == 1 and full == 0))

    def _slices(self) -> Iterator[slice]:
        for b in range(self.n_batches):
            yield slice(b * self.batch_size, (b + 1) * self.batch_size)


class FluxBatches(_Provider):
    """MLP batches: every (realisation, galaxy) pair of the flux pool once per epoch.

    Parameters
    ----------
    pool : Tensor, shape (R, n_gal, 20)
        Eq. 7 features of R flux realisations of each training galaxy (R = 1: the measured
        fluxes).
    z : Tensor, shape (n_gal,)
        True redshifts.
    batch_size : int
    val_flux : Tensor, shape (n_val, 20), optional
        Features of the validation galaxies (:meth:`validate`).
    """

    def __init__(self, pool: torch.Tensor, z: torch.Tensor, batch_size: int,
                 val_flux: torch.Tensor | None = None) -> None:
        self.val_flux = val_flux
        self.flux = pool.reshape(-1, pool.shape[-1])
        self.z = z.repeat(pool.shape[0])
        self.n_per_epoch = self.flux.shape[0]
        self.batch_size = int(batch_size)

    def batches(self, gen: torch.Generator) -> Iterator[Batch]:
        """One epoch of ``((flux,), z)`` batches in a random order drawn from ``gen``."""
        perm = torch.randperm(self.n_per_epoch, generator=gen).to(self.flux.device)
        for sl in self._slices():
            idx = perm[sl]
            yield (self.flux[idx],), self.z[idx]


class _GalaxyPasses(_Provider):
    """``passes`` passes over ``n_gal`` galaxies; per visit a realisation and a D4 element."""

    def __init__(self, n_gal: int, z: torch.Tensor, batch_size: int, passes: int,
                 n_realisations: int, augment_images: bool) -> None:
        self.n_gal, self.z = int(n_gal), z
        self.passes = int(passes)
        self.n_per_epoch = self.n_gal * self.passes
        self.batch_size = int(batch_size)
        self.n_realisations = int(n_realisations)
        self.augment_images = bool(augment_images)

    def _draws(self, gen: torch.Generator, device: torch.device):
        perm = torch.cat([torch.randperm(self.n_gal, generator=gen) for _ in range(self.passes)])
        real = torch.randint(self.n_realisations, (self.n_per_epoch,), generator=gen)
        if self.augment_images:
            elements = torch.randint(8, (self.n_per_epoch,), generator=gen)
        else:
            elements = torch.zeros(self.n_per_epoch, dtype=torch.long)
        return perm.to(device), real.to(device), elements.to(device)


class ImageBatches(_GalaxyPasses):
    """CNN batches: stamps with a random D4 element per visit.

    Parameters
    ----------
    images : Tensor, shape (n_gal, 7, S, S)
        Scaled stamps of the training galaxies (on the training device).
    z : Tensor, shape (n_gal,)
    batch_size : int
    passes : int
        Passes over the training galaxies per epoch.
    augment_images : bool
        Random D4 elements (paper Sect. 3); False: the stamps as they are.
    val_flux : Tensor, shape (n_val, 20), optional
    val_images : Tensor, shape (n_val, 7, S, S), optional
        The validation galaxies' inputs (:meth:`validate`).
    autocast : torch.dtype, optional
        Autocast dtype of the forward pass (:func:`photoz.train.settings.resolve_precision`).
    """

    def __init__(self, images: torch.Tensor, z: torch.Tensor, batch_size: int, passes: int,
                 augment_images: bool, val_flux: torch.Tensor | None = None,
                 val_images: torch.Tensor | None = None,
                 autocast: torch.dtype | None = None) -> None:
        super().__init__(images.shape[0], z, batch_size, passes, 1, augment_images)
        self.val_flux, self.val_images, self.autocast = val_flux, val_images, autocast
        self.images = images
        self.d4 = D4(images.shape[-1], images.device)
        # whole pixels (C band values each) as rows: a view of channels-last stamps, else a copy
        self._pixels = images.permute(0, 2, 3, 1).reshape(-1, images.shape[1])

    def _image(self, idx: torch.Tensor, elements: torch.Tensor) -> torch.Tensor:
        """The batch's stamps, D4-transformed, channels-last: one copy (:meth:`D4.take`)."""
        return self.d4.take(self._pixels, idx, elements if self.augment_images else None)

    def batches(self, gen: torch.Generator) -> Iterator[Batch]:
        """One epoch of ``((images,), z)`` batches."""
        perm, _, elements = self._draws(gen, self.images.device)
        for sl in self._slices():
            idx = perm[sl]
            yield (self._image(idx, elements[sl]),), self.z[idx]


class FluxImageBatches(ImageBatches):
    """Hybrid batches: a random flux realisation and a random D4 element per visit.

    Parameters
    ----------
    pool : Tensor, shape (R, n_gal, 20)
        Flux-feature realisations (see :class:`FluxBatches`).
    images : Tensor, shape (n_gal, 7, S, S)
    z, batch_size, passes, augment_images, val_flux, val_images, autocast
        As for :class:`ImageBatches`.
    flux_draws : int
        Flux realisations per stamp visit, sharing one CNN pass (``train.flux_draws_per_stamp``).
    """

    def __init__(self, pool: torch.Tensor, images: torch.Tensor, z: torch.Tensor,
                 batch_size: int, passes: int, augment_images: bool,
                 flux_draws: int = 1, val_flux: torch.Tensor | None = None,
                 val_images: torch.Tensor | None = None,
                 autocast: torch.dtype | None = None) -> None:
        super().__init__(images, z, batch_size, passes, augment_images, val_flux, val_images,
                         autocast)
        self.pool = pool
        self.n_realisations = pool.shape[0]
        self.flux_draws = int(flux_draws)

    def batches(self, gen: torch.Generator) -> Iterator[Batch]:
        """One epoch of ``((flux, images), z)`` batches.

        With ``flux_draws`` k > 1 each stamp comes with k random flux realisations: ``flux``
        has k B rows, realisation-major, and ``z`` is repeated to match
        (:meth:`photoz.models.hybrid.Hybrid.forward` runs the CNN branch once per stamp).
        """
        perm, real, elements = self._draws(gen, self.images.device)
        k = self.flux_draws
        for sl in self._slices():
            idx = perm[sl]
            if k > 1:
                extra = torch.randint(self.n_realisations, ((k - 1) * len(idx),), generator=gen)
                reals = torch.cat([real[sl], extra.to(real.device)])
                flux = self.pool[reals, idx.repeat(k)]
                yield (flux, self._image(idx, elements[sl])), self.z[idx].repeat(k)
            else:
                yield (self.pool[real[sl], idx], self._image(idx, elements[sl])), self.z[idx]


class FluxPooledBatches(_GalaxyPasses):
    """Hybrid-transfer batches over precomputed pooled CNN features.

    Parameters
    ----------
    pool : Tensor, shape (R, n_gal, 20)
        Flux-feature realisations.
    pooled : Tensor, shape (8, n_gal, 72)
        The frozen CNN's pooled output for each D4 element of each galaxy's stamp
        (:meth:`photoz.models.cnn.CNNFeatures.pooled`), element 0 the untransformed stamp.
    z : Tensor, shape (n_gal,)
    batch_size : int
    passes : int
        Passes over the training galaxies per epoch.
    augment_images : bool
        Random D4 elements; False uses element 0 only.
    val_flux : Tensor, shape (n_val, 20), optional
    val_pooled : Tensor, shape (8, n_val, 72), optional
        The validation galaxies' features and pooled CNN output (:meth:`validate`).
    tta : bool
        Validate on the mean over the 8 D4 elements (cheap here: the pooled features exist).
    """

    def __init__(self, pool: torch.Tensor, pooled: torch.Tensor, z: torch.Tensor,
                 batch_size: int, passes: int, augment_images: bool,
                 val_flux: torch.Tensor | None = None, val_pooled: torch.Tensor | None = None,
                 tta: bool = False) -> None:
        super().__init__(pool.shape[1], z, batch_size, passes, pool.shape[0], augment_images)
        self.pool, self.pooled = pool, pooled
        self.val_flux, self.val_pooled, self.tta = val_flux, val_pooled, bool(tta)

    def forward(self, model: torch.nn.Module, *args: torch.Tensor) -> torch.Tensor:
        """``model.forward_pooled(flux, pooled)``: the unfrozen layers on the frozen features."""
        return model.forward_pooled(*args)

    @torch.no_grad()
    def validate(self, model: torch.nn.Module) -> np.ndarray:
        """Raw outputs for the validation galaxies (mean over the D4 elements with ``tta``)."""
        model.eval()
        elements = range(8) if self.tta else (0,)
        z = sum(model.forward_pooled(self.val_flux, self.val_pooled[k]).double() for k in elements)
        return (z / len(elements)).cpu().numpy()

    def batches(self, gen: torch.Generator) -> Iterator[Batch]:
        """One epoch of ``((flux, pooled), z)`` batches (call ``model.forward_pooled``)."""
        perm, real, elements = self._draws(gen, self.pool.device)
        for sl in self._slices():
            idx = perm[sl]
            yield (self.pool[real[sl], idx], self.pooled[elements[sl], idx]), self.z[idx]
