"""End to end: the real workflow on the .test/ config, then the report; and snakemake --lint.

This runs every stage's real code (no mocks) on a few hundred DC2 galaxies with one or two epochs.
"""

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest

from photoz import BANDS

REPO = Path(__file__).resolve().parents[1]
SNAKEMAKE = str(Path(sys.executable).with_name("snakemake"))
NETWORKS = ("mlp", "cnn", "hybrid", "hybrid_transfer")
FIGURES = (
    "fig1_throughputs", "fig2_redshift_distribution", "fig3_example_stamps", "fig4_aperture_fluxes",
    "fig5_architectures", "fig6_training_history", "fig7_zphot_vs_zspec", "fig8_outlier_fraction",
)


def _snakemake(workdir: Path, *args: str, timeout: int = 900) -> subprocess.CompletedProcess:
    cmd = [SNAKEMAKE, "--snakefile", str(REPO / "Snakefile"), "--directory", str(workdir),
           "--configfile", str(REPO / ".test" / "config.yaml"), *args]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env, cwd=REPO)


@pytest.fixture(scope="module")
def test_run(tmp_path_factory):
    """Run `rule all` of the .test/ config once for this module; the working directory."""
    workdir = tmp_path_factory.mktemp("e2e")
    proc = _snakemake(workdir, "--cores", "2")
    if proc.returncode != 0:
        logs = "\n".join(f"== {p}\n{p.read_text()[-3000:]}" for p in (workdir / "logs").rglob("*.log"))
        pytest.fail(f"snakemake failed:\n{proc.stderr[-6000:]}\n{logs}")
    return workdir


@pytest.mark.slow
def test_summary_has_finite_metrics_for_every_network(test_run):
    summary = json.loads((test_run / "results/metrics/summary.json").read_text())
    assert summary["n_selected"] > 0
    for net in NETWORKS:
        for key in ("sigma_nmad", "outlier_fraction", "mae", "bias", "n_test"):
            assert math.isfinite(summary[net][key]), (net, key)
        assert summary[net]["n_test"] > 0
        assert 0 <= summary[net]["outlier_fraction"] <= 1
    table = (test_run / "results/metrics/summary.md").read_text()
    assert "sigma" in table.lower() and "0.023" in table  # the paper's MLP sigma_NMAD at 30k


@pytest.mark.slow
def test_every_peer_of_the_test_config_is_scored_and_drawn(test_run):
    """The .test/ config lists every peer (photoz.peers): each has predictions, a summary row and,
    for the RAIL ones, a qp p(z) file; the comparison figure exists."""
    import yaml

    peers = yaml.safe_load((REPO / ".test" / "config.yaml").read_text())["peers"]
    assert len(peers) == 5
    summary = json.loads((test_run / "results/metrics/summary.json").read_text())
    for peer in peers:
        assert (test_run / "results/predictions" / f"{peer}.parquet").is_file(), peer
        assert summary[peer]["n_test"] == summary["mlp"]["n_test"], peer
        assert 0 < summary[peer]["sigma_nmad"] < 1, peer
    for peer in ("flexzboost", "knn", "bpz"):
        assert (test_run / "results/peers" / f"{peer}_pz.hdf5").stat().st_size > 1000, peer
    for ext in ("png", "pdf"):
        assert (test_run / f"results/figures/peers_comparison.{ext}").stat().st_size > 1000


@pytest.mark.slow
def test_every_figure_exists_in_png_and_pdf(test_run):
    for fig in FIGURES:
        for ext in ("png", "pdf"):
            path = test_run / "results/figures" / f"{fig}.{ext}"
            assert path.is_file() and path.stat().st_size > 1000, path


@pytest.mark.slow
def test_intermediate_products_hold_finite_numbers(test_run):
    truth = pd.read_parquet(test_run / "results/catalog/truth.parquet")
    assert len(truth) == 400
    assert set(truth["split"]) <= {"train", "validation", "test", "unused"}
    assert np.isfinite(truth[[f"flux_{b}" for b in BANDS]].to_numpy()).all()
    n_images = 0
    for shard in sorted((test_run / "results/images").glob("shard_*.h5")):
        with h5py.File(shard) as f:
            assert f["images"].shape[1:] == (7, 48, 48)
            assert np.isfinite(f["images"][:]).all()
            n_images += f["images"].shape[0]
    assert n_images == len(truth)
    phot = pd.read_parquet(test_run / "results/photometry/photometry.parquet")
    sel = phot[phot["selected"]]
    assert np.isfinite(sel[[f"flux_{b}" for b in BANDS]].to_numpy()).all()
    for net in NETWORKS:
        pred = pd.read_parquet(test_run / "results/predictions" / f"{net}.parquet")
        assert np.isfinite(pred["z_pred"]).all()
        assert set(pred["object_id"]) == set(sel["object_id"])
        hist = pd.read_csv(test_run / "results/models" / f"{net}_history.csv")
        assert len(hist) >= 1 and np.isfinite(hist["val_loss"]).all()
        assert (test_run / "results/models" / f"{net}.pt").is_file()
    for rule in ("prepare_catalog", "measure_photometry"):
        assert (test_run / "logs" / f"{rule}.log").is_file()
    assert (test_run / "benchmarks" / "simulate_images" / "shard_0.tsv").is_file()


