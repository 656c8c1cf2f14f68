"""The ``python -m photoz`` command line.

Sub-commands
------------
instrument       print the CSST bands: pivot wavelength, zero point, background noise, 5-sigma limit
validate-config  merge config files as snakemake does, check them and print the config a run uses
predict          apply a trained network to a photometry table and stamp shards
verify           check every data product of a run (results/) against its checksum
benchmark        run a benchmark (simulate, photometry, training speed; seeds: accuracy; information:
                 what the images could add to the fluxes) and print numbers
unlock           remove the lock a killed Snakemake left, if no Snakemake runs in the directory

The workflow itself runs with ``snakemake --cores all`` (README.md).
"""

from __future__ import annotations

import argparse
import importlib
import logging
import math
import sys

from photoz import BANDS, __version__
from photoz.benchmarks import STAGES
from photoz.errors import PhotozError


def _cmd_instrument(args: argparse.Namespace) -> int:
    from photoz.instrument import load_instrument

    inst = load_instrument({"throughput": args.throughput, "pixel_scale": args.pixel_scale})
    pivot, zp = inst.pivot_wavelength(), inst.zero_point()
    sigma, flim = inst.background_sigma(), inst.limiting_flux()
    print(f"CSST survey camera: throughput {args.throughput}, {inst.aperture_diameter:g} m aperture "
          f"(area {inst.area:.0f} cm^2), {inst.pixel_scale:g} arcsec/pixel, "
          f"{inst.exposure_time:g} s exposures")
    print(f"{'band':>4} {'pivot[A]':>9} {'ZP[AB,1e-/s]':>13} {'N_exp':>5} {'N_bkg[e-]':>10} "
          f"{'m_lim5':>7} {'F_lim[e-]':>10}")
    for j, band in enumerate(BANDS):
        print(f"{band:>4} {pivot[j]:9.0f} {zp[j]:13.2f} {inst.n_exposures[j]:5d} {sigma[j]:10.2f} "
              f"{inst.limiting_mag[j]:7.1f} {flim[j]:10.1f}")
    return 0


def _cmd_validate(args: argparse.Namespace) -> int:
    import yaml

    from photoz.config import load_merged_config

    config = load_merged_config(args.configfile)
    if not args.quiet:
        print(yaml.safe_dump(config, sort_keys=False), end="")
    return 0


def _cmd_unlock(args: argparse.Namespace) -> int:
    from photoz.io import release_stale_lock

    state = release_stale_lock(args.directory)
    if state.startswith("released"):
        print(f"photoz unlock: {state} left by a killed Snakemake in {args.directory} (no "
              "Snakemake runs there)", file=sys.stderr)
    elif state.startswith("held"):
        print(f"photoz unlock: the Snakemake lock in {args.directory} is {state}; left alone",
              file=sys.stderr)
    return 0


def _cmd_predict(args: argparse.Namespace) -> int:
    from photoz.train.predict import predict

    table = predict(args.model, args.photometry, args.stamps, args.out, threads=args.threads,
                    device=args.device)
    print(f"wrote {len(table)} photo-z to {args.out}")
    return 0


def _cmd_verify(args: argparse.Namespace) -> int:
    from photoz.products.verify import verify_results

    found = verify_results(args.results)
    for path, message in found.bad:
        print(f"BAD {path}: {message}")
    for path in found.temporaries:
        print(f"note: {path} is a temporary file a killed job left; the next run of the rule that "
              "writes it removes it (or delete it)")
    n = len(found.good) + len(found.bad)
    print(f"photoz verify {args.results}: {n} products checked, {len(found.bad)} bad, "
          f"{len(found.good)} good; {len(found.unchecked)} files carry no checksum (not checked: "
          f"{_suffixes(found.unchecked)})")
    return 1 if found.bad else 0


def _suffixes(paths) -> str:
    """``'.pdf x10, .pkl x5'``: the kinds of ``paths``."""
    from collections import Counter

    counts = Counter(p.suffix or p.name for p in paths)
    return ", ".join(f"{k} x{v}" for k, v in sorted(counts.items())) or "none"


