"""The one generator of small, contract-conforming data products for tests and benchmarks.

Every fake truth table, stamp shard, photometry table, history and predictions table of the tests
and benchmarks comes from here and is written through the writers of :mod:`photoz.products`, so a
change of a product's layout shows up in one place:

- :func:`truth_table` / :func:`write_truth_table`: a truth table (docs/outputs.md §1) with
  every column; the caller gives the ones it cares about, the rest get harmless defaults.
- :func:`synthetic_truth`: a truth table with realistic redshifts, morphologies and fluxes (the
  simulation benchmark).
- :func:`write_stamps`: a stamp shard (§2) of given images.
- :func:`write_toy_inputs`: a photometry table (§3) with a learnable colour-redshift relation and
  its stamp shards; a stand-in for the simulation and photometry stages, not a science simulation.
- :func:`write_history`, :func:`write_toy_predictions`: §4 products.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from photoz import BANDS
from photoz.photometry.noise import aperture_flux_error
from photoz.products.catalog import MORPH_COLUMNS, TRUTH_COLUMNS, write_truth
from photoz.products.photometry import (
    MATCHED_SHAPE_COLUMNS,
    MATCHED_TEMPLATES,
    PHOTOMETRY_COLUMNS,
    write_photometry,
)
from photoz.products.simulate import write_shard
from photoz.products.train import write_predictions

#: Defaults of :func:`truth_table` for the columns a caller leaves out (a round, face-on
#: exponential disc of 0.3" with 1000 e- in every band, no real image).
TRUTH_FILL = {"redshift": 0.5, "split": "train", "sed_template": "Sc_A_0", "sed_amplitude": 1.0,
              "ebv": 0.0, "sersic_n": 1.0, "half_light_radius": 0.3, "axis_ratio": 1.0,
              "position_angle": 0.0, "real_image_index": -1}
#: ``flux_<band>`` default of :func:`truth_table`, electrons.
TRUTH_FLUX = 1000.0


def truth_table(object_id, **columns) -> pd.DataFrame:
    """A truth table with every column of :data:`photoz.products.catalog.TRUTH_COLUMNS`, in order.

    Parameters
    ----------
    object_id : array-like (n,) int
    **columns
        Values (scalars or arrays of length n) of any truth-table columns; ``flux`` (scalar,
        (7,) or (n, 7)) sets every ``flux_<band>``. Missing ones take :data:`TRUTH_FILL`,
        ``flux_<band>`` = :data:`TRUTH_FLUX` and ``mag_<band>`` = 24.

    Returns
    -------
    pandas.DataFrame
    """
    object_id = np.asarray(object_id, dtype=np.int64)
    n = len(object_id)
    flux = columns.pop("flux", TRUTH_FLUX)
    flux = np.broadcast_to(np.asarray(flux, dtype=float), (n, len(BANDS)))
    data = {"object_id": object_id}
    for col in TRUTH_COLUMNS[1:]:
        if col in columns:
            value = columns.pop(col)
        elif col.startswith("flux_"):
            value = flux[:, BANDS.index(col[5:])]
        elif col.startswith("mag_"):
            value = 24.0
        else:
            value = TRUTH_FILL[col]
        data[col] = np.broadcast_to(np.asarray(value), (n,)).copy()
    if columns:
        raise ValueError(f"truth_table: not truth-table columns: {sorted(columns)}")
    df = pd.DataFrame(data)
    df["split"] = df["split"].astype(str)
    df["sed_template"] = df["sed_template"].astype(str)
    df["real_image_index"] = df["real_image_index"].astype(np.int64)
    for col in df.columns:
        if col not in ("object_id", "split", "sed_template", "real_image_index"):
            df[col] = df[col].astype(float)
    return df


def write_truth_table(path: str | Path, table: pd.DataFrame, seed: int = 0,
                      source: str = "toy") -> Path:
    """Write ``table`` (:func:`truth_table`) with the truth table's writer; return the path."""
    write_truth(table, path, {"source": source, "seed": int(seed),
                                       "sed_library": "cosmos"})
    return Path(path)


