"""One helper for the tests that plan a workflow: ``snakemake -n`` and its job table."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SNAKEMAKE = str(Path(sys.executable).with_name("snakemake"))


def dry_run(workdir: Path, *configfiles: Path, extra: tuple[str, ...] = ()) -> str:
    """Stdout + stderr of ``snakemake -n`` of the repository's Snakefile in ``workdir``; asserts
    it succeeded (showing the tail of its output otherwise)."""
    cmd = [SNAKEMAKE, "-n", "--snakefile", str(REPO / "Snakefile"), "--directory", str(workdir),
           "--configfile", *map(str, configfiles), *extra]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc.stdout + proc.stderr


def job_counts(text: str) -> dict[str, int]:
    """Rule name -> job count from the "Job stats:" table of a dry run's output."""
    counts = {}
    for line in text[text.index("Job stats:"):].splitlines()[3:]:
        parts = line.split()
        if len(parts) != 2 or parts[0] == "total":
            break
        counts[parts[0]] = int(parts[1])
    return counts
