"""End to end: the real workflow on the .test/ config, then the report; and snakemake --lint.

This runs every stage's real code (no mocks) on a few hundred DC2 galaxies with one or two epochs.
"""

import base64
import html
import json
import math
import os
import subprocess
import sys
import time
import urllib.parse
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from dry_runs import dry_run, job_counts

from photoz import BANDS
from photoz.names import LABELS
from photoz.products.catalog import TRUTH_COLUMNS, TRUTH_COMPONENT_COLUMNS, read_truth
from photoz.products.photometry import PHOTOMETRY_COLUMNS, read_photometry
from photoz.products.simulate import open_shard, read_shard_ids
from photoz.products.train import read_history, read_predictions

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
    # each network's row of summary.md shows this run's own sigma_NMAD beside the paper's
    table = (test_run / "results/metrics/summary.md").read_text()
    rows = {line.split("|")[1].strip(): line for line in table.splitlines()
            if line.startswith("| ")}
    for net in NETWORKS:
        cells = [c.strip() for c in rows[LABELS[net]].split("|")]
        assert cells[4].startswith(f"{summary[net]['sigma_nmad']:.4f} ± "), (net, cells)
    assert [c.strip() for c in rows["MLP"].split("|")][5] == "0.0230"  # paper Table 2, 30k


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
def test_every_p_z_method_has_the_same_scores_and_every_row_its_flux(test_run):
    """Issue 29: the networks and the RAIL peers (FlexZBoost, KNearNeigh, BPZ) have the same p(z)
    scores in summary.json; every row names the flux measurement its method read, the peers the
    networks' (the photometry table's photometry.flux_type; matched in config/config.yaml)."""
    from photoz.train.inputs import load_photometry

    summary = json.loads((test_run / "results/metrics/summary.json").read_text())
    for method in (*NETWORKS, "flexzboost", "knn", "bpz"):
        for key in ("crps", "pit_ks", "coverage_68", "coverage_95"):
            assert math.isfinite(summary[method][key]), (method, key)
        assert 0 < summary[method]["crps"] < 1 and 0 <= summary[method]["coverage_95"] <= 1
    for peer in ("random_forest", "gradient_boosting"):
        assert "crps" not in summary[peer], peer  # no p(z)
    peers = yaml.safe_load((REPO / ".test" / "config.yaml").read_text())["peers"]
    flux = load_photometry(test_run / "results/photometry/photometry.parquet").attrs["flux_type"]
    assert flux in ("kron", "matched") and {summary[p]["input_flux"] for p in peers} == {flux}
    assert [summary[n]["input_flux"] for n in NETWORKS] == [flux, "none", flux, flux]


@pytest.mark.slow
def test_no_network_p_z_has_mass_below_redshift_zero(test_run):
    """Issue 29: no network's p(z) (the qp file, as qp.read gives it) holds more than 0.1% of its
    mass below z = 0 for any test galaxy; its point estimates are those of that p(z)."""
    import qp

    for net in NETWORKS:
        ens = qp.read(str(test_run / "results/pdfs" / f"{net}.hdf5"))
        below = np.asarray(ens.cdf(np.zeros((ens.npdf, 1)))).ravel()
        assert ens.npdf > 0 and below.max() <= 1e-3, (net, below.max())
        pred = read_predictions(test_run / "results/predictions" / f"{net}.parquet")
        assert (pred[["z_pred", "z_mode", "z_lo68", "z_hi68"]].to_numpy() >= 0).all(), net
        np.testing.assert_array_equal(np.asarray(ens.ancil["object_id"]), pred["object_id"])
        cdf = np.asarray(ens.cdf(pred["z_median"].to_numpy()[:, None])).ravel()
        np.testing.assert_allclose(cdf, 0.5, atol=5e-3)  # the median, to the grid's error