def synthetic_truth(n_galaxies: int, instrument, seed: int = 0) -> pd.DataFrame:
    """A realistic synthetic truth table (timing the simulation; not a science catalogue).

    Redshift 0.05 + Gamma(2, 0.35); rest-frame M_r ~ N(-20.5, 1.2); 25% early types (sizes and
    Sersic indices from :func:`photoz.catalog.morphology.assign_morphology`); i-band AB 20-25 with flat
    colours (fluxes via :meth:`Instrument.mag_to_electrons`); object ids 1..n.
    """
    from photoz.catalog.morphology import assign_morphology

    rng = np.random.default_rng(seed)
    n = int(n_galaxies)
    z = 0.05 + rng.gamma(2.0, 0.35, n)
    early = rng.uniform(size=n) < 0.25
    morph = assign_morphology(z, rng.normal(-20.5, 1.2, n), early, rng)
    mag = rng.uniform(20.0, 25.0, n)[:, None] + np.zeros(len(BANDS))
    flux = instrument.mag_to_electrons(mag)
    cols = {f"mag_{b}": mag[:, j] for j, b in enumerate(BANDS)}
    cols.update({c: morph[c].to_numpy(float) for c in MORPH_COLUMNS})
    return truth_table(np.arange(1, n + 1, dtype=np.int64), redshift=z, split="train",
                       sed_template="benchmark", flux=flux, **cols)


def write_stamps(path: str | Path, images, object_id, noise_sigma, pixel_scale: float = 0.074,
                 seed: int = 0, psf: str = "none", chunk_rows: int | None = None) -> Path:
    """Write a stamp shard (docs/outputs.md §2) of the given stamps with its writer.

    Parameters
    ----------
    images : array-like (N, 7, H, W), electrons
    object_id : array-like (N,) int
    noise_sigma : array-like (N, 7) or (7,), electrons
    pixel_scale : float, arcsec
    chunk_rows : int or None
        HDF5 chunk length along N (None: the writer's default, 8).
    """
    images = np.asarray(images, dtype=np.float32)
    n = images.shape[0]
    sigma = np.broadcast_to(np.asarray(noise_sigma, dtype=np.float32), (n, len(BANDS)))
    attrs = {"bands": list(BANDS), "pixel_scale": float(pixel_scale), "seed": int(seed),
             "psf": psf, "stamp_size": int(images.shape[-1])}
    with write_shard(path, object_id, images.shape[2:], attrs, chunk_rows) as (im, sg):
        if n:
            im[...] = images
            sg[...] = sigma
    return Path(path)


def write_toy_predictions(path: str | Path, z_true, z_pred, split, object_id=None,
                          input_flux: str | None = None) -> Path:
    """Write a predictions table (docs/outputs.md §4) with its writer; return the path.

    ``input_flux`` (``kron``, ``matched``, ``none``) goes into its metadata, as the networks and
    peers write it.
    """
    z_true = np.asarray(z_true, dtype=float)
    if object_id is None:
        object_id = np.arange(len(z_true), dtype=np.int64)
    frame = pd.DataFrame({"object_id": np.asarray(object_id, dtype=np.int64), "z_true": z_true,
                          "z_pred": np.asarray(z_pred, dtype=float),
                          "split": np.broadcast_to(np.asarray(split, dtype=str), z_true.shape)})
    write_predictions(frame, path, None if input_flux is None else {"input_flux": input_flux})
    return Path(path)