def _cmd_benchmark(args: argparse.Namespace) -> int:
    module = importlib.import_module(f"photoz.benchmarks.{args.stage}")
    # A benchmark's parser without its own prog would call itself __main__.py.
    argv0, sys.argv[0] = sys.argv[0], f"python -m photoz benchmark {args.stage}"
    try:
        result = module.main(args.args)
    finally:
        sys.argv[0] = argv0
    return int(result) if isinstance(result, int) else 0


def _positive_float(text: str) -> float:
    """argparse type: a finite float > 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"{text} must be a finite number > 0")
    return value


def build_parser() -> argparse.ArgumentParser:
    """The argument parser, with one sub-parser per sub-command."""
    parser = argparse.ArgumentParser(
        prog="python -m photoz",
        description="CSST photometric redshifts (Zhou et al. 2022, MNRAS 512, 4593). "
        "The pipeline runs with `snakemake --cores all`; these sub-commands serve single stages.",
    )
    parser.add_argument("--version", action="version", version=f"photoz {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("instrument", help="print each band's pivot wavelength, zero point and noise")
    p.add_argument("--throughput", default="beamingfactor",
                   help="'beamingfactor' (default) or a directory of <band>.fil curves")
    p.add_argument("--pixel-scale", type=_positive_float, default=0.074,
                   help="arcsec/pixel, > 0 (default 0.074)")
    p.set_defaults(func=_cmd_instrument)

    p = sub.add_parser("validate-config",
                       help="print the config `snakemake --configfile FILE...` runs with, checked")
    p.add_argument("configfile", nargs="*",
                   help="YAML config(s) as given to snakemake --configfile, e.g. config/gpu.yaml: "
                   "merged in order over config/config.yaml (the Snakefile's configfile) exactly "
                   "as Snakemake merges them, then the schema's defaults filled in")
    p.add_argument("--quiet", action="store_true", help="print nothing when the config is valid")
    p.set_defaults(func=_cmd_validate)

    p = sub.add_parser("predict", help="apply a trained network (results/models/<net>.pt)")
    p.add_argument("--model", required=True, help="trained network, results/models/<net>.pt")
    p.add_argument("--photometry", required=True, help="photometry table (parquet)")
    p.add_argument("--stamps", nargs="*", default=[], help="stamp shards (HDF5); not needed by the MLP")
    p.add_argument("--out", required=True, help="output parquet: object_id, z_true, z_pred, split")
    p.add_argument("--threads", type=int, default=1, help="CPU threads (default 1)")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    p.set_defaults(func=_cmd_predict)

    p = sub.add_parser("verify", help="check every product of a run against its checksum; "
                       "exit status 1 if any is bad")
    p.add_argument("results", nargs="?", default="results",
                   help="the run's results directory (default results)")
    p.set_defaults(func=_cmd_verify)

    p = sub.add_parser("unlock", help="remove a killed Snakemake's stale lock (make run does this)")
    p.add_argument("--directory", default=".", help="Snakemake working directory (default .)")
    p.set_defaults(func=_cmd_unlock)

    p = sub.add_parser("benchmark", help="a benchmark (speed of a stage, accuracy over seeds, information); prints numbers")
    p.add_argument("stage", choices=STAGES)
    p.add_argument("args", nargs=argparse.REMAINDER, help="passed to the stage's benchmark")
    p.set_defaults(func=_cmd_benchmark)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit status.

    A photoz error, or an operating-system error (a file that cannot be written), is printed as
    one line ``error: <message>`` without a traceback (a message of several lines, such as the
    list of a config's problems, joined with "; "), and the status is 1.
    """
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        return args.func(args)
    except (PhotozError, OSError) as exc:
        print(f"error: {_one_line(str(exc))}", file=sys.stderr)
        return 1


def _one_line(text: str) -> str:
    """``text`` on one line: its lines stripped, joined by "; " (by " " after a colon)."""
    out = ""
    for line in (part.strip() for part in text.splitlines()):
        if line:
            out += ("" if not out else " " if out.endswith(":") else "; ") + line
    return out