@pytest.mark.slow
def test_every_figure_exists_in_png_and_pdf(test_run):
    for fig in FIGURES:
        for ext in ("png", "pdf"):
            path = test_run / "results/figures" / f"{fig}.{ext}"
            assert path.is_file() and path.stat().st_size > 1000, path


@pytest.mark.slow
def test_intermediate_products_hold_finite_numbers(test_run):
    # the readers of photoz.products check the whole contract of each product (columns, types,
    # finite values, unique ids, split labels, shard layout) and raise naming file/column/row
    truth = read_truth(test_run / "results/catalog/truth.parquet")
    assert len(truth) == 400 and list(truth.columns) == list(TRUTH_COLUMNS + TRUTH_COMPONENT_COLUMNS)
    assert set(truth["split"]) <= {"train", "validation", "test", "unused"}
    assert np.isfinite(truth[[f"flux_{b}" for b in BANDS]].to_numpy()).all()
    n_images = 0
    for shard in sorted((test_run / "results/images").glob("shard_*.h5")):
        with open_shard(shard) as f:
            assert f["images"].shape[1:] == (7, 48, 48)
            assert np.isfinite(f["images"][:]).all()
            n_images += f["images"].shape[0]
    assert n_images == len(truth)
    phot = pd.read_parquet(test_run / "results/photometry/photometry.parquet")
    assert list(phot.columns) == list(PHOTOMETRY_COLUMNS)
    sel = read_photometry(test_run / "results/photometry/photometry.parquet")
    assert len(sel) == phot["selected"].sum()
    assert np.isfinite(sel[[f"flux_{b}" for b in BANDS]].to_numpy()).all()
    for net in NETWORKS:
        pred = read_predictions(test_run / "results/predictions" / f"{net}.parquet",
                                         split=None)
        assert np.isfinite(pred["z_pred"]).all()
        assert set(pred["object_id"]) == set(sel["object_id"])
        hist = read_history(test_run / "results/models" / f"{net}_history.csv")
        assert len(hist) >= 1 and np.isfinite(hist["val_loss"]).all()
        assert (test_run / "results/models" / f"{net}.pt").is_file()
    for rule in ("prepare_catalog", "measure_photometry"):
        assert (test_run / "logs" / f"{rule}.log").is_file()
    assert (test_run / "benchmarks" / "simulate_images" / "shard_0.tsv").is_file()


def _report_results(page: str) -> dict:
    """The results a Snakemake report embeds (its ``<script id="results">``): path -> item."""
    start = page.index("var results = ", page.index('<script id="results">'))
    results, _ = json.JSONDecoder().raw_decode(page, start + len("var results = "))
    return results


def _data_uri_bytes(uri: str) -> bytes:
    header, payload = uri.split(",", 1)
    return (base64.b64decode(payload) if header.endswith(";base64")
            else urllib.parse.unquote_to_bytes(payload))


class _TableCells(HTMLParser):
    """The text of every cell of an HTML page's tables, one list per row."""

    def __init__(self):
        super().__init__()
        self.rows, self._cell = [], None

    def handle_starttag(self, tag, attrs):
        if tag == "tr":
            self.rows.append([])
        elif tag in ("td", "th"):
            self._cell = ""

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            self.rows[-1].append(self._cell.strip())
            self._cell = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell += data


