"""Seeds benchmark: the networks and the classical peers over several seeds on a run's products.

Accuracy claims rest on this, not on one run: the default run's photometry table and stamp
shards (``results/photometry/photometry.parquet``, ``results/images/shard_*.h5``), its split and
its test galaxies, the config merged exactly as Snakemake merges it (``config/config.yaml``,
then each ``--configfile``), and only the seed changed. Every network of ``train.networks`` is
trained per seed (hybrid_transfer from that seed's MLP and CNN) and every peer (issue 29; default
all five, ``--peers``) fitted per seed on the same flux measurement as the networks
(``peer_settings.flux_type``, :mod:`photoz.peers.stage`); BPZ, whose fit draws no random numbers
(:data:`photoz.names.SEEDLESS_PEERS`), is fitted once. Each is scored on the test split with
:func:`photoz.evaluate.metrics.sigma_nmad` and :func:`photoz.evaluate.metrics.outlier_fraction`
and, where it gives a p(z), the summary's p(z) scores
(:func:`photoz.evaluate.pdfscores.score_file`: CRPS, PIT KS, coverage 68/95). The table prints
mean +- sample standard deviation over seeds of each and the flux each method read
(``--markdown``: the table alone, for the README).

Usage: ``python -m photoz benchmark seeds [--seeds 1,2,3] [--jobs 2] [--peers all|none|a,b]
[--markdown] [--configfile F ...]``. It takes about three default runs' training time (about
30 min on 2 cores, measured 2026-12-01) plus about 3 CPU-minutes of peers per seed.
"""

from __future__ import annotations

import argparse
import logging
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

from photoz.io import write_json
from photoz.names import LABELS, PEERS, RAIL_PEERS, SEEDLESS_PEERS

DEFAULT_SEEDS = (1, 2, 3)
#: The scores the table gives, mean +- sd: key, header, format (p(z) scores only with a p(z)).
COLUMNS = (("sigma_nmad", "sigma_NMAD", "{:.4f}"), ("outlier_fraction", "outliers %", "{:.2f}"),
           ("crps", "CRPS", "{:.4f}"), ("pit_ks", "PIT KS", "{:.3f}"),
           ("coverage_68", "coverage 68", "{:.3f}"), ("coverage_95", "coverage 95", "{:.3f}"))


