"""Seeds benchmark: each network trained with several seeds on a run's products; mean +- sd.

Accuracy claims rest on this, not on one run: the default run's photometry table and stamp
shards (``results/photometry/photometry.parquet``, ``results/images/shard_*.h5``), its split and
its test galaxies, the config merged exactly as Snakemake merges it (``config/config.yaml``,
then each ``--configfile``), and only the training seed changed. Every network of
``train.networks`` is trained per seed (hybrid_transfer from that seed's MLP and CNN), scored on
the test split with :func:`photoz.evaluate.metrics.sigma_nmad` and :func:`photoz.evaluate.metrics.outlier_fraction`,
and the table prints mean +- sample standard deviation over seeds and the ratio of each mean
to the MLP's.

Usage: ``python -m photoz benchmark seeds [--seeds 1,2,3] [--jobs 2] [--configfile F ...]``.
It takes about three default runs' training time (about 30 min on 2 cores, measured 2026-12-01).
"""

from __future__ import annotations

import argparse
import logging
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

from photoz.io import write_json

DEFAULT_SEEDS = (1, 2, 3)


def _train_one(net: str, seed: int, config: dict, results: str, out: str) -> dict:
    """Train ``net`` with ``seed`` into ``out/seed<seed>/``; return its test metrics."""
    from photoz.evaluate.metrics import outlier_fraction, sigma_nmad
    from photoz.instrument import load_instrument
    from photoz.products.train import read_predictions
    from photoz.train.network import train_network

    d = Path(out) / f"seed{seed}"
    d.mkdir(parents=True, exist_ok=True)
    logging.basicConfig(filename=d / f"{net}.log", level=logging.INFO, force=True,
                        format="%(asctime)s %(name)s %(message)s")
    res = Path(results)
    shards = sorted(str(p) for p in (res / "images").glob("shard_*.h5"))
    pre = {"mlp": d / "mlp.pt", "cnn": d / "cnn.pt"} if net == "hybrid_transfer" else None
    t0 = time.perf_counter()
    s = train_network(net, res / "photometry" / "photometry.parquet", shards, d / f"{net}.pt",
                      d / f"{net}_history.csv", d / f"{net}.parquet", config["train"],
                      load_instrument(config["instrument"]), seed=seed, threads=1,
                      pretrained=pre)
    pred = read_predictions(d / f"{net}.parquet", split="test")
    return {"net": net, "seed": seed,
            "sigma_nmad": sigma_nmad(pred["z_pred"], pred["z_true"]),
            "outlier_fraction": outlier_fraction(pred["z_pred"], pred["z_true"]),
            "epochs_run": s["epochs_run"], "best_epoch": s["best_epoch"],
            "seconds": time.perf_counter() - t0, "n_test": len(pred)}


def summarise(rows: list[dict]) -> dict:
    """Mean and sample standard deviation per network, and the ratio of means to the MLP's.

    Parameters
    ----------
    rows : list of dict
        ``net``, ``seed``, ``sigma_nmad``, ``outlier_fraction`` per training.

    Returns
    -------
    dict
        ``{net: {"sigma_nmad_mean", "sigma_nmad_sd", "outlier_mean", "outlier_sd",
        "ratio_to_mlp", "seeds"}}``; ``ratio_to_mlp`` is NaN without an MLP.
    """
    out: dict = {}
    for net in dict.fromkeys(r["net"] for r in rows):
        s = np.array([r["sigma_nmad"] for r in rows if r["net"] == net])
        o = np.array([r["outlier_fraction"] for r in rows if r["net"] == net])
        out[net] = {"sigma_nmad_mean": float(s.mean()),
                    "sigma_nmad_sd": float(s.std(ddof=1)) if s.size > 1 else float("nan"),
                    "outlier_mean": float(o.mean()),
                    "outlier_sd": float(o.std(ddof=1)) if o.size > 1 else float("nan"),
                    "seeds": [r["seed"] for r in rows if r["net"] == net]}
    ref = out.get("mlp", {}).get("sigma_nmad_mean", float("nan"))
    for v in out.values():
        v["ratio_to_mlp"] = v["sigma_nmad_mean"] / ref
    return out