def check_report(workdir: Path, report: Path) -> None:
    """The report holds every figure of the run, byte for byte, each with its own caption, and the
    metrics table whose numbers are summary.json's."""

    cfg = yaml.safe_load((REPO / ".test" / "config.yaml").read_text())
    results = _report_results(report.read_text())
    expected = FIGURES + ("pdf_calibration", "peers_comparison")  # with or without peers
    assert {k for k in results if k.startswith("results/figures/")} == {
        f"results/figures/{name}.png" for name in expected}
    for name in expected:
        item = results[f"results/figures/{name}.png"]
        assert item["labels"] == {"figure": name}
        assert _data_uri_bytes(item["data_uri"]) == (
            workdir / "results" / "figures" / f"{name}.png").read_bytes(), name
        title = (REPO / "workflow" / "report" / f"{name}.rst").read_text().split("**")[1]
        assert f"<strong>{html.escape(title, quote=False)}</strong>" in item["caption"], name
    table = results["results/metrics/summary.html"]
    assert f"over {cfg['evaluate']['n_bootstrap']} resamplings" in table["caption"]
    page = _data_uri_bytes(table["data_uri"]).decode()
    assert page == (workdir / "results" / "metrics" / "summary.html").read_text()
    cells = _TableCells()
    cells.feed(page)
    header, *rows = cells.rows
    assert header[:9] == ["network", "input flux", "n_test", "sigma_NMAD", "paper",
                          "outlier fraction", "paper", "MAE", "paper"]
    assert header[-4:] == ["CRPS", "PIT KS", "coverage 68", "coverage 95"]
    by_label = {row[0]: row for row in rows}
    summary = json.loads((workdir / "results" / "metrics" / "summary.json").read_text())
    labels = dict(LABELS)
    methods = [*NETWORKS, *cfg.get("peers", [])]
    assert sorted(by_label) == sorted(labels[m] for m in methods)
    for method in methods:
        row, m = by_label[labels[method]], summary[method]
        assert row[1] == ("none (stamps)" if m["input_flux"] == "none" else m["input_flux"])
        assert row[2] == str(m["n_test"]), method
        assert row[3] == f"{m['sigma_nmad']:.4f} ± {m['sigma_nmad_err']:.4f}", method
        assert row[5] == (f"{100 * m['outlier_fraction']:.2f}% ± "
                          f"{100 * m['outlier_fraction_err']:.2f}"), method
        assert row[7] == f"{m['mae']:.4f} ± {m['mae_err']:.4f}", method
        assert row[-4] == (f"{m['crps']:.4f}" if "crps" in m else "—"), method
    # the paper's 30k row (Zhou et al. 2022, Table 2) beside the 3:1 run
    assert by_label["MLP"][4] == "0.0230" and by_label["MLP"][6] == "1.43%"
    assert by_label["Hybrid-transfer"][6] == "0.90%" and by_label["CNN"][8] == "0.0290"


@pytest.mark.slow
def test_report_embeds_every_figure_and_the_metrics_table(test_run):
    proc = _snakemake(test_run, "--report", str(test_run / "report.html"))
    assert proc.returncode == 0, proc.stderr[-3000:]
    check_report(test_run, test_run / "report.html")


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
        # the rendered DOM lists every figure: the paper's eight, the p(z) calibration, and the
        # comparison of the methods (drawn with or without peers; .test/config.yaml runs them)
        expected = FIGURES + ("pdf_calibration", "peers_comparison")
        assert sorted(listed) == sorted(expected)
        for name in expected:
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


@pytest.mark.slow
def test_machine_settings_and_a_trimmed_network_list_retrain_nothing(test_run, tmp_path):
    """Issue 16, by dry run on the completed .test run (Snakemake's default rerun triggers,
    params among them): train.threads, gpus and device rerun no job; dropping hybrid from
    train.networks retrains none of the other three (on main: 4 and 3 trainings)."""
    machine = tmp_path / "machine.yaml"
    machine.write_text("train: {threads: 2, gpus: 1, device: cpu}\npeer_settings: {threads: 2}\n")
    cmd = [SNAKEMAKE, "-n", "--snakefile", str(REPO / "Snakefile"), "--directory", str(test_run),
           "--configfile", str(REPO / ".test" / "config.yaml"), str(machine)]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Nothing to be done" in proc.stdout + proc.stderr, proc.stdout[-3000:]
    trimmed = tmp_path / "trimmed.yaml"
    trimmed.write_text("train: {networks: [mlp, cnn, hybrid_transfer]}\n")
    jobs = _dry_run_jobs(test_run, REPO / ".test" / "config.yaml", trimmed)
    assert "train_network" not in jobs, jobs
    assert jobs.get("compute_metrics") == 1  # the metrics do change: one network fewer


