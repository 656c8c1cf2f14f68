"""Tests of photoz.train.heads (issue 13): mixture head, CRPS, quantiles, calibration, qp files, scores."""

import math

import numpy as np
import pandas as pd
import pytest
import torch
from scipy import stats

from photoz.benchmarks.toydata import write_toy_inputs
from photoz.config import default_config, load_config
from photoz.errors import PhotozConfigError, PhotozDataError
from photoz.evaluate.pdfscores import score_arrays, score_ensemble
from photoz.instrument import load_instrument
from photoz.mixture import crps_mixture, mixture_cdf, mixture_nll_np, truncated_cdf
from photoz.models.build import build_model, count_parameters
from photoz.paper import PAPER_PARAMETER_COUNTS
from photoz.products.train import (
    NETWORK_PREDICTION_COLUMNS,
    ensemble_arrays,
    load_checkpoint,
    make_ensemble,
    read_ensemble,
    write_ensemble,
)
from photoz.train import heads as pdf
from photoz.train.network import train_network
from photoz.train.predict import predict
from photoz.train.settings import check_train_cfg


def _one(mu, sig):
    return np.ones((len(mu), 1)), np.asarray(mu, float)[:, None], np.asarray(sig, float)[:, None]


def test_nll_matches_scipy_for_a_two_component_mixture():
    # raw layout [logits | means | softplus^-1(sigma - SIGMA_MIN)]
    w, mu, sig = np.array([0.3, 0.7]), np.array([0.5, 1.2]), np.array([0.1, 0.3])
    s_raw = np.log(np.expm1(sig - pdf.SIGMA_MIN))
    raw = torch.tensor(np.tile(np.concatenate([np.log(w), mu, s_raw]), (2, 1)))
    z = np.array([0.55, 1.0])
    expected = -np.log(w[0] * stats.norm.pdf(z, mu[0], sig[0])
                       + w[1] * stats.norm.pdf(z, mu[1], sig[1])).mean()
    assert float(pdf.mixture_nll(raw, torch.tensor(z))) == pytest.approx(expected, rel=1e-6)
    ww, mm, ss = pdf.mixture_arrays(raw.numpy(), "pdf")
    np.testing.assert_allclose(ww[0], w, rtol=1e-9)
    np.testing.assert_allclose(ss[0], sig, rtol=1e-9)
    assert mixture_nll_np(z, ww, mm, ss) == pytest.approx(expected, rel=1e-9)


def test_crps_single_gaussian_closed_form_and_numerical_mixture():
    # Gneiting et al. 2005 (MWR 133, 1098), eq. 5: sigma [t (2 Phi(t) - 1) + 2 phi(t) - 1/sqrt(pi)]
    mu, sig, z = 1.0, 0.2, 1.3
    t = (z - mu) / sig
    ref = sig * (t * (2 * stats.norm.cdf(t) - 1) + 2 * stats.norm.pdf(t) - 1 / math.sqrt(math.pi))
    assert crps_mixture(np.array([z]), *_one([mu], [sig]))[0] == pytest.approx(ref, rel=1e-10)
    # A two-component mixture against the integral of (F - 1{x >= z})^2.
    w, m, s = np.array([[0.4, 0.6]]), np.array([[0.3, 1.1]]), np.array([[0.05, 0.2]])
    x = np.linspace(-2, 4, 400001)
    cdf = 0.4 * stats.norm.cdf(x, 0.3, 0.05) + 0.6 * stats.norm.cdf(x, 1.1, 0.2)
    num = np.trapezoid((cdf - (x >= 0.8)) ** 2, x)
    assert crps_mixture(np.array([0.8]), w, m, s)[0] == pytest.approx(num, rel=1e-5)