@pytest.mark.slow
def test_report_has_every_figure(test_run):
    proc = _snakemake(test_run, "--report", str(test_run / "report.html"))
    assert proc.returncode == 0, proc.stderr[-3000:]
    html = (test_run / "report.html").read_text(errors="replace")
    assert len(html) > 10_000


@pytest.mark.slow
def test_rerun_has_nothing_to_do(test_run):
    proc = _snakemake(test_run, "--cores", "1", "--dry-run")
    assert proc.returncode == 0
    assert "Nothing to be done" in proc.stdout + proc.stderr


def test_lint_is_clean():
    proc = subprocess.run([SNAKEMAKE, "--lint"], capture_output=True, text=True, cwd=REPO, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Congratulations" in proc.stdout + proc.stderr


def test_bad_config_stops_with_key(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("simulate:\n  stampsize: 32\n")
    proc = subprocess.run([SNAKEMAKE, "-n", "--configfile", str(bad), "--directory", str(tmp_path)],
                          capture_output=True, text=True, cwd=REPO, timeout=300)
    assert proc.returncode != 0
    assert "simulate.stampsize: unknown key" in proc.stdout + proc.stderr


def _dry_run_jobs(workdir: Path, *configfiles: Path, extra: tuple[str, ...] = ()) -> dict:
    """Job counts of a dry run (rule name -> count)."""
    cmd = [SNAKEMAKE, "-n", "--snakefile", str(REPO / "Snakefile"), "--directory", str(workdir),
           "--configfile", *map(str, configfiles), *extra]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    text = proc.stdout + proc.stderr
    table = text[text.index("Job stats:"):].splitlines()[3:]
    counts = {}
    for line in table:
        parts = line.split()
        if len(parts) != 2 or parts[0] == "total":
            break
        counts[parts[0]] = int(parts[1])
    return counts


def test_paper_config_dag(tmp_path):
    """config/paper.yaml: the COSMOS 25.2 download, 40 shards, four trainings."""
    jobs = _dry_run_jobs(tmp_path, REPO / "config" / "paper.yaml")
    assert jobs["download_cosmos"] == 1
    assert jobs["simulate_images"] == 40
    assert jobs["train_network"] == 4
    assert jobs["plot_figure"] == 8


def _digests(directory: Path) -> dict:
    import hashlib

    return {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(directory.rglob("*"))
            if p.is_file()}


def test_existing_data_is_never_a_download_target(tmp_path, shared_data):
    """Snakemake deletes a job's outputs before running it: data that exist must not be in the DAG."""
    over = tmp_path / "over.yaml"
    over.write_text(
        f"data_dir: {shared_data}\n"
        f"instrument: {{throughput: {shared_data / 'csst' / 'throughput_galaxyGenius'}}}\n"
        "simulate: {psf: images}\n"
    )
    jobs = _dry_run_jobs(tmp_path, REPO / ".test" / "config.yaml", REPO / ".test" / "cosmos.yaml", over)
    assert "download_cosmos" not in jobs and "download_csst_data" not in jobs, jobs
    absent = tmp_path / "absent"
    over.write_text(
        f"data_dir: {absent}\n"
        f"instrument: {{throughput: {absent / 'csst' / 'throughput_galaxyGenius'}}}\n"
        "simulate: {psf: images}\n"
    )
    jobs = _dry_run_jobs(tmp_path, REPO / ".test" / "config.yaml", over)
    assert jobs["download_csst_data"] == 14  # 7 throughput curves + 7 PSF images


@pytest.mark.slow
def test_cosmos_real_images_end_to_end(tmp_path, shared_data):
    """Source cosmos with real HST images (100 BTK galaxies in ../shared/data) through every rule."""
    before = _digests(shared_data / "catalogs" / "btk_cosmos_real_images_100")
    proc = _snakemake(tmp_path, "--cores", "2", "--configfile", str(REPO / ".test" / "config.yaml"),
                      str(REPO / ".test" / "cosmos.yaml"), "--config", f"data_dir={shared_data}")
    assert proc.returncode == 0, proc.stderr[-6000:]
    assert _digests(shared_data / "catalogs" / "btk_cosmos_real_images_100") == before
    truth = pd.read_parquet(tmp_path / "results/catalog/truth.parquet")
    assert len(truth) == 100 and (truth["real_image_index"] >= 0).all()
    summary = json.loads((tmp_path / "results/metrics/summary.json").read_text())
    assert summary["n_selected"] > 20
    for net in NETWORKS:
        assert math.isfinite(summary[net]["sigma_nmad"])