@pytest.mark.slow
def test_a_deleted_stage_product_is_remade_by_a_plain_rerun(test_run):
    """Issue 15: a shard deleted after a corrupt-shard error, or a model lost to a kill during
    --forcerun train_network, used to leave "Nothing to be done"."""
    for product, rule in (("results/images/shard_1.h5", "simulate_images"),
                          ("results/models/mlp.pt", "train_network"),
                          ("results/metrics/binned.csv", "compute_metrics")):
        path = test_run / product
        aside = path.with_name(path.name + ".aside")
        os.replace(path, aside)  # keeps the mtime, so the run is complete again when put back
        try:
            jobs = _dry_run_jobs(test_run, REPO / ".test" / "config.yaml")
        finally:
            os.replace(aside, path)
        assert jobs.get(rule, 0) >= 1, (product, jobs)


@pytest.mark.slow
def test_logs_hold_one_line_per_epoch_and_no_progress_frames(test_run):
    """Issue 15: tqdm wrote every batch of every epoch into the rule logs as \\r frames."""
    for log in (test_run / "logs").rglob("*.log"):
        assert "\r" not in log.read_text(), log
    for net in NETWORKS:
        text = (test_run / "logs" / "train_network" / f"{net}.log").read_text()
        hist = pd.read_csv(test_run / "results" / "models" / f"{net}_history.csv")
        lines = [line for line in text.splitlines() if f"{net} epoch " in line]
        assert len(lines) == len(hist), (net, lines)
        for line in lines:
            assert all(word in line for word in ("train ", "val ", "lr ", " s,")), line


def test_a_killed_run_resumes_after_photoz_unlock(tmp_path):
    """Issue 15: after a SIGKILL, Snakemake refuses the directory (LockException) until unlocked;
    `python -m photoz unlock` (which make run calls) releases it when nothing runs there. The
    runs ask for figure 1 only (no inputs, a few seconds)."""
    import signal
    import time

    from photoz.cli import main

    target = "results/figures/fig1_throughputs.png"
    cmd = [SNAKEMAKE, "--snakefile", str(REPO / "Snakefile"), "--directory", str(tmp_path),
           "--configfile", str(REPO / ".test" / "config.yaml"), "--cores", "1", target]
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    locks = tmp_path / ".snakemake" / "locks"
    try:
        for _ in range(1200):
            if locks.is_dir() and any(locks.glob("*.lock")):
                break
            time.sleep(0.05)
        assert any(locks.glob("*.lock")), "snakemake never locked its directory"
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # snakemake and any job it started
        proc.wait()
    locked = _snakemake(tmp_path, "--cores", "1", target, timeout=300)
    assert locked.returncode != 0 and "LockException" in locked.stdout + locked.stderr
    assert main(["unlock", "--directory", str(tmp_path)]) == 0
    assert not any(locks.glob("*.lock"))
    resumed = _snakemake(tmp_path, "--cores", "1", target, timeout=300)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert (tmp_path / target).is_file()


