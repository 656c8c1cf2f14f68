"""Deep ensembles (issue 13, train.ensemble_size; photoz.train.ensemble): the mixture, the members, the DAG."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import qp
import torch
from dry_runs import dry_run, job_counts
from scipy import special

from photoz.benchmarks.toydata import write_toy_inputs
from photoz.config import default_config, load_config
from photoz.errors import PhotozConfigError, PhotozDataError
from photoz.evaluate.pdfscores import score_ensemble
from photoz.instrument import load_instrument
from photoz.mixture import Z_LOWER, truncated_cdf, truncated_ppf
from photoz.products.train import ensemble_arrays, load_checkpoint, read_ensemble
from photoz.train.ensemble import combine_members, member_seed, mixture_of_members, train_member
from photoz.train.network import train_network
from photoz.train.predict import predict

REPO = Path(__file__).resolve().parents[1]
SNAKEMAKE = str(Path(sys.executable).with_name("snakemake"))


def _qp_mean(ens, lo=-30.0, hi=30.0, n=60001):
    """Mean of each p(z) of a qp ensemble by the trapezoid rule on qp's own pdf, (n_pdf,)."""
    grid = np.linspace(lo, hi, n)
    dens = np.atleast_2d(ens.pdf(grid))
    return np.trapezoid(dens * grid, grid, axis=-1) / np.trapezoid(dens, grid, axis=-1)


def test_mixture_of_members_by_hand():
    """Two members of one galaxy: weights halved and side by side, mean and CDF the members' means."""
    a = (np.array([[0.25, 0.75]]), np.array([[0.5, 1.0]]), np.array([[0.1, 0.2]]))
    b = (np.array([[1.0]]), np.array([[2.0]]), np.array([[0.3]]))
    w, mu, sig = mixture_of_members([a, b])
    np.testing.assert_array_equal(w, [[0.125, 0.375, 0.5]])
    np.testing.assert_array_equal(mu, [[0.5, 1.0, 2.0]])
    np.testing.assert_array_equal(sig, [[0.1, 0.2, 0.3]])
    ens = qp.Ensemble(qp.mixmod, data={"weights": w, "means": mu, "stds": sig})
    # mean: (0.25 * 0.5 + 0.75 * 1.0 + 2.0) / 2 = 1.4375, integrating qp's pdf
    assert float(_qp_mean(ens)[0]) == pytest.approx(1.4375, rel=1e-6)
    cdf_a = 0.25 * special.ndtr((1.2 - 0.5) / 0.1) + 0.75 * special.ndtr((1.2 - 1.0) / 0.2)
    cdf_b = special.ndtr((1.2 - 2.0) / 0.3)
    assert float(np.squeeze(ens.cdf(1.2))) == pytest.approx((cdf_a + cdf_b) / 2, rel=1e-9)
    with pytest.raises(PhotozDataError, match="different numbers of galaxies"):
        mixture_of_members([a, tuple(np.vstack([x, x]) for x in b)])
    assert member_seed(2022, 0) == 2022 and member_seed(2022, 2) == 2024


def test_ensemble_size_is_validated():
    assert default_config({})["train"]["ensemble_size"] == 1
    with pytest.raises(PhotozConfigError, match="ensemble_size"):
        load_config(overrides={"train": {"ensemble_size": 0}})


@pytest.fixture(scope="module")
def members(tmp_path_factory):
    """Two MLP members (pdf head, K = 2) on 300 toy galaxies, and member 0's single training."""
    tmp = tmp_path_factory.mktemp("ensemble")
    instrument = load_instrument({})
    phot, shards = write_toy_inputs(tmp / "in", 300, instrument, seed=4, n_shards=1)
    cfg = default_config({"train": {"device": "cpu", "batch_size": {"mlp": 64},
                                    "max_epochs": {"mlp": 2}, "learning_rate": 1e-3,
                                    "n_flux_realisations": 2, "output": {"mlp": "pdf"},
                                    "pdf_components": 2, "precision": "bf16"}})["train"]
    # precision bf16 applies to the image networks only: the MLP member's re-prediction must
    # be float32 too, as its training (photoz.train.predict once used bf16 for the MLP: z moved ~0.002)
    files = {}
    for k in (0, 1):
        files[k] = {"model": tmp / f"models/mlp_m{k}.pt",
                    "history": tmp / f"models/mlp_m{k}_history.csv",
                    "predictions": tmp / f"members/mlp_m{k}.parquet",
                    "mixtures": tmp / f"members/mlp_m{k}.hdf5"}
        s = train_member("mlp", k, phot, shards, files[k]["model"], files[k]["history"],
                         files[k]["predictions"], files[k]["mixtures"], cfg, instrument, seed=3)
        assert s["seed"] == 3 + k and s["member"] == k
    train_network("mlp", phot, shards, tmp / "single/mlp.pt", tmp / "single/h.csv",
                  tmp / "single/mlp.parquet", cfg, instrument, seed=3)
    return tmp, phot, shards, files


