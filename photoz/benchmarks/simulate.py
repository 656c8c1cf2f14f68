"""Simulation throughput benchmark: galaxies per second of :func:`photoz.simulate.simulate_shard`.

It writes a truth table that follows docs/outputs.md §1 with realistic morphologies
(:func:`photoz.catalog.morphology.assign_morphology`: Shen et al. 2003 sizes, Sersic indices of discs
and spheroids) and i-band magnitudes 20-25, then runs ``n_workers`` shards in parallel processes,
as Snakemake runs the ``simulate_images`` jobs, and reports the overall galaxies per second and
the peak resident memory of each shard process. Printed numbers, not a timed test.

Usage: ``python -m photoz.benchmarks.simulate --n-galaxies 4000 --workers 2``.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import resource
import tempfile
import time
from pathlib import Path

from photoz.config import default_config
from photoz.instrument import load_instrument
from photoz.paper import PAPER_N_SELECTED
from photoz.products.catalog import read_truth
from photoz.simulate.stage import simulate_shard


def write_benchmark_truth(path: str | Path, n_galaxies: int, instrument, seed: int = 0) -> Path:
    """A synthetic truth table (docs/outputs.md §1) for timing the simulation.

    Parameters
    ----------
    path : str or Path
    n_galaxies : int
    instrument : photoz.instrument.Instrument
    seed : int

    Returns
    -------
    Path
        Redshift 0.05 + Gamma(2, 0.35); rest-frame M_r ~ N(-20.5, 1.2); 25% early types;
        i-band AB 20-25 with flat colours (fluxes via :meth:`Instrument.mag_to_electrons`).
    """
    from photoz.benchmarks.toydata import synthetic_truth, write_truth_table

    return write_truth_table(path, synthetic_truth(n_galaxies, instrument, seed), seed, "benchmark")


def _worker(args: tuple) -> dict:
    truth, out, index, n_shards, sim_cfg, seed, data_dir = args
    stats = simulate_shard(truth, out, index, n_shards, None, sim_cfg, seed, data_dir=data_dir)
    stats["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    return stats


def run(n_galaxies: int = 4000, workers: int = 2, sim_cfg: dict | None = None, seed: int = 0,
        data_dir: str | None = None, truth_path: str | None = None) -> dict:
    """Time the simulation of ``n_galaxies`` split into ``workers`` parallel shards.

    Parameters
    ----------
    n_galaxies : int
        Size of the synthetic truth table (ignored with ``truth_path``).
    workers : int
        Shards = processes run at once (2 for this project's 2-core machine).
    sim_cfg : dict, optional
        ``simulate`` keys over the schema's defaults (:func:`photoz.config.default_config`:
        64 x 64, Gaussian PSF, noise).
    seed : int
    data_dir : str, optional
        For ``psf: images``.
    truth_path : str, optional
        Time a real truth table instead of the synthetic one.

    Returns
    -------
    dict
        ``n_galaxies``, ``workers``, ``seconds`` (wall), ``galaxies_per_s`` (overall),
        ``ms_per_galaxy_per_core`` (wall), ``cpu_ms_per_galaxy`` (CPU time of the shard
        processes per galaxy), ``projected_galaxies_per_s`` (``workers`` idle cores at that CPU
        time: the figure to quote when other jobs share the machine), ``load_average`` (1-min,
        before and after), ``peak_rss_mb`` (largest shard process), ``shards``, ``sim_cfg``.
    """
    sim_cfg = default_config({"simulate": sim_cfg or {}})["simulate"]
    with tempfile.TemporaryDirectory(prefix="photoz_bench_sim_") as tmp:
        tmp = Path(tmp)
        if truth_path is None:
            truth = write_benchmark_truth(tmp / "truth.parquet", n_galaxies, load_instrument({}),
                                          seed)
        else:
            truth = Path(truth_path)
        n_total = len(read_truth(truth, ["object_id"]))
        jobs = [(truth, tmp / f"shard_{i}.h5", i, workers, sim_cfg, seed, data_dir)
                for i in range(workers)]
        load_before = os.getloadavg()[0]
        t0 = time.perf_counter()
        if workers == 1:
            shards = [_worker(jobs[0])]
        else:
            with mp.get_context("fork").Pool(workers) as pool:
                shards = pool.map(_worker, jobs)
        seconds = time.perf_counter() - t0
    cpu_ms = 1e3 * sum(s["cpu_seconds"] for s in shards) / max(n_total, 1)
    return {
        "n_galaxies": n_total, "workers": workers, "seconds": seconds,
        "galaxies_per_s": n_total / seconds,
        "ms_per_galaxy_per_core": 1e3 * seconds * workers / max(n_total, 1),
        "cpu_ms_per_galaxy": cpu_ms,
        "projected_galaxies_per_s": 1e3 * workers / cpu_ms if cpu_ms > 0 else float("nan"),
        "load_average": [load_before, os.getloadavg()[0]],
        "peak_rss_mb": max(s["peak_rss_mb"] for s in shards),
        "shards": shards, "sim_cfg": sim_cfg,
    }


def main(argv: list[str] | None = None) -> int:
    """Command line: run the benchmark and print galaxies/s and peak memory (and JSON)."""
    p = argparse.ArgumentParser(prog="python -m photoz.benchmarks.simulate", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n-galaxies", type=int, default=4000)
    p.add_argument("--workers", type=int, default=2, help="parallel shard processes (cores)")
    p.add_argument("--psf", choices=["gaussian", "none", "images"], default="gaussian")
    p.add_argument("--stamp-size", type=int, default=64)
    p.add_argument("--no-noise", action="store_true")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--data-dir", default="../shared/data", help="for --psf images")
    p.add_argument("--truth", default=None, help="time this truth table instead")
    p.add_argument("--json", action="store_true", help="also print the full result as JSON")
    args = p.parse_args(argv)
    cfg = {"psf": args.psf, "stamp_size": args.stamp_size, "add_noise": not args.no_noise}
    res = run(args.n_galaxies, args.workers, cfg, args.seed, args.data_dir, args.truth)
    print(f"simulate: {res['n_galaxies']} galaxies, {res['workers']} shard processes, "
          f"psf={args.psf}, {args.stamp_size}x{args.stamp_size} x 7 bands")
    print(f"  {res['galaxies_per_s']:.1f} galaxies/s overall "
          f"({res['ms_per_galaxy_per_core']:.2f} ms per galaxy per core), {res['seconds']:.1f} s")
    print(f"  CPU time {res['cpu_ms_per_galaxy']:.2f} ms per galaxy: "
          f"{res['projected_galaxies_per_s']:.1f} galaxies/s on {res['workers']} idle cores "
          f"(1-min load average {res['load_average'][0]:.1f} -> {res['load_average'][1]:.1f})")
    print(f"  peak memory per shard process: {res['peak_rss_mb']:.0f} MB")
    print(f"  {PAPER_N_SELECTED:,} galaxies (the paper's sample) would take "
          f"{PAPER_N_SELECTED / res['galaxies_per_s'] / 60:.1f} min")
    if args.json:
        print(json.dumps(res, indent=2, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
