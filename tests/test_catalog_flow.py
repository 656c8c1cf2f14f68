"""Tests of photoz.catalog.flow (catalog.source flow): a tiny DC2 flow, trained once here, and its samples."""

import json
import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from dry_runs import dry_run, job_counts
from scipy.stats import ks_2samp

from photoz.catalog import flow
from photoz.catalog.sources import LSST_BANDS, read_dc2
from photoz.catalog.truth import build_truth_table
from photoz.config import default_config
from photoz.errors import PhotozConfigError, PhotozDataError
from photoz.instrument import load_instrument

REPO = Path(__file__).resolve().parents[1]
#: read_dc2's columns, which the catalogue stage reads from a source.
DC2_COLUMNS = (["object_id", "redshift"]
               + [f"{p}lsst_{b}" for b in LSST_BANDS for p in ("mag_", "mag_err_")]
               + ["file", "row"])
EPOCHS = 12


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """A flow trained on 2,048 DC2 galaxies for a few epochs (batches of 256: one compiled step)."""
    out = tmp_path_factory.mktemp("flow")
    dc2 = read_dc2().sample(2048, random_state=3).reset_index(drop=True)
    path = out / "flow.pzflow.pkl"
    summary = flow.train_flow(path, epochs=EPOCHS, batch_size=256, learning_rate=3e-3,
                              validation_fraction=0.0, seed=1, history_path=out / "hist.csv",
                              dc2=dc2)
    return {"path": path, "dc2": dc2, "summary": summary, "out": out,
            "flow": flow.load_flow(path)}


def test_training_product(tiny):
    hist = pd.read_csv(tiny["out"] / "hist.csv")
    assert list(hist.columns) == ["epoch", "train_loss", "validation_loss"]
    assert len(hist) == EPOCHS + 1  # the initial loss, then one row per epoch
    # the negative log-likelihood falls as it trains (it started near 26 nats per galaxy)
    assert hist.train_loss.iloc[-1] < hist.train_loss.iloc[0] - 10
    info = tiny["flow"].info
    assert info["n_train"] == 2048 and tiny["summary"]["n_validation"] == 0
    # the non-detection stand-in: DC2's u non-detections (99) became q99 + 1 for training
    nd_u = int((tiny["dc2"].mag_lsst_u >= 90).sum())
    assert info["n_nondetected"]["mag_lsst_u"] == nd_u > 0
    q99 = np.percentile(tiny["dc2"].mag_lsst_u[tiny["dc2"].mag_lsst_u < 90], 99)
    assert info["nondetection"]["mag_lsst_u"] == pytest.approx([q99 + 1.0, q99 + 0.5])


def test_sample_is_seeded_and_has_the_columns(tiny):
    a, rep = flow.sample_catalog(tiny["path"], 1500, seed=11)
    b, _ = flow.sample_catalog(tiny["flow"], 1500, seed=11)
    c, _ = flow.sample_catalog(tiny["flow"], 1500, seed=12)
    pd.testing.assert_frame_equal(a.drop(columns="file"), b.drop(columns="file"))
    assert not np.allclose(a.redshift, c.redshift)
    assert list(a.columns) == DC2_COLUMNS and len(a) == 1500
    assert a.object_id.dtype == np.int64 and a.object_id.is_unique
    lo, hi = tiny["flow"].info["bounds"]["redshift"]
    assert (a.redshift > 0).all() and a.redshift.between(lo, hi).all()
    assert a.mag_lsst_i.max() <= tiny["dc2"].mag_lsst_i.max()  # DC2's i < 25.3 kept
    mags = a[[f"mag_lsst_{b}" for b in LSST_BANDS]].to_numpy()
    errs = a[[f"mag_err_lsst_{b}" for b in LSST_BANDS]].to_numpy()
    assert np.isfinite(mags).all() and (errs > 0).all()
    assert ((mags == 99.0) == (errs == 99.0)).all()  # a non-detection has both
    assert rep["n_drawn"] == flow.CHUNK * int(np.ceil(rep["n_drawn"] / flow.CHUNK))


def test_errors_follow_dc2(tiny):
    """A sampled galaxy's error is DC2's median at its magnitude (checked at i = 24 by hand)."""
    dc2 = tiny["dc2"]
    near = dc2.mag_lsst_i.between(23.95, 24.05)
    expect = np.median(dc2.mag_err_lsst_i[near])
    got = flow.errors_at(np.array([24.0]), tiny["flow"].info["errors"]["i"])[0]
    assert got == pytest.approx(expect, rel=0.15)