def _make_run(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    """`make run` with BIN holding this python and a stand-in snakemake that records its
    arguments (so no workflow runs), the set-up stamp taken as done."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    (bin_dir / "python").write_text(f'#!/bin/sh\nexec {sys.executable} "$@"\n')
    (bin_dir / "snakemake").write_text(f'#!/bin/sh\necho "$@" >> {tmp_path}/snakemake.calls\n')
    for exe in ("python", "snakemake"):
        (bin_dir / exe).chmod(0o755)
    return subprocess.run(["make", "--no-print-directory", "-o", ".venv/.photoz-installed", "run",
                           f"BIN={bin_dir}", *args], cwd=REPO, capture_output=True, text=True,
                          timeout=120)


def test_make_run_checks_config_files_then_unlocks_then_runs(tmp_path):
    """Issue 15: a YAML error in a --configfile got no file or line from Snakemake; make run
    validates the files first. Then it releases a stale lock, then runs snakemake."""
    bad = tmp_path / "broken.yaml"
    bad.write_text("simulate:\n  n_shards: [1\n")
    proc = _make_run(tmp_path, f"CONFIG={bad}")
    assert proc.returncode != 0
    assert f'in "{bad}", line 2' in proc.stderr
    assert not (tmp_path / "snakemake.calls").exists()  # stopped before snakemake

    good = tmp_path / "good.yaml"
    good.write_text("simulate:\n  n_shards: 3\n")
    dry = subprocess.run(["make", "-n", "-o", ".venv/.photoz-installed", "run", f"CONFIG={good}"],
                         cwd=REPO, capture_output=True, text=True, timeout=60).stdout
    assert dry.index("photoz validate-config") < dry.index("photoz unlock") \
        < dry.index("snakemake --cores all")
    proc = _make_run(tmp_path, f"CONFIG={good}")
    assert proc.returncode == 0, proc.stderr
    calls = (tmp_path / "snakemake.calls").read_text().splitlines()
    assert calls[0] == f"--cores all --configfile {good}"


def test_lint_is_clean():
    proc = subprocess.run([SNAKEMAKE, "--lint"], capture_output=True, text=True, cwd=REPO, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Congratulations" in proc.stdout + proc.stderr


@pytest.mark.parametrize("text, message", [
    ("simulate:\n  stampsize: 32\n", "simulate.stampsize: unknown key"),
    # Issue 15: these used to pass and fail after three stages, or select nobody silently.
    ("train:\n  image_size: 20\n", "train.image_size: 20 is not a multiple of 8"),
    ("photometry:\n  snr_threshold: .nan\n", "photometry.snr_threshold: nan is not a finite"),
])
def test_bad_config_stops_with_key(tmp_path, text, message):
    bad = tmp_path / "bad.yaml"
    bad.write_text(text)
    proc = subprocess.run([SNAKEMAKE, "-n", "--configfile", str(bad), "--directory", str(tmp_path)],
                          capture_output=True, text=True, cwd=REPO, timeout=300)
    assert proc.returncode != 0
    assert message in proc.stdout + proc.stderr


def _dry_run_jobs(workdir: Path, *configfiles: Path, extra: tuple[str, ...] = ()) -> dict:
    """Job counts of a dry run (rule name -> count)."""
    return job_counts(dry_run(workdir, *configfiles, extra=extra))


def test_paper_config_dag(tmp_path):
    """config/paper.yaml: the COSMOS 25.2 download, 40 shards, four trainings at each of Table 2's
    three train:test ratios (two further ratios, each with its own split)."""
    jobs = _dry_run_jobs(tmp_path, REPO / "config" / "paper.yaml")
    assert jobs["download_cosmos"] == 1
    assert jobs["simulate_images"] == 40
    assert jobs["train_network"] == 3 * 4
    assert jobs["split_ratio"] == 2
    # the paper's eight, the p(z) calibration and the comparison of the methods (issue 29)
    assert jobs["plot_figure"] == 10


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


# ---- several train:test ratios in one run (issue 12; photoz.catalog.splits) -----------------------


def _dry_run_outputs(workdir: Path, *configfiles: Path) -> list[str]:
    """Every job's rule and output files of a dry run, sorted."""
    cmd = [SNAKEMAKE, "-n", "--snakefile", str(REPO / "Snakefile"), "--directory", str(workdir),
           "--configfile", *map(str, configfiles)]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    jobs, rule = [], None
    for line in (proc.stdout + proc.stderr).splitlines():
        line = line.strip()
        if line.startswith(("rule ", "localrule ")):
            rule = line.split()[1].rstrip(":")
        elif line.startswith("output:") and rule:
            jobs.append(f"{rule}: {line[len('output:'):].strip()}")
    return sorted(jobs)


def test_a_second_ratio_adds_only_its_own_jobs(tmp_path):
    """The one-ratio .test DAG (the same jobs and files as before ratio lists; a list of one
    ratio is the same list, tests/test_catalog_splits.py) is kept whole when a second ratio is added,
    which adds its split and its four trainings under r1-3/ and nothing else."""
    today = _dry_run_outputs(tmp_path, REPO / ".test" / "config.yaml")
    assert len(today) > 20 and not any("/r1-3/" in j for j in today)
    two = tmp_path / "two.yaml"
    two.write_text('catalog: {train_test_ratio: ["3:1", "1:3"]}\n')
    swept = _dry_run_outputs(tmp_path, REPO / ".test" / "config.yaml", two)
    added = [j for j in swept if j not in today]
    assert [j for j in today if j not in swept] == []
    assert sorted(j.split(":")[0] for j in added) == ["split_ratio"] + ["train_network"] * 4
    assert all("/r1-3/" in j for j in added), added


def _rerun_copy(test_run: Path, work: Path, overlay: str, targets: tuple[str, ...]):
    """Copy the finished .test run to ``work``, plan ``targets`` with ``overlay`` (YAML) over
    .test/config.yaml, run them; returns ``work`` and the planned job counts."""
    import shutil

    shutil.copytree(test_run, work, symlinks=True)
    over = work.with_suffix(".yaml")
    over.write_text(overlay)
    configs = (REPO / ".test" / "config.yaml", over)
    jobs = _dry_run_jobs(work, *configs, extra=("--cores", "1", *targets))
    cmd = [SNAKEMAKE, "--snakefile", str(REPO / "Snakefile"), "--directory", str(work),
           "--configfile", *map(str, configs), "--cores", "2", *targets]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, timeout=600)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return work, jobs