def test_quantiles_and_mode():
    w, mu, sig = _one([0.7, 2.0], [0.1, 0.3])
    est = pdf.point_estimates(w, mu, sig)
    np.testing.assert_allclose(est["z_median"], [0.7, 2.0], atol=1e-10)
    np.testing.assert_allclose(est["z_lo68"], mu[:, 0] + stats.norm.ppf(0.16) * sig[:, 0],
                               atol=1e-10)
    np.testing.assert_allclose(est["z_mode"], [0.7, 2.0])
    # Bimodal: mode at the taller peak, median between by symmetry of equal halves.
    w2, m2, s2 = np.array([[0.5, 0.5]]), np.array([[1.0, 2.0]]), np.array([[0.05, 0.2]])
    e2 = pdf.point_estimates(w2, m2, s2)
    assert e2["z_mode"][0] == pytest.approx(1.0, abs=0.01)
    assert mixture_cdf(e2["z_median"], w2, m2, s2)[0] == pytest.approx(0.5, abs=1e-10)


def test_width_scale_recovers_an_overdispersed_prediction():
    rng = np.random.default_rng(3)
    n = 20000
    mu = rng.uniform(0.2, 2.5, n)
    z = rng.normal(mu, 0.05)
    s = pdf.fit_width_scale(z, *_one(mu, np.full(n, 0.1)))
    # MLE of the scale: sqrt(mean(((z - mu)/0.1)^2)) = 0.5 within ~0.5/sqrt(2n)
    assert s == pytest.approx(np.sqrt(np.mean(((z - mu) / 0.1) ** 2)), rel=1e-6)
    assert s == pytest.approx(0.5, abs=0.01)
    with pytest.raises(PhotozDataError, match="no validation"):
        pdf.fit_width_scale(np.zeros(0), *_one([], []))


def test_point_output_gets_a_gaussian_of_fitted_width_in_one_plus_z():
    rng = np.random.default_rng(8)
    z_pred = rng.uniform(0.1, 3.0, 20000)
    z = z_pred + 0.03 * (1 + z_pred) * rng.standard_normal(z_pred.size)
    w, mu, sig, scale = pdf.calibrate(z_pred, "point", z, np.ones(z.size, bool))
    assert scale == pytest.approx(0.03, rel=0.02)  # the width in dz/(1+z), not clamped
    np.testing.assert_allclose(sig[:, 0], scale * (1 + z_pred))
    cols = pdf.prediction_columns(z_pred, "point", w, mu, sig)
    np.testing.assert_array_equal(cols["z_pred"], z_pred)
    # The p(z) is the Gaussian truncated at z = 0 (issue 29): its quantiles are scipy's truncnorm's
    # (the median moves by up to 5e-5 above z_pred for the lowest z_pred here).
    tn = stats.truncnorm(-z_pred / sig[:, 0], np.inf, loc=z_pred, scale=sig[:, 0])
    np.testing.assert_allclose(cols["z_median"], tn.median(), atol=1e-9)
    np.testing.assert_allclose(cols["z_hi68"], tn.ppf(0.84), atol=1e-9)
    assert (cols["z_median"] - z_pred >= -1e-12).all() and (cols["z_median"] - z_pred > 1e-6).any()


def test_pdf_head_point_is_the_heaviest_components_mean():
    raw = torch.tensor([[0.0, 2.0, 0.5, 1.5, 0.1, 0.1], [3.0, 1.0, 0.7, 2.5, 0.1, 0.1]])
    np.testing.assert_allclose(pdf.PdfHead.point(raw).numpy(), [1.5, 0.7])


