"""photoz.io: strict JSON, the content digest of checkpoints, and Snakemake's stale lock."""

import json
import math
import os
import signal
import subprocess
import time

import numpy as np
import pytest
import torch

from photoz.io import content_digest, json_safe, release_stale_lock, running_snakemakes, write_json


def _strict(text: str):
    """json.loads that refuses NaN / Infinity, as RFC 8259 (and jq, JavaScript) do."""
    def refuse(name):
        raise ValueError(f"not JSON: {name}")
    return json.loads(text, parse_constant=refuse)


def test_write_json_is_strict_json(tmp_path):
    """Issue 15: selection.json could hold a bare NaN; non-finite numbers are now null."""
    path = tmp_path / "s.json"
    write_json({"snr_threshold": float("nan"), "x": [1.0, float("inf"), np.float64(-np.inf)],
                "n": np.int64(3), "ok": 2.5}, path)
    assert _strict(path.read_text()) == {"snr_threshold": None, "x": [1.0, None, None], "n": 3,
                                         "ok": 2.5}
    assert json_safe({"a": (1, math.nan)}) == {"a": [1, None]}


def test_content_digest_survives_save_and_load_and_sees_one_changed_weight(tmp_path):
    ckpt = {"net": "mlp", "state_dict": {"w": torch.arange(6.0).reshape(2, 3),
                                         "n": torch.tensor(3)},
            "input_scaling": {"limiting_flux": [1.0, 2.0], "image_size": 32}, "best": math.inf}
    torch.save(ckpt, tmp_path / "c.pt")
    again = torch.load(tmp_path / "c.pt", weights_only=True)
    assert content_digest(again) == content_digest(ckpt)
    again["state_dict"]["w"][1, 2] = 5.000001
    assert content_digest(again) != content_digest(ckpt)
    assert content_digest({"a": [1, 2]}) != content_digest({"a": (1, 2)})
    assert content_digest({"a": 1.0}) != content_digest({"a": 1})


def _lock(directory):
    locks = directory / ".snakemake" / "locks"
    locks.mkdir(parents=True)
    (locks / "0.input.lock").write_text("x\n")
    return locks


def test_stale_lock_is_released_only_when_no_snakemake_runs_there(tmp_path):
    assert release_stale_lock(tmp_path) == "none"
    locks = _lock(tmp_path)
    # A process called snakemake working in this directory: the lock is its own; keep it.
    proc = subprocess.Popen(["bash", "-c", "exec -a snakemake sleep 60"], cwd=tmp_path)
    try:
        for _ in range(50):  # until exec has renamed the process
            if running_snakemakes(tmp_path):
                break
            time.sleep(0.05)
        assert running_snakemakes(tmp_path) == [proc.pid]
        assert release_stale_lock(tmp_path) == f"held by pid {proc.pid}"
        assert (locks / "0.input.lock").exists()
        # ... but one working elsewhere does not hold this directory's lock.
        other = tmp_path / "other"
        other.mkdir()
        assert running_snakemakes(other) == []
    finally:
        proc.kill()
        proc.wait()
    assert release_stale_lock(tmp_path) == "released 1 lock file(s)"
    assert not locks.exists()


@pytest.mark.skipif(not hasattr(os, "killpg"), reason="needs POSIX process groups")
def test_a_job_script_outliving_its_snakemake_holds_the_lock(tmp_path):
    """A killed Snakemake's job may still run (its script lives under .snakemake/scripts)."""
    _lock(tmp_path)
    script = tmp_path / ".snakemake" / "scripts" / "tmpjob.py"
    script.parent.mkdir(parents=True)
    script.write_text("import time\ntime.sleep(60)\n")
    proc = subprocess.Popen(["python3", str(script)], cwd="/", start_new_session=True)
    try:
        time.sleep(0.2)
        assert release_stale_lock(tmp_path) == f"held by pid {proc.pid}"
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
