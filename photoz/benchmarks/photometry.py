"""Photometry throughput benchmark: galaxy-bands per second of the aperture photometry.

It writes a truth table and one stamp shard (docs/outputs.md §1-2) of ``n_galaxies``
seven-band 64x64 stamps, then times, in this one process (i.e. per core):

- ``core``: :func:`photoz.photometry.kron.measure_stamps` on stamps already in memory (detection,
  Kron radius, 7-band apertures): the Kron photometry;
- ``matched``: :func:`photoz.photometry.matched.matched_fluxes` on the same stamps and the
  detection ellipses (the matched-filter flux the stage adds), and ``core + matched``;
- ``stage``: :func:`photoz.photometry.stage.measure_photometry` end to end (HDF5 reading, errors,
  selection, parquet and JSON writing).

Stamps: ``source="synthetic"`` (default, seconds to make) draws ``n_profiles`` Sersic galaxies
with GalSim (n 0.5-4, half-light radius 0.1-1.0", axis ratio 0.2-1, i-band AB 20-25.5, flat
colours, Gaussian PSF with R80 = 0.15"), reuses them with fresh Gaussian + Poisson noise of the
paper's eq. 4 level; ``source="simulate"`` runs :func:`photoz.simulate.simulate_shard` instead
(realistic but ~100 galaxies/s). The issue's target: >= 20,000 galaxy-bands/s per core.

Usage: ``python -m photoz.benchmarks.photometry --n-galaxies 4000``.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import galsim
import numpy as np

from photoz import BANDS
from photoz.benchmarks.toydata import truth_table, write_stamps, write_truth_table
from photoz.config import default_config
from photoz.instrument import load_instrument
from photoz.photometry.kron import measure_stamps
from photoz.photometry.matched import matched_fluxes
from photoz.photometry.stage import measure_photometry
from photoz.products.simulate import read_shard_ids, read_shard_rows

TARGET_GALAXY_BANDS_PER_S = 20_000.0
"""The issue's target per core (sep took about 10 us per galaxy-band here)."""


