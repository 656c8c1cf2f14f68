"""Small photometry tables and stamp shards that follow the data contract (tests, benchmarks).

A stand-in for the simulation and photometry stages with a learnable colour-redshift relation;
not a science simulation.
"""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pandas as pd

from photoz import BANDS
from photoz.features import aperture_flux_error


def write_toy_inputs(directory: str | Path, n_gal: int, instrument, seed: int,
                     stamp_size: int = 40, n_shards: int = 2,
                     fractions: tuple[float, float] = (0.7, 0.1)) -> tuple[Path, list[Path]]:
    """Write a small photometry table and stamp shards that follow docs/data_products.md §2-3.

    A stand-in for the simulation and photometry stages, used by the tests and the training
    benchmark: redshift z ~ 0.05 + Gamma(2, 0.35), a 4000 A break (a factor 4 drop in flux
    density blueward of 4000 A rest frame) moving through the bands, i-band AB mag 20-24.5,
    circular Gaussian galaxies whose size shrinks with z, and the eq. 4/eq. 6 noise.
    Not a science simulation; its only purpose is a learnable, contract-conforming input.

    Parameters
    ----------
    directory : path-like
        Created if needed; receives ``photometry.parquet`` and ``shard_<i>.h5``.
    n_gal : int
    instrument : photoz.instrument.Instrument
    seed : int
    stamp_size : int
        Side of the stored stamps (40 exercises cropping, < 32 padding).
    n_shards : int
    fractions : (float, float)
        Train and validation fractions; the rest is test.

    Returns
    -------
    photometry_path : Path
    shard_paths : list of Path
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    z = 0.05 + rng.gamma(2.0, 0.35, n_gal)
    mag_i = rng.uniform(20.0, 24.5, n_gal)
    pivot = instrument.pivot_wavelength()  # Angstrom
    rest = pivot[None, :] / (1 + z[:, None])
    # f_nu: red of the break 1, blue of it 0.25, smooth over ~300 A rest frame; plus a slope.
    fnu = 0.25 + 0.75 / (1 + np.exp(-(rest - 4000.0) / 150.0))
    fnu *= (pivot[None, :] / pivot[4]) ** rng.uniform(-0.5, 1.0, (n_gal, 1))
    mag = mag_i[:, None] - 2.5 * np.log10(fnu / fnu[:, [4]])
    true_flux = instrument.mag_to_electrons(mag)
    sigma_pix = np.clip(3.0 / (1 + z) * rng.lognormal(0, 0.3, n_gal), 0.7, 6.0)
    npix = np.pi * (2.5 * sigma_pix) ** 2
    err = aperture_flux_error(true_flux, npix, instrument.background_per_pixel(),
                              instrument.read_noise, np.asarray(instrument.n_exposures))
    flux = true_flux + rng.standard_normal(true_flux.shape) * err
    err = aperture_flux_error(flux, npix, instrument.background_per_pixel(),
                              instrument.read_noise, np.asarray(instrument.n_exposures))
    u = rng.uniform(size=n_gal)
    split = np.where(u < fractions[0], "train",
                     np.where(u < fractions[0] + fractions[1], "validation", "test"))
    object_id = 1000 + rng.permutation(n_gal * 3)[:n_gal].astype(np.int64)
    snr = flux / err
    table = {"object_id": object_id, "redshift": z, "split": split}
    for j, b in enumerate(BANDS):
        table[f"flux_{b}"] = flux[:, j]
        table[f"flux_err_{b}"] = err[:, j]
        with np.errstate(invalid="ignore", divide="ignore"):
            table[f"mag_{b}"] = instrument.electrons_to_mag(flux)[:, j]
        table[f"mag_err_{b}"] = 1.0857 / snr[:, j]
        table[f"snr_{b}"] = snr[:, j]
    table.update({"kron_radius": np.full(n_gal, 2.5), "a": sigma_pix, "b": sigma_pix,
                  "theta": np.zeros(n_gal), "npix": npix, "flag": [""] * n_gal,
                  "selected": (snr[:, 2] > 10) | (snr[:, 4] > 10)})
    photometry_path = directory / "photometry.parquet"
    pd.DataFrame(table).to_parquet(photometry_path, index=False)

    c = (stamp_size - 1) / 2.0
    yy, xx = np.mgrid[:stamp_size, :stamp_size]
    r2 = (yy - c) ** 2 + (xx - c * 0.9) ** 2  # slightly off-centre: an asymmetric test image
    noise = instrument.background_sigma().astype(np.float32)
    shard_paths = []
    for i, rows in enumerate(np.array_split(np.arange(n_gal), n_shards)):
        s = sigma_pix[rows][:, None, None]
        profile = np.exp(-r2[None] / (2 * s**2)) / (2 * np.pi * s**2)
        images = true_flux[rows][:, :, None, None] * profile[:, None]
        images = images + rng.standard_normal(images.shape) * noise[None, :, None, None]
        path = directory / f"shard_{i}.h5"
        with h5py.File(path, "w") as h5:
            h5.create_dataset("images", data=images.astype(np.float32))
            h5.create_dataset("object_id", data=object_id[rows])
            h5.create_dataset("noise_sigma", data=np.tile(noise, (len(rows), 1)))
            h5.attrs.update({"bands": list(BANDS), "pixel_scale": instrument.pixel_scale,
                             "seed": seed, "psf": "none", "stamp_size": stamp_size})
        shard_paths.append(path)
    return photometry_path, shard_paths