def format_table(summary: dict) -> str:
    """The summary as a Markdown table (sigma_NMAD and outlier percentage, mean +- sd)."""
    lines = ["| network | sigma_NMAD (mean +- sd) | ratio to MLP | outliers % (mean +- sd) |",
             "|---|---:|---:|---:|"]
    for net, v in summary.items():
        lines.append(f"| {net} | {v['sigma_nmad_mean']:.4f} +- {v['sigma_nmad_sd']:.4f} | "
                     f"{v['ratio_to_mlp']:.2f} | {100 * v['outlier_mean']:.2f} +- "
                     f"{100 * v['outlier_sd']:.2f} |")
    return "\n".join(lines)


def run(config: dict, results: str | Path, out: str | Path, seeds=DEFAULT_SEEDS,
        jobs: int = 2) -> dict:
    """Train every network of ``config['train']['networks']`` with each seed; summarise.

    Parameters
    ----------
    config : dict
        A validated config (:func:`photoz.config.load_config`).
    results : path-like
        The run's ``results/`` directory (photometry table and stamp shards).
    out : path-like
        Receives ``seed<k>/`` (models, histories, predictions, logs) and ``seeds.json``.
    seeds : sequence of int
    jobs : int
        Trainings side by side, one thread each.

    Returns
    -------
    dict
        ``{"rows": [...], "summary": summarise(rows)}``.
    """
    nets = list(config["train"]["networks"])
    first = [n for n in ("hybrid", "cnn", "mlp") if n in nets]  # longest first
    rows = []
    with ProcessPoolExecutor(max_workers=jobs) as pool:
        futures = [pool.submit(_train_one, n, s, config, str(results), str(out))
                   for n in first for s in seeds]
        rows += [f.result() for f in futures]
        if "hybrid_transfer" in nets:
            futures = [pool.submit(_train_one, "hybrid_transfer", s, config, str(results),
                                   str(out)) for s in seeds]
            rows += [f.result() for f in futures]
    order = {n: i for i, n in enumerate(nets)}
    rows.sort(key=lambda r: (order[r["net"]], r["seed"]))
    result = {"rows": rows, "summary": summarise(rows)}
    Path(out).mkdir(parents=True, exist_ok=True)
    write_json(result, Path(out) / "seeds.json")
    return result


def main(argv: list[str] | None = None) -> int:
    """Command line: train, then print the per-seed rows and the mean +- sd table."""
    from photoz.config import load_merged_config

    p = argparse.ArgumentParser(prog="python -m photoz benchmark seeds",
                                description=__doc__.splitlines()[0])
    p.add_argument("--configfile", action="append", default=[],
                   help="config overlays merged over config/config.yaml, as snakemake's")
    p.add_argument("--results", default="results", help="the run's results/ directory")
    p.add_argument("--out", default="benchmarks/seeds", help="output directory")
    p.add_argument("--seeds", default=",".join(map(str, DEFAULT_SEEDS)))
    p.add_argument("--jobs", type=int, default=2)
    p.add_argument("--nets", default=None, help="comma-separated subset of train.networks")
    args = p.parse_args(argv)
    config = load_merged_config(args.configfile)
    if args.nets:
        config["train"]["networks"] = args.nets.split(",")
    seeds = [int(s) for s in args.seeds.split(",")]
    res = run(config, args.results, args.out, seeds, args.jobs)
    for r in res["rows"]:
        print(f"{r['net']:16s} seed {r['seed']:>5d}  sigma_NMAD {r['sigma_nmad']:.4f}  outliers "
              f"{100 * r['outlier_fraction']:.2f}%  ({r['epochs_run']} epochs, {r['seconds']:.0f} s)")
    print(format_table(res["summary"]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