@pytest.mark.slow
def test_a_two_ratio_sweep_adds_the_1_to_3_row(test_run, tmp_path):
    """Issue 12's done-when: a two-ratio sweep (3:1 and 1:3, the MLP) on .test data. It reuses
    the finished .test run (a copy): the dry run plans only the 1:3 split, its MLP and the
    metrics; the 1:3 split has the hand-computed sizes (400 galaxies: 300 test, 100 train +
    validation of which 10 validation) with the 3:1 test set inside it; both rows' predictions
    and metrics exist and the summary holds both beside the paper's 30k and 10k rows, each with
    its p(z) scores (issue 27: the 1:3 row's p(z) file was looked up at a path that never
    exists, so its scores were missing without a word)."""
    work, jobs = _rerun_copy(test_run, tmp_path / "sweep",
                             'catalog: {train_test_ratio: ["3:1", "1:3"]}\n'
                             "train: {networks: [mlp]}\npeers: []\n",
                             ("results/metrics/summary.json",))
    assert jobs == {"split_ratio": 1, "train_network": 1, "compute_metrics": 1}, jobs

    truth = read_truth(work / "results/catalog/truth.parquet")
    first = pd.read_parquet(work / "results/photometry/photometry.parquet")
    r13 = pd.read_parquet(work / "results/photometry/r1-3/photometry.parquet")
    counts = {k: int((truth["split"] == k).sum()) for k in ("train", "validation", "test")}
    assert counts == {"train": 270, "validation": 30, "test": 100}  # 3:1 of 400, by hand
    counts = {k: int((r13["split"] == k).sum()) for k in ("train", "validation", "test")}
    assert counts == {"train": 90, "validation": 10, "test": 300}  # 1:3 of 400, by hand
    assert r13.drop(columns="split").equals(first.drop(columns="split"))
    assert set(first.loc[first["split"] == "test", "object_id"]) < \
        set(r13.loc[r13["split"] == "test", "object_id"])  # nested test sets

    summary = json.loads((work / "results/metrics/summary.json").read_text())
    assert list(summary["ratios"]) == ["3:1", "1:3"]
    for ratio, phot, pred in (("3:1", first, "results/predictions/mlp.parquet"),
                              ("1:3", r13, "results/predictions/r1-3/mlp.parquet")):
        row = summary["ratios"][ratio]["mlp"]
        pz = read_predictions(work / pred, split=None)
        sel = phot[phot["selected"]].set_index("object_id")["split"]
        assert (pz["split"].to_numpy() == sel.loc[pz["object_id"]].to_numpy()).all(), ratio
        for key, name in (("n_train", "train"), ("n_validation", "validation"),
                          ("n_test", "test")):
            assert row[key] == int((sel == name).sum()), (ratio, key)
        assert 0 < row["sigma_nmad"] < 1 and math.isfinite(row["outlier_fraction"])
        # every ratio's p(z) is scored (the 1:3 row had none while its path was derived)
        for key in ("crps", "pit_ks", "coverage_68", "coverage_95"):
            assert math.isfinite(row[key]), (ratio, key)
        assert 0 < row["crps"] < 1 and 0 <= row["coverage_68"] <= row["coverage_95"] <= 1
    assert summary["ratios"]["1:3"]["mlp"]["n_train"] < summary["ratios"]["3:1"]["mlp"]["n_train"]
    assert summary["mlp"]["sigma_nmad"] == summary["ratios"]["3:1"]["mlp"]["sigma_nmad"]
    assert (work / "results/models/r1-3/mlp.pt").is_file()
    assert (work / "results/pdfs/r1-3/mlp.hdf5").is_file()
    md = (work / "results/metrics/summary.md").read_text()
    rows = [line for line in md.splitlines() if line.startswith(("| 3:1 |", "| 1:3 |"))]
    assert len(rows) == 2
    assert rows[0].startswith("| 3:1 | 30k | MLP |") and "| 0.0230 |" in rows[0]
    assert rows[1].startswith("| 1:3 | 10k | MLP |") and "| 2.39% |" in rows[1]