def _log_to(directory: Path, name: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    logging.basicConfig(filename=directory / f"{name}.log", level=logging.INFO, force=True,
                        format="%(asctime)s %(name)s %(message)s")
    return directory


def _test_scores(method: str, seed: int, predictions: Path, pdf: Path | None) -> dict:
    """A method's test-set row: sigma_NMAD, outlier fraction, its input flux and p(z) scores."""
    from photoz.evaluate.metrics import outlier_fraction, sigma_nmad
    from photoz.evaluate.pdfscores import score_file
    from photoz.products.train import prediction_metadata, read_predictions

    pred = read_predictions(predictions, split="test")
    row = {"method": method, "seed": seed, "n_test": len(pred),
           "sigma_nmad": sigma_nmad(pred["z_pred"], pred["z_true"]),
           "outlier_fraction": outlier_fraction(pred["z_pred"], pred["z_true"]),
           "input_flux": prediction_metadata(predictions).get("input_flux")}
    if pdf is not None:
        s = score_file(pdf, pred["object_id"].to_numpy(), pred["z_true"].to_numpy())
        row.update({k: s[k] for k in ("crps", "pit_ks", "coverage_68", "coverage_95")})
    return row


def _train_one(net: str, seed: int, config: dict, results: str, out: str) -> dict:
    """Train ``net`` with ``seed`` into ``out/seed<seed>/``; return its test scores."""
    from photoz.instrument import load_instrument
    from photoz.train.network import train_network

    d = _log_to(Path(out) / f"seed{seed}", net)
    res = Path(results)
    shards = sorted(str(p) for p in (res / "images").glob("shard_*.h5"))
    pre = {"mlp": d / "mlp.pt", "cnn": d / "cnn.pt"} if net == "hybrid_transfer" else None
    t0 = time.perf_counter()
    s = train_network(net, res / "photometry" / "photometry.parquet", shards, d / f"{net}.pt",
                      d / f"{net}_history.csv", d / f"{net}.parquet", config["train"],
                      load_instrument(config["instrument"]), seed=seed, threads=1,
                      pretrained=pre, out_pdfs=d / f"{net}.hdf5")
    return {**_test_scores(net, seed, d / f"{net}.parquet", d / f"{net}.hdf5"),
            "epochs_run": s["epochs_run"], "best_epoch": s["best_epoch"],
            "seconds": time.perf_counter() - t0}


def _fit_peer(peer: str, seed: int, config: dict, results: str, out: str) -> dict:
    """Fit ``peer`` with ``seed`` into ``out/seed<seed>/``, as rule fit_peer / fit_rail_peer
    does; return its test scores."""
    from photoz.peers.stage import run_peer

    d = _log_to(Path(out) / f"seed{seed}", peer)
    pdf = d / f"{peer}_pz.hdf5" if peer in RAIL_PEERS else None
    t0 = time.perf_counter()
    run_peer(peer, Path(results) / "photometry" / "photometry.parquet", d / f"{peer}.parquet",
             d / f"{peer}_model.pkl", config["instrument"], config["peer_settings"][peer],
             seed=seed, threads=1, out_pdf=pdf, sed_library=config["catalog"]["sed_library"],
             work_dir=d / f"{peer}_data", flux_type=config["peer_settings"]["flux_type"])
    return {**_test_scores(peer, seed, d / f"{peer}.parquet", pdf),
            "seconds": time.perf_counter() - t0}


def summarise(rows: list[dict]) -> dict:
    """Mean and sample standard deviation per method of every score, and the ratio of each
    method's mean sigma_NMAD to the MLP's.

    Parameters
    ----------
    rows : list of dict
        ``method``, ``seed``, ``sigma_nmad``, ``outlier_fraction``, ``input_flux`` and (methods
        with a p(z)) ``crps``, ``pit_ks``, ``coverage_68``, ``coverage_95`` per training or fit.

    Returns
    -------
    dict
        ``{method: {"<score>_mean", "<score>_sd" for each score of :data:`COLUMNS` it has,
        "ratio_to_mlp", "seeds", "input_flux"}}``; an sd over one seed is NaN, ``ratio_to_mlp``
        is NaN without an MLP.
    """
    out: dict = {}
    for method in dict.fromkeys(r["method"] for r in rows):
        mine = [r for r in rows if r["method"] == method]
        v: dict = {"seeds": [r["seed"] for r in mine], "input_flux": mine[0].get("input_flux")}
        for key, _, _ in COLUMNS:
            if key in mine[0]:
                x = np.array([r[key] for r in mine], dtype=float)
                v[f"{key}_mean"] = float(x.mean())
                v[f"{key}_sd"] = float(x.std(ddof=1)) if x.size > 1 else float("nan")
        out[method] = v
    ref = out.get("mlp", {}).get("sigma_nmad_mean", float("nan"))
    for v in out.values():
        v["ratio_to_mlp"] = v["sigma_nmad_mean"] / ref
    return out


def format_table(summary: dict) -> str:
    """The summary as a Markdown table: each score mean +- sd over the seeds, the input flux.

    A method with one seed (BPZ) shows its value and "(no seed)"; one without p(z), "—" in the
    p(z) columns. Outliers are in per cent.
    """
    head = ["method", "input flux", "seeds", *(h for _, h, _ in COLUMNS), "sigma_NMAD / MLP's"]
    lines = ["| " + " | ".join(head) + " |", "|---|---|---:|" + "---:|" * (len(head) - 3)]
    for method, v in summary.items():
        flux = v.get("input_flux")
        cells = [LABELS.get(method, method), "none (stamps)" if flux == "none" else str(flux),
                 str(len(v["seeds"]))]
        for key, _, fmt in COLUMNS:
            if f"{key}_mean" not in v:
                cells.append("—")
                continue
            scale = 100.0 if key == "outlier_fraction" else 1.0
            mean, sd = scale * v[f"{key}_mean"], scale * v[f"{key}_sd"]
            cells.append(fmt.format(mean) + (f" ± {fmt.format(sd)}" if np.isfinite(sd)
                                             else " (no seed)"))
        cells.append(f"{v['ratio_to_mlp']:.2f}")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def run(config: dict, results: str | Path, out: str | Path, seeds=DEFAULT_SEEDS,
        jobs: int = 2, peers=PEERS) -> dict:
    """Train every network of ``config['train']['networks']`` and fit every peer of ``peers``
    with each seed; summarise.

    Parameters
    ----------
    config : dict
        A validated config (:func:`photoz.config.load_config`); its ``peer_settings`` (and
        ``peer_settings.flux_type``) set the peers.
    results : path-like
        The run's ``results/`` directory (photometry table and stamp shards).
    out : path-like
        Receives ``seed<k>/`` (models, histories, predictions, p(z) files, logs) and
        ``seeds.json``.
    seeds : sequence of int
    jobs : int
        Trainings and fits side by side, one thread each.
    peers : sequence of str
        Peers of :data:`photoz.names.PEERS` to fit (:data:`photoz.names.SEEDLESS_PEERS` once,
        with the first seed).

    Returns
    -------
    dict
        ``{"rows": [...], "summary": summarise(rows)}``, rows in the order networks then peers.
    """
    nets = list(config["train"]["networks"])
    first = [n for n in ("hybrid", "cnn", "mlp") if n in nets]  # longest first
    tasks = [(_train_one, n, s) for n in first for s in seeds]
    tasks += [(_fit_peer, p, s) for p in peers
              for s in (seeds[:1] if p in SEEDLESS_PEERS else seeds)]
    with ProcessPoolExecutor(max_workers=jobs) as pool:
        futures = [pool.submit(fn, name, s, config, str(results), str(out))
                   for fn, name, s in tasks]
        rows = [f.result() for f in futures]
        if "hybrid_transfer" in nets:
            futures = [pool.submit(_train_one, "hybrid_transfer", s, config, str(results),
                                   str(out)) for s in seeds]
            rows += [f.result() for f in futures]
    order = {n: i for i, n in enumerate([*nets, *peers])}
    rows.sort(key=lambda r: (order[r["method"]], r["seed"]))
    result = {"rows": rows, "summary": summarise(rows)}
    Path(out).mkdir(parents=True, exist_ok=True)
    write_json(result, Path(out) / "seeds.json")
    return result


def _peer_list(text: str) -> list[str]:
    """``--peers``: ``all`` (every peer), ``none``, or a comma-separated list of peer names."""
    if text == "all":
        return list(PEERS)
    if text == "none":
        return []
    names = text.split(",")
    unknown = [n for n in names if n not in PEERS]
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown peer(s) {unknown}; choose from {list(PEERS)}")
    return names


def main(argv: list[str] | None = None) -> int:
    """Command line: train and fit, then print the per-seed rows and the mean +- sd table."""
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
    p.add_argument("--peers", type=_peer_list, default=list(PEERS),
                   help="peers to fit per seed: all (the default), none, or a comma-separated list")
    p.add_argument("--markdown", action="store_true",
                   help="print only the Markdown table (networks and peers, mean +- sd)")
    args = p.parse_args(argv)
    config = load_merged_config(args.configfile)
    if args.nets:
        config["train"]["networks"] = args.nets.split(",")
    seeds = [int(s) for s in args.seeds.split(",")]
    res = run(config, args.results, args.out, seeds, args.jobs, args.peers)
    if not args.markdown:
        for r in res["rows"]:
            print(f"{r['method']:18s} seed {r['seed']:>5d}  sigma_NMAD {r['sigma_nmad']:.4f}  "
                  f"outliers {100 * r['outlier_fraction']:.2f}%  ({r['seconds']:.0f} s)")
    print(format_table(res["summary"]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