def add_matched_columns(table) -> None:
    """Fill a fake photometry table's matched-filter columns with its Kron ones (in place).

    A toy stand-in: the contract (:data:`photoz.products.photometry.PHOTOMETRY_COLUMNS`) holds both fluxes;
    the toy tables carry one measurement, so the matched columns repeat it (``npix_matched`` =
    ``npix``, the weight's sigmas = the ellipse's ``a`` and ``b``).

    Parameters
    ----------
    table : dict or pandas.DataFrame
        With ``flux_<b>``, ``flux_err_<b>``, ``mag_<b>``, ``mag_err_<b>``, ``snr_<b>``, ``npix``,
        ``a`` and ``b``.
    """
    for key, tpl in MATCHED_TEMPLATES.items():
        for b in BANDS:
            table[tpl.format(band=b)] = table[f"{key}_{b}"]
    for name, src in zip(MATCHED_SHAPE_COLUMNS, ("npix", "a", "b"), strict=True):
        table[name] = table[src]


def write_toy_inputs(directory: str | Path, n_gal: int, instrument, seed: int,
                     stamp_size: int = 40, n_shards: int = 2,
                     fractions: tuple[float, float] = (0.7, 0.1)) -> tuple[Path, list[Path]]:
    """Write a small photometry table and stamp shards that follow docs/outputs.md §2-3.

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
    z, true_flux, flux, err, sigma_pix, npix = _toy_fluxes(rng, n_gal, instrument)
    u = rng.uniform(size=n_gal)
    split = np.where(u < fractions[0], "train",
                     np.where(u < fractions[0] + fractions[1], "validation", "test"))
    object_id = 1000 + rng.permutation(n_gal * 3)[:n_gal].astype(np.int64)
    photometry_path = directory / "photometry.parquet"
    _write_toy_photometry(photometry_path, object_id, z, split, flux, err, sigma_pix, npix,
                          instrument)
    shard_paths = _write_toy_stamps(directory, rng, true_flux, sigma_pix, object_id, instrument,
                                    stamp_size, n_shards, seed)
    return photometry_path, shard_paths


def _toy_fluxes(rng: np.random.Generator, n_gal: int, instrument) -> tuple[np.ndarray, ...]:
    """Redshifts, true and noisy fluxes, errors, Gaussian sigmas (pixels) and aperture areas.

    The galaxies of :func:`write_toy_inputs` (its first draws from ``rng``, in order).
    """
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
    return z, true_flux, flux, err, sigma_pix, npix


def _write_toy_photometry(path: Path, object_id: np.ndarray, z: np.ndarray, split: np.ndarray,
                          flux: np.ndarray, err: np.ndarray, sigma_pix: np.ndarray,
                          npix: np.ndarray, instrument) -> None:
    """Write the photometry table of :func:`write_toy_inputs` (circular apertures, Kron 2.5)."""
    n_gal = len(object_id)
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
    add_matched_columns(table)
    write_photometry(pd.DataFrame(table)[list(PHOTOMETRY_COLUMNS)], path, {"source": "toy"})


def _write_toy_stamps(directory: Path, rng: np.random.Generator, true_flux: np.ndarray,
                      sigma_pix: np.ndarray, object_id: np.ndarray, instrument, stamp_size: int,
                      n_shards: int, seed: int) -> list[Path]:
    """Write the stamp shards of :func:`write_toy_inputs`: noisy circular Gaussians."""
    c = (stamp_size - 1) / 2.0
    yy, xx = np.mgrid[:stamp_size, :stamp_size]
    r2 = (yy - c) ** 2 + (xx - c * 0.9) ** 2  # slightly off-centre: an asymmetric test image
    noise = instrument.background_sigma().astype(np.float32)
    shard_paths = []
    for i, rows in enumerate(np.array_split(np.arange(len(object_id)), n_shards)):
        s = sigma_pix[rows][:, None, None]
        profile = np.exp(-r2[None] / (2 * s**2)) / (2 * np.pi * s**2)
        images = true_flux[rows][:, :, None, None] * profile[:, None]
        images = images + rng.standard_normal(images.shape) * noise[None, :, None, None]
        path = write_stamps(directory / f"shard_{i}.h5", images, object_id[rows], noise,
                            instrument.pixel_scale, seed)
        shard_paths.append(path)
    return shard_paths
