"""Tests of photoz.evaluate.summary: summary.json / .md / .html and binned.csv beside the paper's table."""

from __future__ import annotations

import json
from html.parser import HTMLParser

import numpy as np
import pandas as pd
import pytest

from photoz import paper
from photoz.benchmarks.toydata import write_toy_predictions
from photoz.errors import PhotozConfigError, PhotozDataError
from photoz.evaluate import metrics, summary
from photoz.names import NETWORKS


def _write_predictions(path, rng, scatter, n_test=400, n_train=300):
    z_true = rng.gamma(2.0, 0.45, n_test + n_train)
    z_pred = z_true + scatter * (1 + z_true) * rng.standard_normal(z_true.size)
    split = np.array(["test"] * n_test + ["train"] * n_train, dtype=object)
    z_pred[n_test:] += 3.0  # train rows are terrible: they must not enter the metrics
    write_toy_predictions(path, z_true, z_pred, split)
    return z_pred[:n_test], z_true[:n_test]


@pytest.fixture
def run_files(tmp_path):
    rng = np.random.default_rng(11)
    preds, truth = {}, {}
    for k, net in enumerate(NETWORKS):
        path = tmp_path / f"{net}.parquet"
        truth[net] = _write_predictions(path, rng, 0.02 + 0.01 * k)
        preds[net] = str(path)
    sel = tmp_path / "selection.json"
    sel.write_text(json.dumps({"n_total": 900, "n_measured": 880, "n_selected": 700}))
    return preds, sel, truth


def test_write_summary(run_files, tmp_path):
    preds, sel, truth = run_files
    out = tmp_path / "metrics"
    result = summary.write_summary(
        preds,
        sel,
        out / "summary.json",
        out / "summary.md",
        out / "binned.csv",
        train_test_ratio="3:1",
        n_bootstrap=20,
        seed=0,
    )
    on_disk = json.loads((out / "summary.json").read_text())
    assert on_disk["n_selected"] == 700
    for net in NETWORKS:
        zp, zt = truth[net]
        for key in ("sigma_nmad", "outlier_fraction", "mae", "bias", "n_test", "sigma_mad"):
            assert key in on_disk[net]
        assert on_disk[net]["n_test"] == 400
        assert on_disk[net]["sigma_nmad"] == pytest.approx(metrics.sigma_nmad(zp, zt), abs=1e-15)
        assert on_disk[net]["mae"] == pytest.approx(metrics.mae(zp, zt), abs=1e-15)
        assert on_disk[net]["sigma_nmad_err"] > 0
    assert result["mlp"]["sigma_nmad"] < result["hybrid_transfer"]["sigma_nmad"]
    md = (out / "summary.md").read_text()
    assert "| MLP | — | 400 |" in md  # toy tables name no input flux
    assert "1.43%" in md and "0.90%" in md and "0.029" in md  # the paper's 30k row
    binned = pd.read_csv(out / "binned.csv")
    assert set(binned["network"]) == set(NETWORKS)
    assert set(binned["binned_by"]) == {"z_true", "z_pred"}
    assert binned.groupby(["network", "binned_by"])["n"].sum().eq(400).all()
    assert not list(out.glob(".*tmp"))  # no temporary files left


def test_write_summary_picks_paper_row_by_ratio(run_files, tmp_path):
    preds, sel, _ = run_files
    summary.write_summary(
        preds,
        sel,
        tmp_path / "s.json",
        tmp_path / "s.md",
        tmp_path / "b.csv",
        train_test_ratio="1:3",
        n_bootstrap=0,
    )
    md = (tmp_path / "s.md").read_text()
    assert "10k" in md and "2.39%" in md and "1.43%" not in md
    assert json.loads((tmp_path / "s.json").read_text())["mlp"]["mae_err"] is None


