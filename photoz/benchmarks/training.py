"""Training throughput benchmark: samples per second of each network, through the real loop.

It writes toy inputs that follow the data contract (:func:`photoz.benchmarks.toydata.write_toy_inputs`),
trains each network for a few epochs with :func:`photoz.train.network.train_network` (the same data
path as the workflow: in-memory tensors, D4 by ``gather``, flux realisations pre-drawn) and
reports the training samples per second (validation and prediction time excluded), the GFLOP/s
they mean (:func:`flops_per_sample`) and their fraction of a stated peak, the GFLOP/s of a large
matrix product on the same threads (:func:`matmul_peak_gflops`). Each ``--precision`` is run in
turn, ``--repeats`` times, so the comparison is interleaved. Printed numbers, not a timed test.
Usage: ``python -m photoz benchmark training --threads 1 --precision fp32,auto --repeats 3``.
"""

from __future__ import annotations

import argparse
import json
import logging
import tempfile
from pathlib import Path

from photoz.benchmarks.toydata import write_toy_inputs
from photoz.config import default_config
from photoz.instrument import load_instrument
from photoz.names import NETWORKS
from photoz.train.network import train_network

DEFAULT_BATCH = {"mlp": 1024, "cnn": 128, "hybrid": 128, "hybrid_transfer": 128}


def flops_per_sample(net: str, image_size: int = 32, batch: int = 32) -> float:
    """Floating-point operations of one training sample (forward + backward), counted by
    :class:`torch.utils.flop_counter.FlopCounterMode` (matrix products and convolutions)."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from photoz.models.build import build_model

    model = build_model(net, seed=0)
    args = []
    if "flux" in model.inputs:
        args.append(torch.randn(batch, 20))
    if "image" in model.inputs:
        args.append(torch.randn(batch, 7, image_size, image_size))
    counter = FlopCounterMode(display=False)
    with counter:
        model(*args).sum().backward()
    return counter.get_total_flops() / batch


def matmul_peak_gflops(threads: int = 1, dtype: str = "fp32", n: int = 1024,
                       repeats: int = 20) -> float:
    """GFLOP/s of an n x n matrix product at ``threads`` threads: the stated peak.

    The roofline a convolution can reach on this CPU through oneDNN / BLAS; ``dtype`` ``bf16``
    measures the bf16 path (native with AVX512-BF16 or AMX).
    """
    import time

    import torch

    torch.set_num_threads(threads)
    dt = torch.bfloat16 if dtype == "bf16" else torch.float32
    a, b = torch.randn(n, n, dtype=dt), torch.randn(n, n, dtype=dt)
    for _ in range(3):
        a @ b
    t0 = time.perf_counter()
    for _ in range(repeats):
        a @ b
    return 2 * n**3 * repeats / (time.perf_counter() - t0) / 1e9


def run(n_gal: int = 3000, epochs: int = 2, threads: int = 1, device: str = "auto",
        batch_size: dict | None = None, n_flux_realisations: int = 50,
        nets: tuple[str, ...] = NETWORKS, seed: int = 0, precision: str = "fp32") -> dict:
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
    precision : str
        ``train.precision``: ``"fp32"``, ``"auto"`` (bf16 autocast where native) or ``"bf16"``.

    Returns
    -------
    dict
        ``{net: {"samples_per_second", "gflops", "device", "precision", "batch_size",
        "threads"}}``; ``gflops`` is samples/s x :func:`flops_per_sample`.
    """
    instrument = load_instrument({})
    batch = dict(DEFAULT_BATCH, **(batch_size or {}))
    cfg = default_config({"train": {
        "device": device, "batch_size": batch, "max_epochs": dict.fromkeys(NETWORKS, epochs),
        "learning_rate": 1e-4, "lr_factor": 0.1, "lr_patience": 5, "early_stopping_patience": 10,
        "n_flux_realisations": n_flux_realisations, "augment_fluxes": n_flux_realisations > 1,
        "augment_images": True, "image_size": 32, "image_scaling": "none",
        "precision": precision, "transfer_freeze": True,
    }})["train"]
    results = {}
    with tempfile.TemporaryDirectory(prefix="photoz_bench_") as tmp:
        d = Path(tmp)
        phot, shards = write_toy_inputs(d / "in", n_gal, instrument, seed=seed, stamp_size=32)
        for net in nets:
            pre = {"mlp": d / "mlp.pt", "cnn": d / "cnn.pt"} if net == "hybrid_transfer" else None
            s = train_network(net, phot, shards, d / f"{net}.pt", d / f"{net}_history.csv",
                              d / f"{net}.parquet", cfg, instrument, seed=seed, threads=threads,
                              pretrained=pre)
            sps = s["samples_per_second"]
            results[net] = {"samples_per_second": round(sps, 1),
                            "gflops": round(sps * flops_per_sample(net) / 1e9, 2),
                            "device": s["device"], "precision": s["precision"],
                            "batch_size": batch[net], "threads": threads}
    return results


def main(argv: list[str] | None = None) -> int:
    """Command line: print samples/s per network (and the JSON with ``--json``)."""
    p = argparse.ArgumentParser(prog="python -m photoz benchmark training",
                                description=__doc__.splitlines()[0])
    p.add_argument("--n-gal", type=int, default=3000)
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--device", default="auto")
    p.add_argument("--batch-size", type=int, default=None, help="one batch size for all networks")
    p.add_argument("--nets", default=",".join(NETWORKS))
    p.add_argument("--precision", default="fp32,auto",
                   help="comma-separated train.precision values, run interleaved")
    p.add_argument("--repeats", type=int, default=1, help="passes over the precisions")
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    batch = dict.fromkeys(NETWORKS, args.batch_size) if args.batch_size else None
    all_res = []
    for rep in range(args.repeats):
        for precision in args.precision.split(","):
            res = run(args.n_gal, args.epochs, args.threads, args.device, batch,
                      nets=tuple(args.nets.split(",")), precision=precision)
            all_res.append(res)
            for net, r in res.items():
                print(f"pass {rep + 1} {net:16s} {r['samples_per_second']:>10,.0f} samples/s "
                      f"{r['gflops']:7.1f} GFLOP/s  ({r['precision']}, batch {r['batch_size']}, "
                      f"{r['threads']} thread(s), {r['device']})", flush=True)
    if "cuda" not in str(args.device):
        import torch

        from photoz.train.settings import native_bf16

        # Without native bf16 (e.g. an AVX2-only CPU) the bf16 product runs emulated at ~1 GFLOP/s:
        # 45 s for a peak nothing trains at ("auto" resolves to float32 there).
        native = native_bf16(torch.device("cpu"))
        if not native:
            print("this CPU has no native bf16 (AVX512-BF16 or AMX): precision auto trains in float32")
        dtypes = ("fp32", "bf16") if native or "bf16" in args.precision else ("fp32",)
        for dtype in dtypes:
            peak = matmul_peak_gflops(args.threads, dtype)
            print(f"stated peak ({dtype} 1024^3 matrix product, {args.threads} thread(s)): "
                  f"{peak:.1f} GFLOP/s")
            for res in all_res[-len(args.precision.split(",")):]:
                for net, r in res.items():
                    if r["precision"] == dtype:
                        print(f"  {net:16s} {r['gflops'] / peak:6.1%} of it ({dtype})")
    if args.json:
        print(json.dumps(all_res))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