def test_scores_of_calibrated_and_overconfident_gaussians(tmp_path):
    rng = np.random.default_rng(5)
    n = 4000
    mu = rng.uniform(0.2, 2.5, n)
    z = rng.normal(mu, 0.1)
    good = score_arrays(z, *_one(mu, np.full(n, 0.1)))
    assert good["coverage_68"] == pytest.approx(0.68, abs=0.03)
    assert good["coverage_95"] == pytest.approx(0.95, abs=0.015)
    assert good["pit_ks"] < 0.03  # KS of n = 4000 uniform draws: ~0.02 at p = 0.05
    bad = score_arrays(z, *_one(mu, np.full(n, 0.05)))
    # Half the true width: coverage of the nominal 68% interval is P(|t| < 0.5) = 0.383.
    assert bad["coverage_68"] == pytest.approx(2 * stats.norm.cdf(0.497) - 1, abs=0.03)
    assert bad["crps"] > good["crps"] and bad["pit_ks"] > 0.1
    # A qp file round trip, with the raw widths recovered from the stored scale. The file holds
    # the p(z) truncated at 0 on a grid (issue 29): the scores move by the grid's error only where
    # no mass is below 0 (means >= 0.5 = 5 sigma).
    keep = mu >= 0.5
    mu, z, n = mu[keep], z[keep], int(keep.sum())
    good = score_arrays(z, *_one(mu, np.full(n, 0.1)))
    ens = make_ensemble(*_one(mu, np.full(n, 0.1)), np.arange(n) + 10, z, 2.0)
    path = tmp_path / "pdfs" / "mlp.hdf5"
    path.parent.mkdir()
    write_ensemble(path, ens)
    import qp

    back = qp.read(str(path))
    assert back.npdf == n and list(back.ancil["object_id"][:2]) == [10, 11]
    scores = score_ensemble(read_ensemble(path))
    assert scores["coverage_68"] == pytest.approx(good["coverage_68"], abs=2e-3)
    assert scores["crps"] == pytest.approx(good["crps"], rel=1e-3)
    assert scores["coverage_68_raw"] == pytest.approx(
        score_arrays(z, *_one(mu, np.full(n, 0.05)))["coverage_68"], abs=2e-3)
    assert score_ensemble(read_ensemble(tmp_path / "pdfs" / "mlp.hdf5"))["width_scale"] == 2.0
    (tmp_path / "pdfs" / "cnn.hdf5").write_text("not hdf5")
    with pytest.raises(PhotozDataError, match="cnn.hdf5"):
        read_ensemble(tmp_path / "pdfs" / "cnn.hdf5")


@pytest.mark.parametrize("net", ["mlp", "cnn", "hybrid"])
def test_pdf_head_changes_only_the_last_layer(net):
    point, mix = build_model(net, seed=1), build_model(net, seed=1, output="pdf", n_components=3)
    n_in = point.output.in_features
    assert count_parameters(point) == PAPER_PARAMETER_COUNTS[net]
    assert count_parameters(mix) == PAPER_PARAMETER_COUNTS[net] - (n_in + 1) + (n_in + 1) * 9
    body = {k: v for k, v in point.state_dict().items() if not k.startswith("output.")}
    mix_body = {k: v for k, v in mix.state_dict().items() if not k.startswith("output.")}
    assert body.keys() == mix_body.keys()
    assert all(torch.equal(body[k], mix_body[k]) for k in body)  # same seed, same body init
    with pytest.raises(PhotozConfigError, match="train.output"):
        build_model(net, output="bins")


def test_output_is_a_per_network_key():
    cfg = default_config({"train": {"output": {"mlp": "pdf"}}})["train"]
    assert check_train_cfg(cfg, "mlp")["output"] == "pdf"
    assert check_train_cfg(cfg, "cnn")["output"] == "point"  # the schema's default: the paper's
    with pytest.raises(PhotozConfigError, match="train.output.mlp"):
        load_config(overrides={"train": {"output": {"mlp": "gauss"}}})
    with pytest.raises(PhotozConfigError, match="pdf_components"):
        load_config(overrides={"train": {"pdf_components": 0}})