def test_write_summary_errors(run_files, tmp_path):
    preds, sel, _ = run_files
    args = (tmp_path / "s.json", tmp_path / "s.md", tmp_path / "b.csv")
    with pytest.raises(PhotozConfigError, match="unknown network"):
        summary.write_summary({"mlpp": preds["mlp"]}, sel, *args, train_test_ratio="3:1")
    with pytest.raises(PhotozConfigError, match="'3:1' is the first ratio"):
        summary.write_summary(preds, sel, *args, train_test_ratio="3:1",
                              ratio_predictions={"3:1": preds})
    bad = tmp_path / "bad.parquet"
    pd.DataFrame(
        {
            "object_id": [1, 2],
            "z_true": [0.5, np.nan],
            "z_pred": [0.5, 0.6],
            "split": ["test", "test"],
        }
    ).to_parquet(bad)
    with pytest.raises(PhotozDataError, match=r"bad\.parquet.*z_true.*row 1"):
        summary.write_summary({"mlp": str(bad)}, sel, *args, train_test_ratio="3:1")
    pd.DataFrame({"object_id": [1], "z_true": [0.5], "split": ["test"]}).to_parquet(bad)
    with pytest.raises(PhotozDataError, match=r"missing column.*z_pred"):
        summary.write_summary({"mlp": str(bad)}, sel, *args, train_test_ratio="3:1")
    (tmp_path / "sel.json").write_text("{}")
    with pytest.raises(PhotozDataError, match="n_selected"):
        summary.write_summary(preds, tmp_path / "sel.json", *args, train_test_ratio="3:1")


def test_write_summary_html_has_the_same_table(run_files, tmp_path):
    preds, sel, _ = run_files
    result = summary.write_summary(
        preds,
        sel,
        tmp_path / "s.json",
        tmp_path / "s.md",
        tmp_path / "b.csv",
        train_test_ratio="1:1",
        n_bootstrap=0,
        out_html=tmp_path / "s.html",
    )
    page = (tmp_path / "s.html").read_text()

    class Cells(HTMLParser):
        def __init__(self):
            super().__init__()
            self.rows, self._in = [], False

        def handle_starttag(self, tag, attrs):
            if tag == "tr":
                self.rows.append([])
            self._in = tag in ("td", "th")

        def handle_endtag(self, tag):
            self._in = False

        def handle_data(self, data):
            if self._in and data.strip():
                self.rows[-1].append(data.strip())

    parser = Cells()
    parser.feed(page)
    header, *rows = parser.rows
    assert header[:5] == ["network", "input flux", "n_test", "sigma_NMAD", "paper"]
    assert header[-4:] == ["CRPS", "PIT KS", "coverage 68", "coverage 95"]
    assert [r[0] for r in rows] == ["MLP", "CNN", "Hybrid", "Hybrid-transfer"]
    assert [r[2] for r in rows] == ["400"] * 4
    assert rows[0][3] == f"{result['mlp']['sigma_nmad']:.4f}"
    assert rows[3][6] == "1.06%"  # the paper's 20k hybrid-transfer outlier fraction


def test_a_ratio_the_paper_did_not_run_has_no_paper_values(run_files, tmp_path):
    """2:1 used to stop the metrics stage after every training; now its paper columns read "—"."""
    preds, sel, _ = run_files
    out = summary.write_summary(preds, sel, tmp_path / "s.json", tmp_path / "s.md",
                                tmp_path / "b.csv", train_test_ratio="2:1", n_bootstrap=0)
    assert out["paper_row"] is None
    md = (tmp_path / "s.md").read_text()
    assert "has no run with this ratio" in md
    rows = [line.strip("|").split("|") for line in md.splitlines() if line.startswith("| ")][1:]
    assert len(rows) == 4 and all(r[4].strip() == r[6].strip() == r[8].strip() == "—" for r in rows)
    assert paper.paper_row("6:2") == "30k" and paper.paper_row("2:6") == "10k"