def test_sampled_redshifts_follow_dc2(tiny):
    s, _ = flow.sample_catalog(tiny["flow"], 4000, seed=5)
    z, zd = s.redshift.to_numpy(), tiny["dc2"].redshift.to_numpy()
    stat = ks_2samp(z, zd).statistic
    assert stat < 0.1, stat
    assert abs(np.median(z) - np.median(zd)) < 0.1
    # the same thresholds reject a distribution shifted by 0.2 in redshift (the test can fail)
    assert ks_2samp(z + 0.2, zd).statistic > 0.1
    assert abs(np.median(z + 0.2) - np.median(zd)) > 0.1


def test_truth_table_from_the_flow(tiny):
    cfg = default_config({"catalog": {"source": "flow", "n_galaxies": 300,
                                      "flow": {"model": str(tiny["path"])}}})["catalog"]
    ins = load_instrument({})
    out = tiny["out"]
    table = build_truth_table(cfg, ins, out / "truth.parquet", seed=4,
                                      report_path=out / "fit.json")
    from photoz.products.catalog import TRUTH_COLUMNS, read_truth

    disk = read_truth(out / "truth.parquet")
    assert tuple(disk.columns) == TRUTH_COLUMNS and len(disk) == 300
    assert json.loads(pq.read_schema(out / "truth.parquet").metadata[b"source"]) == "flow"
    assert (disk.half_light_radius > 0).all() and (disk.real_image_index == -1).all()
    report = json.loads((out / "fit.json").read_text())
    assert report["n_read"] == 300 and report["files"] == [str(tiny["path"])]
    again = build_truth_table(cfg, ins, out / "again.parquet", seed=4)
    pd.testing.assert_frame_equal(table, again)
    # the run seed picks the sample (stream 3 of its SeedSequence), independent of the others
    assert flow.sample_seed(4) != flow.sample_seed(5)


def test_bad_flow_config(tiny, tmp_path, caplog):
    with pytest.raises(PhotozConfigError, match="catalog.n_galaxies"):
        flow.sample_catalog(tiny["flow"], 0, seed=1)
    with pytest.raises(PhotozConfigError, match="n_galaxies"):
        default_config({"catalog": {"source": "flow", "n_galaxies": 0}})
    with pytest.raises(PhotozDataError, match="train_flow"):
        flow.load_flow(tmp_path / "absent.pkl")
    with pytest.raises(PhotozConfigError, match="catalog.flow.epochs"):
        flow.train_flow(tmp_path / "f.pkl", epochs=0)
    (tmp_path / "junk.pkl").write_bytes(b"not a pickle")
    with pytest.raises(PhotozDataError, match="cannot read the flow"):
        flow.load_flow(tmp_path / "junk.pkl")


def test_epoch_log_lines(caplog):
    """pzflow's verbose prints become one log line per reported epoch."""
    with caplog.at_level(logging.INFO, logger="photoz.catalog.flow"):
        sink = flow._LogLines(10, 0.0)
        sink.write("Training 10 epochs \nLoss:\n(3) 1.2500  1.5000\n(4) 1.")
        sink.write("0000\n")
    msgs = [r.getMessage() for r in caplog.records]
    assert any(m.startswith("flow epoch 3/10: training loss 1.2500, validation loss 1.5000")
               for m in msgs)
    assert any(m.startswith("flow epoch 4/10: training loss 1.0000 (") for m in msgs)


def _dry_run_jobs(workdir: Path, *configfiles: Path) -> dict:
    return job_counts(dry_run(workdir, *configfiles))


def test_paper_offline_plans_the_flow_once(tmp_path):
    """config/paper_offline.yaml trains the flow when it is absent and reuses it when present."""
    cfg = REPO / "config" / "paper_offline.yaml"
    jobs = _dry_run_jobs(tmp_path, cfg)
    assert jobs["train_flow"] == 1 and jobs["prepare_catalog"] == 1
    assert jobs["simulate_images"] == 10
    (tmp_path / "results" / "catalog").mkdir(parents=True)
    for name in ("flow.pzflow.pkl", "flow.pzflow_history.csv"):
        (tmp_path / "results" / "catalog" / name).write_text("x")
    jobs = _dry_run_jobs(tmp_path, cfg)
    assert "train_flow" not in jobs and jobs["prepare_catalog"] == 1