def test_train_and_predict_with_a_pdf_head(tmp_path):
    instrument = load_instrument({})
    phot, shards = write_toy_inputs(tmp_path / "in", 300, instrument, seed=4, stamp_size=40)
    out = tmp_path / "results"
    cfg = default_config({"train": {"device": "cpu", "batch_size": {"mlp": 64},
                                    "max_epochs": {"mlp": 2}, "learning_rate": 1e-3,
                                    "n_flux_realisations": 2, "output": {"mlp": "pdf"},
                                    "pdf_components": 2}})["train"]
    summary = train_network("mlp", phot, shards, out / "models/mlp.pt", out / "models/h.csv",
                            out / "predictions/mlp.parquet", cfg, instrument, seed=3,
                            out_pdfs=out / "pdfs/mlp.hdf5")
    pred = pd.read_parquet(out / "predictions/mlp.parquet")
    assert list(pred.columns) == list(NETWORK_PREDICTION_COLUMNS)
    np.testing.assert_array_equal(pred["z_pred"], pred["z_median"])
    assert (pred["z_lo68"] <= pred["z_median"]).all() and (pred["z_median"] <= pred["z_hi68"]).all()
    ens = read_ensemble(out / "pdfs/mlp.hdf5")
    test = pred.query("split == 'test'")
    np.testing.assert_array_equal(ens.ancil["object_id"], test["object_id"])
    assert ensemble_arrays(ens)[1].shape == (len(test), 2)
    ckpt = load_checkpoint(out / "models/mlp.pt")
    assert ckpt["output"] == "pdf" and ckpt["width_scale"] == summary["width_scale"] > 0
    # The median of the written p(z) is the table's median (exactly for the truncated mixture the
    # file keeps; within the grid's error for qp's CDF of the gridded p(z)); predict() gives the
    # same table.
    w, mu, sig = ensemble_arrays(ens)
    np.testing.assert_allclose(truncated_cdf(test["z_median"].to_numpy(), w, mu, sig), 0.5,
                               atol=1e-9)
    cdf_at_median = np.squeeze(ens.cdf(np.vstack(test["z_median"].to_numpy())))  # qp's CDF
    np.testing.assert_allclose(cdf_at_median, 0.5, atol=3e-3)
    again = predict(out / "models/mlp.pt", phot, shards, None)
    np.testing.assert_allclose(again["z_hi68"], pred["z_hi68"], rtol=1e-6)
    scores = score_ensemble(read_ensemble(out / "pdfs/mlp.hdf5"))
    assert 0 <= scores["coverage_68"] <= 1 and scores["crps"] > 0


def test_calibration_figure_shows_a_flat_and_a_u_shaped_pit(tmp_path):
    """The MLP's p(z) widths match the scatter (a flat PIT histogram); the CNN's are half of it
    (a U-shaped one): the figure's histogram bars say so, and its titles give each file's scores."""
    from photoz.plots.pdf import plot_pdf_calibration

    rng = np.random.default_rng(2)
    paths = {}
    for i, net in enumerate(("mlp", "cnn")):
        mu = rng.uniform(0.2, 2.0, 3000)
        z = rng.normal(mu, 0.1 * (1 + i))
        paths[net] = tmp_path / f"{net}.hdf5"
        write_ensemble(paths[net], make_ensemble(*_one(mu, np.full(3000, 0.1)),
                                                 np.arange(3000), z, 1.0))
    fig = plot_pdf_calibration(paths)
    hists = fig.axes[2:]  # after the QQ and the example panels, one per network
    heights = {net: np.array([bar.get_height() for bar in hists[k].containers[0]])
               for k, net in enumerate(paths)}
    for net, h in heights.items():
        assert len(h) == 20 and h.sum() == 3000, net
    edges, middle = np.r_[heights["cnn"][:2], heights["cnn"][-2:]], heights["cnn"][5:15]
    assert edges.mean() > 3 * middle.mean()  # U: 2 sigma of z outside the widths' 1 sigma
    assert heights["mlp"].max() < 1.5 * heights["mlp"].min()  # flat within Poisson noise
    for k, net in enumerate(paths):
        s = score_ensemble(read_ensemble(paths[net]), raw_too=False)
        assert f"KS {s['pit_ks']:.3f}" in hists[k].get_title()
