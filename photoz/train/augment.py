"""TODO docstring."""

from __future__ import annotations

import numpy as np
import torch

from photoz.photometry.noise import aperture_flux_error
from photoz.train.features import flux_features


def flux_realisations(flux: np.ndarray, flux_err: np.ndarray, npix: np.ndarray, instrument,
                      n_realisations: int, rng: np.random.Generator) -> np.ndarray:
    """MLP features of Gaussian flux realisations (paper Sect. 3 augmentation).

    F' = F + N(0, sigma_F) per band, the error of F' recomputed with the eq. 6 noise model
    (:func:`photoz.photometry.noise.aperture_flux_error` with the galaxy's aperture area), then the 20
    features of eq. 7. All realisations are drawn in one vectorised call.

    Parameters
    ----------
    flux, flux_err : ndarray, shape (n_gal, 7), electrons
        Measured fluxes and their errors.
    npix : ndarray, shape (n_gal,), pixels
        Aperture areas.
    instrument : photoz.instrument.Instrument
        Supplies background per pixel, read noise, exposures and the limiting flux.
    n_realisations : int
        Number of realisations (>= 1).
    rng : numpy.random.Generator

    Returns
    -------
    ndarray, shape (n_realisations, n_gal, 20), float32
    """
    n_gal = flux.shape[0]
    noisy = flux[None] + rng.standard_normal((n_realisations, n_gal, flux.shape[1])) * flux_err[None]
    noisy = noisy.reshape(-1, flux.shape[1])
    err = aperture_flux_error(noisy, np.tile(npix, n_realisations), instrument.background_per_pixel(),
                              instrument.read_noise, np.asarray(instrument.n_exposures))
    feats = flux_features(noisy, err, instrument.limiting_flux())
    return feats.reshape(n_realisations, n_gal, -1)


def d4_transform(images: torch.Tensor, k: int) -> torch.Tensor:
    """Element ``k`` (0-7) of the dihedral group D4 applied to the last two axes.

    k = 0-3: rotation by 90 k degrees; k = 4-7: the same rotations after a left-right flip.

    Parameters
    ----------
    images : Tensor, shape (..., H, H)
    k : int

    Returns
    -------
    Tensor, same shape
    """
    if not 0 <= k < 8:
        raise ValueError(f"D4 element must be 0-7, got {k}")
    x = torch.flip(images, dims=(-1,)) if k >= 4 else images
    return torch.rot90(x, k % 4, dims=(-2, -1))


class D4:
    """Per-sample random D4 transforms of a batch as a single ``gather``.

    The 8 pixel permutations of an ``size`` x ``size`` image are precomputed, so transforming a
    batch is one indexed copy whatever mix of elements it holds.

    Parameters
    ----------
    size : int
        Image side.
    device : torch.device or str
    """

    def __init__(self, size: int, device: torch.device | str = "cpu") -> None:
        grid = torch.arange(size * size).reshape(size, size)
        self.perms = torch.stack([d4_transform(grid, k).reshape(-1) for k in range(8)]).to(device)
        self.size = size

    def __call__(self, images: torch.Tensor, elements: torch.Tensor) -> torch.Tensor:
        """Apply element ``elements[i]`` to ``images[i]``.

        Parameters
        ----------
        images : Tensor, shape (B, C, size, size)
        elements : Tensor, shape (B,), int64 in 0-7

        Returns
        -------
        Tensor, shape (B, C, size, size)
        """
        b, c = images.shape[:2]
        index = self.perms[elements].unsqueeze(1).expand(b, c, -1)
        return torch.gather(images.reshape(b, c, -1), 2, index).reshape(images.shape)

    def take(self, pixels: torch.Tensor, index: torch.Tensor,
             elements: torch.Tensor | None) -> torch.Tensor:
        """Stamps ``index`` of a stored set, each transformed by its element, in one copy.

        The same values as ``self(images[index], elements)``, but read straight from the
        stamps' channels-last storage as one ``index_select`` of whole pixels (the C band values
        of a pixel are adjacent), and returned in channels-last memory, which is what the
        convolutions take. It replaces three copies of each batch (index, gather, the
        channels-last conversion) on the training path (issue 19).

        Parameters
        ----------
        pixels : Tensor, shape (n * size * size, C)
            The stored stamps ``images`` (n, C, size, size) as
            ``images.permute(0, 2, 3, 1).reshape(-1, C)`` (a view when ``images`` is channels
            last).
        index : Tensor, shape (B,), int64
            Stamps to take.
        elements : Tensor, shape (B,), int64 in 0-7, or None
            D4 element per stamp; None: the stamps as stored.

        Returns
        -------
        Tensor, shape (B, C, size, size), channels-last memory
        """
        hw = self.size * self.size
        if elements is None:
            offsets = torch.arange(hw, device=index.device).expand(len(index), -1)
        else:
            offsets = self.perms[elements]
        rows = (index.unsqueeze(1) * hw + offsets).reshape(-1)
        out = pixels.index_select(0, rows)
        return out.view(len(index), self.size, self.size, pixels.shape[1]).permute(0, 3, 1, 2)