def _ratio_predictions(tmp_path, rng, tag, n_test, n_train, n_val=10):
    """Predictions of the four networks for one ratio: n_test test rows, n_train train rows."""
    preds, truth = {}, {}
    for k, net in enumerate(NETWORKS):
        z_true = rng.gamma(2.0, 0.45, n_test + n_train + n_val)
        z_pred = z_true + (0.02 + 0.01 * k) * (1 + z_true) * rng.standard_normal(z_true.size)
        split = np.array(["test"] * n_test + ["train"] * n_train + ["validation"] * n_val)
        z_pred[n_test:] += 3.0  # train and validation rows must not enter the metrics
        path = tmp_path / tag / f"{net}.parquet"
        path.parent.mkdir(exist_ok=True)
        write_toy_predictions(path, z_true, z_pred, split)
        preds[net], truth[net] = str(path), (z_pred[:n_test], z_true[:n_test])
    return preds, truth


def test_several_ratios_are_rows_beside_the_papers(run_files, tmp_path):
    """Three ratios: summary.json's ``ratios`` holds each ratio's metrics and split sizes,
    summary.md and .html a second table with the paper's 30k, 20k and 10k rows beside them;
    the first ratio's top-level entries, and binned.csv, are the one-ratio run's."""
    preds, sel, _ = run_files
    rng = np.random.default_rng(5)
    p11, t11 = _ratio_predictions(tmp_path, rng, "r1-1", 250, 240)
    p13, t13 = _ratio_predictions(tmp_path, rng, "r1-3", 350, 120)
    one = summary.write_summary(preds, sel, tmp_path / "1.json", tmp_path / "1.md",
                                tmp_path / "1.csv", train_test_ratio="3:1", n_bootstrap=20)
    out = summary.write_summary(
        preds, sel, tmp_path / "s.json", tmp_path / "s.md", tmp_path / "b.csv",
        train_test_ratio="3:1", n_bootstrap=20, out_html=tmp_path / "s.html",
        ratio_predictions={"1:1": p11, "1:3": p13})
    on_disk = json.loads((tmp_path / "s.json").read_text())
    assert list(on_disk["ratios"]) == ["3:1", "1:1", "1:3"]
    assert [r["paper_row"] for r in on_disk["ratios"].values()] == ["30k", "20k", "10k"]
    for net in NETWORKS:
        assert on_disk[net] == json.loads((tmp_path / "1.json").read_text())[net]  # unchanged
        first = on_disk["ratios"]["3:1"][net]
        assert (first["n_test"], first["n_train"], first["n_validation"]) == (400, 300, 0)
        for ratio, truth, n in (("1:1", t11, (250, 240)), ("1:3", t13, (350, 120))):
            row = on_disk["ratios"][ratio][net]
            assert (row["n_test"], row["n_train"], row["n_validation"]) == (*n, 10)
            zp, zt = truth[net]
            assert row["sigma_nmad"] == pytest.approx(metrics.sigma_nmad(zp, zt), abs=1e-15)
            assert row["outlier_fraction"] == pytest.approx(metrics.outlier_fraction(zp, zt))
            assert row["sigma_nmad_err"] > 0
    assert (tmp_path / "b.csv").read_bytes() == (tmp_path / "1.csv").read_bytes()
    assert "ratios" not in one and "Every train:test" not in (tmp_path / "1.md").read_text()
    md = (tmp_path / "s.md").read_text()
    assert md.startswith((tmp_path / "1.md").read_text())  # the one-ratio table, then the rows
    lines = {tuple(c.strip() for c in line.strip("|").split("|")[:6]): line
             for line in md.splitlines() if line.startswith("| ")}
    mlp13 = lines[("1:3", "10k", "MLP", "120", "10,000", "350")]
    assert "| 0.0280 |" in mlp13 and "| 2.39% |" in mlp13  # the paper's 10k MLP row
    assert "| 0.0260 |" in lines[("1:1", "20k", "MLP", "240", "20,000", "250")]
    ht = lines[("3:1", "30k", "Hybrid-transfer", "300", "30,000", "400")]
    assert "| 0.0200 |" in ht and "| 0.90% |" in ht and "| 0.0250 |" in ht
    assert f"{out['ratios']['1:3']['cnn']['sigma_nmad']:.4f} ±" in \
        lines[("1:3", "10k", "CNN", "120", "10,000", "350")]
    page = (tmp_path / "s.html").read_text()
    assert page.count("<table") == 2 and "Every train:test ratio" in page and "10,000" in page


