"""Size the SLURM profile's per-rule resources from a run's Snakemake benchmark files.

    python profiles/slurm/resources_from_benchmarks.py <run directory>/benchmarks

Reads every ``benchmarks/<rule>.tsv`` and ``benchmarks/<rule>/<wildcards>.tsv`` (Snakemake's
``benchmark:`` format: columns ``s``, ``max_rss`` in MB, ``cpu_time`` in s, ...), takes the largest
value over each rule's jobs and prints a ``set-resources:`` block for profiles/slurm/config.yaml:
``mem_mb`` = 2 x max_rss rounded up to 500 MB (at least 1000 MB) and ``runtime`` = 3 x the
longest wall time in minutes, rounded up (at least 10 min). The margins are ours: memory and
time of these jobs grow with ``catalog.n_galaxies`` and ``train.max_epochs``, and a job over its
``--mem`` or ``-t`` is killed by SLURM, so the profile leaves room rather than packing tightly.
Written here rather than taken from a library because no Snakemake tool turns benchmark files into
profile resources.
"""

from __future__ import annotations

import csv
import math
import sys
from pathlib import Path

MEM_FACTOR, MEM_STEP_MB, MEM_MIN_MB = 2.0, 500, 1000
TIME_FACTOR, TIME_MIN_MIN = 3.0, 10


def read_benchmarks(root: Path) -> dict[str, dict[str, float]]:
    """Largest wall time (s), max_rss (MB) and job count per rule under ``root``.

    Parameters
    ----------
    root : Path
        A ``benchmarks/`` directory of a Snakemake run.

    Returns
    -------
    dict
        ``{rule: {"s": float, "max_rss": float, "n": int}}``.

    Raises
    ------
    SystemExit
        When ``root`` holds no benchmark file, or a file lacks the ``s``/``max_rss`` columns.
    """
    out: dict[str, dict[str, float]] = {}
    files = sorted(root.rglob("*.tsv"))
    if not files:
        sys.exit(f"{root}: no benchmark .tsv files (run the workflow first)")
    for path in files:
        rel = path.relative_to(root)
        rule = rel.parts[0] if len(rel.parts) > 1 else path.stem
        with path.open() as fh:
            rows = list(csv.DictReader(fh, delimiter="\t"))
        for i, row in enumerate(rows, start=2):
            try:
                s, rss = float(row["s"]), float(row["max_rss"])
            except (KeyError, ValueError) as err:
                sys.exit(f"{path}: row {i}: no numeric 's'/'max_rss' column ({err})")
            entry = out.setdefault(rule, {"s": 0.0, "max_rss": 0.0, "n": 0})
            entry["s"] = max(entry["s"], s)
            entry["max_rss"] = max(entry["max_rss"], rss)
            entry["n"] += 1
    return out


def suggest(entry: dict[str, float]) -> tuple[int, int]:
    """``(mem_mb, runtime_min)`` with the margins of the module docstring."""
    mem = max(MEM_MIN_MB, math.ceil(MEM_FACTOR * entry["max_rss"] / MEM_STEP_MB) * MEM_STEP_MB)
    runtime = max(TIME_MIN_MIN, math.ceil(TIME_FACTOR * entry["s"] / 60.0))
    return int(mem), int(runtime)


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        sys.exit(__doc__)
    stats = read_benchmarks(Path(argv[1]))
    print("set-resources:")
    for rule, entry in sorted(stats.items()):
        mem, runtime = suggest(entry)
        print(f"  {rule}:  # measured: max_rss {entry['max_rss']:.0f} MB, "
              f"wall {entry['s']:.1f} s (largest of {entry['n']} job(s))")
        print(f"    mem_mb: {mem}")
        print(f"    runtime: {runtime}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
