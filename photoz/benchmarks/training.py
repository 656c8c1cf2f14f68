"""Training throughput benchmark: samples per second of each network, through the real loop.

It writes toy inputs that follow the data contract (:func:`photoz.datasets.write_toy_inputs`),
trains each network for a few epochs with :func:`photoz.training.train_network` (the same data
path as the workflow: in-memory tensors, D4 by ``gather``, flux realisations pre-drawn) and
reports the training samples per second (validation and prediction time excluded).
Printed numbers, not a timed test. Usage: ``python -m photoz.benchmarks.training --threads 2``.
"""

from __future__ import annotations

import argparse
import json
import logging
import tempfile
from pathlib import Path

from photoz.datasets import write_toy_inputs
from photoz.instrument import load_instrument
from photoz.models import NETWORKS
from photoz.training import train_network

DEFAULT_BATCH = {"mlp": 1024, "cnn": 128, "hybrid": 128, "hybrid_transfer": 128}


def run(n_gal: int = 3000, epochs: int = 2, threads: int = 1, device: str = "auto",
        batch_size: dict | None = None, n_flux_realisations: int = 50,
        nets: tuple[str, ...] = NETWORKS, seed: int = 0) -> dict:
    """Train each network briefly on toy inputs and measure its throughput.

    Parameters
    ----------
    n_gal : int
        Toy galaxies (about 70% train after selection).
    epochs : int
        Epochs per network (the first includes warm-up).
    threads : int
        ``torch.set_num_threads``.
    device : str
        ``"auto"``, ``"cpu"`` or ``"cuda"``.
    batch_size : dict, optional
        Per network; default :data:`DEFAULT_BATCH`.
    n_flux_realisations : int
    nets : tuple of str
        Networks, in training order (``hybrid_transfer`` needs ``mlp`` and ``cnn`` before it).
    seed : int

    Returns
    -------
    dict
        ``{net: {"samples_per_second", "device", "batch_size", "threads"}}``.
    """
    instrument = load_instrument({})
    batch = dict(DEFAULT_BATCH, **(batch_size or {}))
    cfg = {
        "device": device, "batch_size": batch, "max_epochs": dict.fromkeys(NETWORKS, epochs),
        "learning_rate": 1e-4, "lr_factor": 0.1, "lr_patience": 5, "early_stopping_patience": 10,
        "n_flux_realisations": n_flux_realisations, "augment_fluxes": n_flux_realisations > 1,
        "augment_images": True, "image_size": 32, "image_scaling": "none",
    }
    results = {}
    with tempfile.TemporaryDirectory(prefix="photoz_bench_") as tmp:
        d = Path(tmp)
        phot, shards = write_toy_inputs(d / "in", n_gal, instrument, seed=seed, stamp_size=32)
        for net in nets:
            pre = {"mlp": d / "mlp.pt", "cnn": d / "cnn.pt"} if net == "hybrid_transfer" else None
            s = train_network(net, phot, shards, d / f"{net}.pt", d / f"{net}_history.csv",
                              d / f"{net}.parquet", cfg, instrument, seed=seed, threads=threads,
                              pretrained=pre)
            results[net] = {"samples_per_second": round(s["samples_per_second"], 1),
                            "device": s["device"], "batch_size": batch[net], "threads": threads}
    return results


def main(argv: list[str] | None = None) -> int:
    """Command line: print samples/s per network (and the JSON with ``--json``)."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n-gal", type=int, default=3000)
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--device", default="auto")
    p.add_argument("--batch-size", type=int, default=None, help="one batch size for all networks")
    p.add_argument("--nets", default=",".join(NETWORKS))
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    batch = dict.fromkeys(NETWORKS, args.batch_size) if args.batch_size else None
    res = run(args.n_gal, args.epochs, args.threads, args.device, batch,
              nets=tuple(args.nets.split(",")))
    for net, r in res.items():
        print(f"{net:16s} {r['samples_per_second']:>12,.0f} samples/s  "
              f"(batch {r['batch_size']}, {r['threads']} thread(s), {r['device']})")
    if args.json:
        print(json.dumps(res))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