def test_every_p_z_method_is_scored_alike_and_every_row_names_its_flux(tmp_path):
    """Issue 29: a network's p(z) file (its test galaxies) and a RAIL peer's (every selected
    galaxy, in another order, another qp representation) get the same scores from the one scorer,
    matched by object_id; every row names the flux its method read."""
    import qp

    from photoz.evaluate.pdfscores import score_ensemble
    from photoz.products.train import make_ensemble, write_ensemble

    rng = np.random.default_rng(5)
    n_test, n_train = 300, 200
    z = rng.uniform(0.2, 2.5, n_test + n_train)
    split = np.array(["test"] * n_test + ["train"] * n_train)
    ids = np.arange(n_test + n_train) + 100
    zp = z + rng.normal(0, 0.05, z.size)
    files = {}
    for net, flux in (("mlp", "matched"), ("cnn", "none"), ("flexzboost", "kron")):
        files[net] = write_toy_predictions(tmp_path / f"{net}.parquet", z, zp, split, ids, flux)
    t = split == "test"
    mlp_pdf = tmp_path / "mlp.hdf5"
    one = np.ones((int(t.sum()), 1))
    write_ensemble(mlp_pdf, make_ensemble(one, zp[t, None], np.full_like(one, 0.05), ids[t],
                                          z[t], 1.1))
    order = rng.permutation(z.size)  # a peer's file: every galaxy, its own order and grid
    grid = np.linspace(0.0, 3.0, 301)
    peer = qp.Ensemble(qp.interp, data={"xvals": grid, "yvals": np.exp(
        -0.5 * ((grid[None, :] - zp[order, None]) / 0.08) ** 2)})
    peer.set_ancil({"object_id": ids[order]})
    peer_pdf = tmp_path / "fzb.hdf5"
    write_ensemble(peer_pdf, peer)
    sel = tmp_path / "selection.json"
    sel.write_text(json.dumps({"n_selected": 500}))
    out = summary.write_summary(files, sel, tmp_path / "s.json", tmp_path / "s.md",
                                tmp_path / "b.csv", "3:1", n_bootstrap=0,
                                pdfs={"mlp": mlp_pdf, "flexzboost": peer_pdf})
    assert [out[m]["input_flux"] for m in ("mlp", "cnn", "flexzboost")] == ["matched", "none",
                                                                             "kron"]
    for method in ("mlp", "flexzboost"):
        for key in ("crps", "pit_ks", "coverage_68", "coverage_95"):
            assert 0 <= out[method][key] < 1, (method, key)
    assert "crps" not in out["cnn"] and out["mlp"]["width_scale"] == 1.1
    # the peer's scores are those of its test galaxies, in the predictions' order
    back = qp.read(str(peer_pdf))
    rows = np.argsort(ids[order])[:n_test]
    assert out["flexzboost"]["crps"] == pytest.approx(
        score_ensemble(back[rows], z[t])["crps"], rel=1e-12)
    md = (tmp_path / "s.md").read_text()
    lines = {line.split("|")[1].strip(): [c.strip() for c in line.split("|")[1:-1]]
             for line in md.splitlines() if line.startswith("| ") and "---" not in line}
    assert lines["MLP"][1] == "matched" and lines["CNN"][1] == "none (stamps)"
    assert lines["FlexZBoost (RAIL)"][1] == "kron"
    assert lines["FlexZBoost (RAIL)"][-4] == f"{out['flexzboost']['crps']:.4f}"
    assert lines["CNN"][-4:] == ["—"] * 4
    # a p(z) file lacking a test galaxy is an error naming it
    write_ensemble(peer_pdf, back[np.flatnonzero(ids[order] != ids[0])])  # a test galaxy's
    with pytest.raises(PhotozDataError, match="fzb.hdf5.*object_id"):
        summary.write_summary(files, sel, tmp_path / "s.json", tmp_path / "s.md",
                              tmp_path / "b.csv", "3:1", n_bootstrap=0,
                              pdfs={"flexzboost": peer_pdf})