def _combine(files, order, out):
    paths = {key: [files[k][key] for k in order] for key in files[0]}
    summary = combine_members(paths["model"], paths["predictions"], paths["mixtures"],
                              paths["history"], out / "models/mlp.pt",
                              out / "models/mlp_history.csv", out / "predictions/mlp.parquet",
                              out / "pdfs/mlp.hdf5")
    return summary, pd.read_parquet(out / "predictions/mlp.parquet")


def test_member_zero_is_the_single_training(members):
    tmp, _, _, files = members
    single = load_checkpoint(tmp / "single/mlp.pt")
    m0, m1 = load_checkpoint(files[0]["model"]), load_checkpoint(files[1]["model"])
    assert all(torch.equal(single["state_dict"][k], m0["state_dict"][k]) for k in single["state_dict"])
    assert not torch.equal(m0["state_dict"]["output.weight"], m1["state_dict"]["output.weight"])
    pd.testing.assert_frame_equal(pd.read_parquet(tmp / "single/mlp.parquet"),
                                  pd.read_parquet(files[0]["predictions"]))
    # the member's file of every galaxy holds its untruncated mixtures (a qp mixmod); the
    # medians of those truncated at z = 0 are its predictions table's
    ens = read_ensemble(files[0]["mixtures"])
    table = pd.read_parquet(files[0]["predictions"])
    np.testing.assert_array_equal(ens.ancil["object_id"], table["object_id"])
    assert ens.gen_class.name == "mixmod"
    w, mu, sig = ensemble_arrays(ens)
    np.testing.assert_allclose(truncated_ppf(0.5, w, mu, sig, Z_LOWER), table["z_median"],
                               atol=1e-6)


def test_two_member_ensemble(members, tmp_path):
    _, phot, shards, files = members
    summary, frame = _combine(files, (0, 1), tmp_path)
    assert summary["size"] == 2 and summary["seeds"] == [3, 4]
    ens = qp.read(str(tmp_path / "pdfs/mlp.hdf5"))
    test = frame.query("split == 'test'")
    ew, emu, esig = ensemble_arrays(ens)  # the calibrated mixture the truncated p(z) is drawn from
    assert ens.npdf == len(test) > 0 and emu.shape == (len(test), 2 * 2)
    np.testing.assert_allclose(ew.sum(axis=1), 1.0, rtol=1e-12)
    assert ens.gen_class.name == "interp" and float(np.max(ens.cdf(0.0))) < 1e-3  # none below 0
    assert float(ens.ancil["width_scale"][0]) == summary["width_scale"] > 0
    # The ensemble's mean (sum_k w_k mu_k) is the mean of the members' means, galaxy by galaxy.
    member_means = []
    for k in (0, 1):
        w, mu, _ = ensemble_arrays(read_ensemble(files[k]["mixtures"]))
        rows = pd.read_parquet(files[k]["predictions"])["split"].to_numpy() == "test"
        member_means.append((w * mu).sum(axis=1)[rows])
    mean = (ew * emu).sum(axis=1)
    np.testing.assert_allclose(mean, np.mean(member_means, axis=0), rtol=1e-12)
    assert not np.allclose(member_means[0], member_means[1], atol=1e-4)  # two different members
    # Its median is the z_pred of the table; the ensemble checkpoint's predict() gives the table.
    np.testing.assert_array_equal(frame["z_pred"], frame["z_median"])
    np.testing.assert_allclose(truncated_cdf(test["z_median"].to_numpy(), ew, emu, esig), 0.5,
                               atol=1e-9)
    cdf = np.squeeze(ens.cdf(np.vstack(test["z_median"].to_numpy())))  # qp's, of the grid
    np.testing.assert_allclose(cdf, 0.5, atol=3e-3)
    ckpt = load_checkpoint(tmp_path / "models/mlp.pt")
    assert ckpt["ensemble"]["size"] == 2 and len(ckpt["ensemble"]["members"]) == 2
    again = predict(tmp_path / "models/mlp.pt", phot, shards, None)
    for col in ("z_pred", "z_lo68", "z_hi68", "z_mode"):
        np.testing.assert_allclose(again[col], frame[col], atol=1e-6)
    scores = score_ensemble(read_ensemble(tmp_path / "pdfs/mlp.hdf5"))
    assert 0 <= scores["coverage_68"] <= 1 and scores["width_scale"] == summary["width_scale"]
    # member 0's history is the network's
    assert (tmp_path / "models/mlp_history.csv").read_bytes() == files[0]["history"].read_bytes()