@pytest.mark.slow
def test_cropped_stamps_give_the_networks_the_same_predictions(test_run, tmp_path):
    """Issue 12's storage: with ``simulate.keep_full_stamps: false`` each shard is measured and
    cropped by rule measure_shard (selected galaxies, central train.image_size pixels) and the
    later stages read the crops. On a copy of the finished .test run, the photometry combined
    from the per-shard measurements equals the one-job photometry, the cropped shards hold
    exactly the selected galaxies at 32 x 32, the CNN retrained from them predicts bit-identical
    redshifts, and Fig. 3 is drawn from them."""
    n_shards = len(list((test_run / "results/images").glob("shard_*.h5")))
    work, jobs = _rerun_copy(test_run, tmp_path / "cropped",
                             "simulate: {keep_full_stamps: false}\n"
                             "train: {networks: [mlp, cnn]}\npeers: []\n",
                             ("results/predictions/cnn.parquet",
                              "results/figures/fig3_example_stamps.png"))
    # The shards are not redrawn: only measured per shard, combined, the CNN and the figure.
    assert jobs == {"measure_shard": n_shards, "measure_photometry": 1, "train_network": 1,
                    "plot_figure": 1}, jobs

    phot = pd.read_parquet(work / "results/photometry/photometry.parquet")
    pd.testing.assert_frame_equal(
        phot, pd.read_parquet(test_run / "results/photometry/photometry.parquet"))
    ids = np.concatenate([read_shard_ids(p)
                          for p in sorted((work / "results/images").glob("cropped_*.h5"))])
    assert sorted(ids.tolist()) == sorted(phot.loc[phot["selected"], "object_id"].tolist())
    with open_shard(next((work / "results/images").glob("cropped_*.h5"))) as f:
        assert f["images"].shape[1:] == (7, 32, 32)  # .test stamps are 48 x 48
    full = pd.read_parquet(test_run / "results/predictions/cnn.parquet")
    crop = pd.read_parquet(work / "results/predictions/cnn.parquet")
    pd.testing.assert_frame_equal(crop, full)
    assert (work / "results/figures/fig3_example_stamps.png").stat().st_size > 10_000