def synthetic_stamps(n_galaxies: int, instrument, stamp_size: int = 64, n_profiles: int = 64,
                     seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Noisy seven-band stamps of Sersic galaxies for timing.

    Parameters
    ----------
    n_galaxies : int
    instrument : photoz.instrument.Instrument
        Pixel scale, eq. 4 noise, zero points.
    stamp_size : int, pixels
    n_profiles : int
        Distinct noiseless galaxies drawn with GalSim and reused (drawing is not timed here).
    seed : int

    Returns
    -------
    images : ndarray, shape (n_galaxies, 7, stamp_size, stamp_size), float32, electrons
        Background-subtracted, Gaussian + source Poisson noise (eq. 4 background sigma).
    noise_sigma : ndarray, shape (n_galaxies, 7), float32, electrons
    """
    rng = np.random.default_rng(seed)
    # A circular Gaussian encloses 80% within sigma sqrt(2 ln 5): R80 = 0.15" (PAPER_SPEC §2).
    psf = galsim.Gaussian(sigma=0.15 / np.sqrt(2.0 * np.log(5.0)))
    gsp = galsim.GSParams(folding_threshold=2e-2, maxk_threshold=3e-3)
    profiles = np.empty((n_profiles, stamp_size, stamp_size))
    for k in range(n_profiles):
        gal = galsim.Sersic(n=rng.uniform(0.5, 4.0), half_light_radius=rng.uniform(0.1, 1.0),
                            gsparams=gsp).shear(q=rng.uniform(0.2, 1.0),
                                                beta=rng.uniform(0, 180) * galsim.degrees)
        profiles[k] = galsim.Convolve(gal, psf, gsparams=gsp).drawImage(
            nx=stamp_size, ny=stamp_size, scale=instrument.pixel_scale).array
    mags = rng.uniform(20.0, 25.5, n_galaxies)[:, None] + np.zeros(len(BANDS))
    flux = instrument.mag_to_electrons(mags)  # (n, 7)
    sigma = instrument.background_sigma()
    which = rng.integers(0, n_profiles, n_galaxies)
    images = np.empty((n_galaxies, len(BANDS), stamp_size, stamp_size), dtype=np.float32)
    for j in range(len(BANDS)):
        mean = profiles[which] * flux[:, j, None, None]
        shot = np.sqrt(np.clip(mean, 0.0, None))
        images[:, j] = mean + rng.standard_normal(mean.shape) * np.sqrt(shot**2 + sigma[j] ** 2)
    return images, np.tile(sigma, (n_galaxies, 1)).astype(np.float32)


def _write_inputs(tmp: Path, images: np.ndarray, noise_sigma: np.ndarray,
                  instrument) -> tuple[Path, Path]:
    n = images.shape[0]
    ids = np.arange(1, n + 1, dtype=np.int64)
    truth = write_truth_table(tmp / "truth.parquet", truth_table(ids, redshift=1.0))
    shard = write_stamps(tmp / "shard_0.h5", images, ids, noise_sigma, instrument.pixel_scale,
                         chunk_rows=1)
    return truth, shard


def _make_stamps(tmp: Path, source: str, n_galaxies: int, stamp_size: int, instrument,
                 seed: int) -> tuple[Path, Path, np.ndarray, np.ndarray]:
    """Truth table and stamp shard of :func:`run`, written in ``tmp``; the stamps; noise sigmas."""
    if source == "synthetic":
        images, sigma = synthetic_stamps(n_galaxies, instrument, stamp_size, seed=seed)
        truth, shard = _write_inputs(tmp, images, sigma, instrument)
    elif source == "simulate":
        from photoz.benchmarks.simulate import write_benchmark_truth
        from photoz.simulate.stage import simulate_shard

        truth = write_benchmark_truth(tmp / "truth.parquet", n_galaxies, instrument, seed)
        shard = tmp / "shard_0.h5"
        simulate_shard(truth, shard, 0, 1, instrument,
                       default_config({"simulate": {"stamp_size": stamp_size}})["simulate"], seed)
        _, _, images, sigma, _ = read_shard_rows(shard, read_shard_ids(shard))
    else:
        raise ValueError(f"source must be 'synthetic' or 'simulate', got {source!r}")
    return truth, shard, images, sigma


def _time_in_memory(images: np.ndarray, sigma: np.ndarray, cfg: dict,
                    repeat: int) -> tuple[float, float, float, float]:
    """Best wall and CPU seconds of the Kron photometry and of the matched filter (scaled to all).

    The matched filter runs on the stamps the Kron photometry measured (empty flag), and its
    time is scaled to all ``len(images)`` galaxies; each figure is the best of ``repeat`` runs.
    """
    kw = {"kron_factor": cfg["kron_factor"], "detection_bands": tuple(cfg["detection_bands"]),
          "detection_threshold": cfg["detection_threshold"]}
    best, best_cpu, best_m, best_m_cpu = np.inf, np.inf, np.inf, np.inf
    for _ in range(max(1, repeat)):
        t0, c0 = time.perf_counter(), time.process_time()
        res = measure_stamps(images, sigma, **kw)
        best = min(best, time.perf_counter() - t0)
        best_cpu = min(best_cpu, time.process_time() - c0)
        ok = np.flatnonzero(res["flag"] == "")
        ell = [res[k][ok] for k in ("x", "y", "a", "b", "theta")]
        t0, c0 = time.perf_counter(), time.process_time()
        matched_fluxes(images[ok], *ell)
        best_m = min(best_m, (time.perf_counter() - t0) * len(images) / max(len(ok), 1))
        best_m_cpu = min(best_m_cpu, (time.process_time() - c0) * len(images) / max(len(ok), 1))
    return best, best_cpu, best_m, best_m_cpu


def run(n_galaxies: int = 4000, stamp_size: int = 64, source: str = "synthetic",
        phot_cfg: dict | None = None, seed: int = 0, repeat: int = 3) -> dict:
    """Time the photometry of ``n_galaxies`` seven-band stamps in this process (one core).

    Parameters
    ----------
    n_galaxies : int
    stamp_size : int, pixels
    source : {"synthetic", "simulate"}
        Stamp maker (see the module docstring).
    phot_cfg : dict, optional
        ``photometry`` keys over the schema's defaults (:func:`photoz.config.default_config`).
    seed : int
    repeat : int
        The in-memory timing is the best of this many runs (the machine may be shared).

    Returns
    -------
    dict
        ``n_galaxies``, ``stamp_size``, ``source``, ``core_seconds`` (wall),
        ``core_cpu_seconds`` (this process's CPU time: the per-core figure on a busy machine),
        ``core_galaxy_bands_per_s`` (wall), ``core_galaxy_bands_per_cpu_s``,
        ``core_us_per_galaxy_band``, ``matched_seconds`` (scaled to all galaxies),
        ``matched_galaxy_bands_per_s`` and ``_per_cpu_s``, ``core_and_matched_galaxy_bands_per_s``
        and ``_per_cpu_s`` (Kron + matched, what the stage measures), ``stage_seconds``, ``stage_cpu_seconds``,
        ``stage_galaxy_bands_per_s``, ``n_measured``, ``n_selected``, ``target``,
        ``meets_target`` (wall-clock Kron + matched rate >= target).
    """
    instrument = load_instrument({})
    cfg = default_config({"photometry": phot_cfg or {}})["photometry"]
    with tempfile.TemporaryDirectory(prefix="photoz_bench_phot_") as tmp:
        tmp = Path(tmp)
        truth, shard, images, sigma = _make_stamps(tmp, source, n_galaxies, stamp_size, instrument,
                                                   seed)
        best, best_cpu, best_m, best_m_cpu = _time_in_memory(images, sigma, cfg, repeat)
        t0, c0 = time.perf_counter(), time.process_time()
        sel = measure_photometry(truth, [shard], tmp / "photometry.parquet",
                                 tmp / "selection.json", instrument, cfg)
        stage, stage_cpu = time.perf_counter() - t0, time.process_time() - c0
    n_gb = images.shape[0] * len(BANDS)
    return {
        "n_galaxies": int(images.shape[0]), "stamp_size": int(images.shape[-1]), "source": source,
        "core_seconds": best, "core_cpu_seconds": best_cpu,
        "core_galaxy_bands_per_s": n_gb / best,
        "core_galaxy_bands_per_cpu_s": n_gb / best_cpu,
        "core_us_per_galaxy_band": 1e6 * best / n_gb,
        "matched_seconds": best_m, "matched_galaxy_bands_per_s": n_gb / best_m,
        "matched_galaxy_bands_per_cpu_s": n_gb / best_m_cpu,
        "core_and_matched_galaxy_bands_per_s": n_gb / (best + best_m),
        "core_and_matched_galaxy_bands_per_cpu_s": n_gb / (best_cpu + best_m_cpu),
        "stage_seconds": stage, "stage_cpu_seconds": stage_cpu,
        "stage_galaxy_bands_per_s": n_gb / stage,
        "n_measured": sel["n_measured"], "n_selected": sel["n_selected"],
        "target": TARGET_GALAXY_BANDS_PER_S,
        "meets_target": bool(n_gb / (best + best_m) >= TARGET_GALAXY_BANDS_PER_S),
    }


def main(argv: list[str] | None = None) -> int:
    """Command line: run the benchmark and print galaxy-bands/s (and JSON with --json)."""
    p = argparse.ArgumentParser(prog="python -m photoz.benchmarks.photometry", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n-galaxies", type=int, default=4000)
    p.add_argument("--stamp-size", type=int, default=64)
    p.add_argument("--source", choices=["synthetic", "simulate"], default="synthetic")
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", action="store_true", help="also print the full result as JSON")
    args = p.parse_args(argv)
    res = run(args.n_galaxies, args.stamp_size, args.source, seed=args.seed, repeat=args.repeat)
    print(f"photometry: {res['n_galaxies']} galaxies, {res['stamp_size']}x{res['stamp_size']} "
          f"x 7 bands ({res['source']} stamps), one core")
    print(f"  Kron measurement: {res['core_galaxy_bands_per_s']:,.0f} galaxy-bands/s "
          f"({res['core_us_per_galaxy_band']:.1f} us per galaxy-band; "
          f"{res['core_galaxy_bands_per_cpu_s']:,.0f} per CPU-second)")
    print(f"  matched filter alone: {res['matched_galaxy_bands_per_s']:,.0f} galaxy-bands/s; "
          f"Kron + matched: {res['core_and_matched_galaxy_bands_per_s']:,.0f} "
          f"({res['core_and_matched_galaxy_bands_per_cpu_s']:,.0f} per CPU-second; target "
          f"{res['target']:,.0f}: {'met' if res['meets_target'] else 'NOT met'})")
    print(f"  whole stage incl. HDF5/parquet: {res['stage_galaxy_bands_per_s']:,.0f} "
          f"galaxy-bands/s ({res['stage_seconds']:.1f} s wall, {res['stage_cpu_seconds']:.1f} s "
          "CPU); 30,000 galaxies would take "
          f"{30000 * 7 / res['stage_galaxy_bands_per_s']:.0f} s")
    print(f"  measured {res['n_measured']}, selected {res['n_selected']} (SNR > 10 in g or i)")
    if args.json:
        print(json.dumps(res, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
