"""End to end: the real workflow on the .test/ config, then the report; and snakemake --lint.

This runs every stage's real code (no mocks) on a few hundred DC2 galaxies with one or two epochs.
"""

import base64
import json
import math
import os
import subprocess
import sys
import time
import urllib.parse
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


def _non_blank(png, box=None) -> tuple[float, int]:
    """Share of pixels that are not the image's most common colour, and the number of colours."""
    from PIL import Image

    img = Image.open(png).convert("RGB")
    if box is not None:
        img = img.crop(box)
    px = np.asarray(img, dtype=np.int32).reshape(-1, 3)
    colours, counts = np.unique(px[:, 0] << 16 | px[:, 1] << 8 | px[:, 2], return_counts=True)
    return 1.0 - counts.max() / counts.sum(), len(colours)


@pytest.mark.slow
def test_report_renders_in_a_browser(test_run):
    """The report as a user sees it: headless Chromium shows every figure and the metrics table."""
    from chromium_cdp import Browser, find_chromium

    exe = find_chromium()
    if exe is None:
        pytest.skip("no chromium on PATH: `apt-get install chromium` (Debian; .ci/run installs it) "
                    "to open the report in a real browser")
    report = test_run / "report.html"
    if not report.is_file():
        proc = _snakemake(test_run, "--report", str(report))
        assert proc.returncode == 0, proc.stderr[-3000:]
    click = ("[...document.querySelectorAll('#app nav a')]"
             ".find(a => a.textContent.trim() === {!r}).click()")
    rows = "[...document.querySelectorAll('#app nav table tbody tr')]"
    main_box = "(() => {{ const r = {}.getBoundingClientRect(); return [r.left, r.top, r.right, r.bottom]; }})()"
    shots = test_run / "browser"
    shots.mkdir(exist_ok=True)
    with Browser(exe) as browser:
        browser.open(report.as_uri())
        browser.wait_for("document.querySelector('#app nav') !== null")
        browser.evaluate(click.format("Figures"))
        listed = browser.wait_for(f"{rows}.map(r => r.cells[0].textContent.trim())")
        assert sorted(listed) == sorted(FIGURES)  # the rendered DOM lists every figure
        for name in FIGURES:
            browser.evaluate(f"{rows}.find(r => r.cells[0].textContent.trim() === {name!r})"
                             ".querySelector('a[iconname=eye]').click()")
            shown = "[...document.querySelectorAll('#app img')].find(i => i.clientWidth > 200)"
            width = browser.wait_for(f"(() => {{ const i = {shown}; "
                                     "return i && i.complete ? i.naturalWidth : 0; })()")
            assert width > 500, name  # the PNG decoded (the figures are >= 1050 px wide)
            box = browser.evaluate(main_box.format(shown))
            png = browser.screenshot(shots / f"{name}.png")
            ink, n_colours = _non_blank(png, tuple(int(v) for v in box))
            assert ink > 0.02 and n_colours > 20, (name, ink, n_colours)
        browser.evaluate(click.format("Results"))
        browser.evaluate(click.format("Metrics"))
        browser.wait_for(f"{rows}.length")
        browser.evaluate(f"{rows}[0].querySelector('a[iconname=eye]').click()")
        frame = browser.wait_for("(() => { const f = document.querySelector('#app iframe'); "
                                 "return f && f.clientWidth > 200 ? f.src : null; })()")
        header, payload = frame.split(",", 1)
        table = (base64.b64decode(payload).decode() if header.endswith(";base64")
                 else urllib.parse.unquote(payload))
        assert "<table" in table and all(label in table for label in
                                         ("MLP", "CNN", "Hybrid", "Hybrid-transfer"))
        time.sleep(0.5)  # let the frame paint
        box = browser.evaluate(main_box.format("document.querySelector('#app iframe')"))
        png = browser.screenshot(shots / "metrics.png")
        ink, _ = _non_blank(png, tuple(int(v) for v in box))
        assert ink > 0.01, ink  # the table's text is on screen


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