@pytest.mark.slow
def test_photoz_verify_finds_every_product_of_the_run_good(test_run, capsys):
    """Issue 30: every product of a run carries a checksum that `photoz verify` checks."""
    from photoz.cli import main

    assert main(["verify", str(test_run / "results")]) == 0
    out = capsys.readouterr().out
    summary = out.strip().splitlines()[-1]
    assert ", 0 bad," in summary and "BAD" not in out, out[-3000:]
    # the kinds without a checksum: figures as PDF, pickled peer models, BPZ's data files
    unchecked = summary[summary.index("(not checked: "):]
    assert all(kind not in unchecked for kind in (".parquet", ".h5", ".hdf5", ".pt", ".json",
                                                  ".csv", ".png")), summary


def _zero_inside_data(path: Path, n: int = 64, keep_mtime: bool = True) -> None:
    """Zero ``n`` bytes in the middle of a parquet file's data pages, as bit rot would."""
    raw = bytearray(path.read_bytes())
    footer = len(raw) - 8 - int.from_bytes(raw[-8:-4], "little")
    st = path.stat()
    raw[footer // 2:footer // 2 + n] = bytes(n)
    path.write_bytes(bytes(raw))
    if keep_mtime:
        os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))


@pytest.mark.slow
def test_a_zeroed_photometry_table_stops_verify_and_the_next_job(test_run, tmp_path):
    """Issue 30's case on a copy of the finished run: 64 zeroed bytes in photometry.parquet.
    With its modification time kept Snakemake has nothing to do, and `photoz verify` names the
    file; with a new one the next job that reads it stops, naming it."""
    import shutil

    from photoz.cli import main

    run = tmp_path / "run"
    shutil.copytree(test_run, run, symlinks=True, ignore=shutil.ignore_patterns("locks"))
    table = run / "results" / "photometry" / "photometry.parquet"
    _zero_inside_data(table, keep_mtime=True)
    dry = _snakemake(run, "-n", timeout=300)
    assert "Nothing to be done" in dry.stdout + dry.stderr, (dry.stdout + dry.stderr)[-2000:]
    assert main(["verify", str(run / "results")]) == 1
    os.utime(table)  # touched: the jobs after it rerun, and the first one reading it stops
    proc = _snakemake(run, "--cores", "2", "--until", "train_network", timeout=900)
    out = proc.stdout + proc.stderr + "".join(p.read_text() for p in (run / "logs").rglob("*.log"))
    assert proc.returncode != 0
    assert f"photometry table {table.relative_to(run)} is corrupt" in out or \
        f"photometry table {table} is corrupt" in out, out[-4000:]
    assert "snakemake --forcerun measure_photometry" in out


@pytest.mark.slow
def test_two_runs_with_the_same_seed_write_the_same_bytes(test_run, tmp_path):
    """Issue 30: a second .test run with the same seed, in a new directory, writes every file of
    results/ with the same SHA-256 (the histories held each epoch's seconds and the peers' tables
    the fit's wall time; those stay in logs/ and benchmarks/)."""
    import hashlib

    second = tmp_path / "second"
    proc = _snakemake(second, "--cores", "2")
    assert proc.returncode == 0, proc.stderr[-3000:]

    def digests(root: Path) -> dict[str, str]:
        return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
                for p in sorted((root / "results").rglob("*")) if p.is_file()}

    a, b = digests(test_run), digests(second)
    assert sorted(a) == sorted(b)
    differ = [name for name in a if a[name] != b[name]]
    assert not differ, differ