def test_an_ensemble_of_identical_members_is_the_member(members, tmp_path):
    """Two copies of member 0: the same p(z) (its width factor refitted: the member's again)."""
    _, _, _, files = members
    summary, frame = _combine(files, (0, 0), tmp_path)
    member = pd.read_parquet(files[0]["predictions"])
    assert summary["width_scale"] == pytest.approx(summary["member_width_scales"][0], rel=1e-6)
    for col in ("z_pred", "z_median", "z_lo68", "z_hi68"):
        np.testing.assert_allclose(frame[col], member[col], atol=1e-6)
    np.testing.assert_allclose(frame["z_mode"], member["z_mode"], atol=2e-2)  # a 512-point grid


def test_members_of_other_galaxies_are_refused(members, tmp_path):
    _, _, _, files = members
    other = tmp_path / "other.parquet"
    table = pd.read_parquet(files[1]["predictions"])
    table.iloc[::-1].to_parquet(other)
    with pytest.raises(PhotozDataError, match="other galaxies"):
        combine_members([files[0]["model"]] * 2, [other, other],
                        [files[0]["mixtures"], files[1]["mixtures"]], [files[0]["history"]] * 2,
                        tmp_path / "m.pt", tmp_path / "h.csv", tmp_path / "p.parquet",
                        tmp_path / "p.hdf5")


def _dry_run(workdir: Path, ensemble_size: int | None = None) -> str:
    overlay = []
    if ensemble_size is not None:
        overlay = [workdir / f"ensemble{ensemble_size}.yaml"]
        overlay[0].write_text(f"train: {{ensemble_size: {ensemble_size}}}\n")
    return dry_run(workdir, REPO / ".test" / "config.yaml", *overlay)


_job_counts = job_counts


def test_ensemble_dag(tmp_path):
    """ensemble_size 2: two train_member jobs per network, hybrid_transfer's member k from the MLP
    and CNN member k, one combine_ensemble per network, no train_network; ensemble_size 1 given
    plans four train_network jobs and otherwise the same jobs."""
    text = _dry_run(tmp_path, 2)
    jobs = _job_counts(text)
    assert jobs["train_member"] == 8 and jobs["combine_ensemble"] == 4, jobs
    assert "train_network" not in jobs
    blocks = [b for b in text.split("rule ") if b.startswith("train_member:")
              and "results/models/hybrid_transfer_m1.pt" in b]
    assert len(blocks) == 1
    assert "results/models/mlp_m1.pt" in blocks[0] and "results/models/cnn_m1.pt" in blocks[0]
    assert "results/models/mlp_m0.pt" not in blocks[0]
    one = _job_counts(_dry_run(tmp_path, 1))
    assert one["train_network"] == 4 and "train_member" not in one and "combine_ensemble" not in one
    assert {k: v for k, v in one.items() if k != "train_network"} == {
        k: v for k, v in jobs.items() if k not in ("train_member", "combine_ensemble")}


def test_ensemble_rules_lint_clean(tmp_path):
    """snakemake --lint with ensemble_size 2 (the default's lint never sees the ensemble rules)."""
    overlay = tmp_path / "ensemble2.yaml"
    overlay.write_text("train: {ensemble_size: 2}\n")
    proc = subprocess.run([SNAKEMAKE, "--lint", "--snakefile", str(REPO / "Snakefile"),
                           "--directory", str(tmp_path), "--configfile", str(overlay)],
                          capture_output=True, text=True, cwd=REPO, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "Congratulations" in proc.stdout + proc.stderr
    assert "ensemble.smk" not in proc.stdout + proc.stderr
