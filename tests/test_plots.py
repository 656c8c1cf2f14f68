"""Tests of photoz.plots: every figure renders from small fixture files and has data on its axes.

The fixtures follow docs/outputs.md exactly (truth parquet, stamp shards, photometry
parquet, training histories, predictions).
"""

from __future__ import annotations

import inspect
import json

import galsim
import numpy as np
import pandas as pd
import pytest
import torch
from matplotlib.patches import Rectangle
from torch import nn

from photoz import BANDS
from photoz.benchmarks.toydata import (
    add_matched_columns,
    truth_table,
    write_stamps,
    write_toy_predictions,
    write_truth_table,
)
from photoz.errors import PhotozConfigError, PhotozDataError
from photoz.evaluate.summary import write_summary
from photoz.instrument import load_instrument
from photoz.names import NETWORKS
from photoz.paper import PAPER_PARAMETER_COUNTS
from photoz.plots.outliers import FIG8_SMALL_BIN, zero_outlier_upper_limit
from photoz.plots.registry import (
    FIGURES,
    REGISTRY,
    figure_inputs,
    figure_kwargs,
    figure_params,
    make_figure,
    plot_figure,
    run_figures,
)
from photoz.plots.results import INPUT_TITLES, point_density, stop_reason
from photoz.plots.stamps import _shard_ids, electrons_to_ujy, sed_to_ujy, select_examples, ujy_to_ab
from photoz.plots.style import NET_COLORS
from photoz.products.evaluate import read_binned
from photoz.products.photometry import PHOTOMETRY_COLUMNS, write_photometry
from photoz.products.train import (
    make_ensemble,
    read_history,
    read_predictions,
    write_ensemble,
    write_history,
)
from photoz.sed import observed_sed, template_names

N_GAL = 14
STAMP = 24


def _axes_with_data(fig):
    """Visible, non-colourbar axes and whether each holds lines, collections, images or patches."""
    out = []
    for ax in fig.axes:
        if not ax.get_visible() or ax.get_label() == "<colorbar>":
            continue
        has = bool(ax.lines or ax.collections or ax.images or ax.patches)
        out.append((ax, has))
    return out


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """A miniature run: truth, two stamp shards, photometry, histories, predictions."""
    root = tmp_path_factory.mktemp("run")
    rng = np.random.default_rng(42)
    ids = np.arange(1000, 1000 + N_GAL, dtype=np.int64)
    z = np.linspace(0.1, 3.6, N_GAL)
    truth = pd.DataFrame({"object_id": ids, "redshift": z})
    truth["split"] = np.where(np.arange(N_GAL) % 4 == 0, "test", "train")
    truth["ebv"] = 0.0
    # real templates, so Fig. 4 draws real SEDs
    inst = load_instrument({})
    names = template_names("cosmos")
    truth["sed_template"] = [names[(7 * k) % len(names)] for k in range(N_GAL)]
    flux = np.empty((N_GAL, 7))
    for k in range(N_GAL):
        sed = observed_sed(truth["sed_template"][k], 1.0, 0.0, z[k], "cosmos")
        flux[k] = [sed.calculateFlux(inst.bandpasses[b]) for b in BANDS]
    flux *= inst.area * inst.total_exposure_time
    amp = 5000.0 / flux[:, 4]  # i-band: 5000 e-
    truth["sed_amplitude"] = amp
    flux *= amp[:, None]
    mags = {f"mag_{b}": 24.0 - 2.5 * np.log10(np.maximum(flux[:, j], 1e-3) / 2000.0)
            for j, b in enumerate(BANDS)}
    write_truth_table(root / "truth.parquet", truth_table(
        ids, flux=flux, **mags, **{c: truth[c].to_numpy() for c in truth.columns if c != "object_id"}))

    # stamps: elliptical Gaussians with per-band amplitude plus background noise
    yy, xx = np.mgrid[:STAMP, :STAMP] - (STAMP - 1) / 2
    noise = np.array([10.65, 7.84, 9.93, 10.59, 10.59, 9.56, 11.53], dtype=np.float32)
    shards = []
    for s, rows in enumerate(np.array_split(np.arange(N_GAL), 2)):
        prof = np.exp(-(xx**2 / 2 / 3.0**2 + yy**2 / 2 / 1.8**2))
        prof /= prof.sum()
        imgs = flux[rows][:, :, None, None] * prof[None, None]
        imgs = imgs + noise[None, :, None, None] * rng.standard_normal(imgs.shape)
        path = write_stamps(root / f"shard_{s}.h5", imgs, ids[rows], noise, 0.074, seed=1,
                            psf="gaussian")
        shards.append(str(path))

    phot = pd.DataFrame({"object_id": ids, "redshift": z, "split": truth["split"]})
    for j, b in enumerate(BANDS):
        err = np.full(N_GAL, 60.0)
        phot[f"flux_{b}"] = 0.85 * flux[:, j] + err * rng.standard_normal(N_GAL)
        phot[f"flux_err_{b}"] = err
        with np.errstate(invalid="ignore", divide="ignore"):
            phot[f"mag_{b}"] = np.where(phot[f"flux_{b}"] > 0,
                                        25.0 - 2.5 * np.log10(phot[f"flux_{b}"] / 1000.0), np.nan)
        phot[f"mag_err_{b}"] = np.nan
        phot[f"snr_{b}"] = phot[f"flux_{b}"] / err
    phot["kron_radius"] = 3.5
    phot["a"], phot["b"], phot["theta"], phot["npix"] = 3.0, 1.8, 0.0, 60.0
    phot["flag"] = ""
    phot["selected"] = np.arange(N_GAL) != 5  # one galaxy fails the cut
    add_matched_columns(phot)
    write_photometry(phot[list(PHOTOMETRY_COLUMNS)], root / "photometry.parquet", {})

    histories, predictions, pdfs = {}, {}, {}
    n_pred = 3000
    zt = rng.gamma(2.0, 0.45, n_pred)
    for k, net in enumerate(NETWORKS):
        epochs = np.arange(1, 13)
        loss = 0.3 / np.sqrt(epochs) * (1 + 0.1 * k)
        write_history(pd.DataFrame(
            {
                "epoch": epochs,
                "train_loss": loss,
                "val_loss": loss * 1.1 + 0.005 * (epochs > 9),
                "train_accuracy": 1 - loss / 2,
                "val_accuracy": 1 - loss / 1.8,
                "learning_rate": 1e-4,
            }
        ), root / f"{net}_history.csv")
        histories[net] = str(root / f"{net}_history.csv")
        zp = zt + (0.02 + 0.005 * k) * (1 + zt) * rng.standard_normal(n_pred)
        zp[: 40 - 5 * k] = rng.uniform(0.0, 4.0, 40 - 5 * k)
        write_toy_predictions(root / f"{net}.parquet", zt, zp,
                              np.where(np.arange(n_pred) % 3 == 0, "train", "test"))
        predictions[net] = str(root / f"{net}.parquet")
        # the p(z) of the test galaxies: Gaussians at z_pred, width 0.03 (1 + z)
        test = np.arange(n_pred) % 3 != 0
        ones = np.ones((int(test.sum()), 1))
        write_ensemble(root / f"{net}.hdf5", make_ensemble(
            ones, zp[test][:, None], 0.03 * (1 + zp[test])[:, None], np.flatnonzero(test),
            zt[test], 1.0))
        pdfs[net] = str(root / f"{net}.hdf5")
    # the metrics stage's products, from which Fig. 8 and the peers' comparison are drawn
    (root / "selection.json").write_text(json.dumps({"n_selected": N_GAL - 1}))
    write_summary(predictions, root / "selection.json", root / "summary.json", root / "summary.md",
                  root / "binned.csv", train_test_ratio="3:1", n_bootstrap=20, seed=0)
    return {
        "root": root,
        "summary": str(root / "summary.json"),
        "binned": str(root / "binned.csv"),
        "truth": str(root / "truth.parquet"),
        "photometry": str(root / "photometry.parquet"),
        "shards": shards,
        "histories": histories,
        "predictions": predictions,
        "pdfs": pdfs,
    }


# ---- stand-in networks for Fig. 5 (the same structure photoz.models documents) ----------------
class _Dense(nn.Sequential):
    def __init__(self, n_in, n_out):
        super().__init__()
        self.dense = nn.Linear(n_in, n_out)
        self.batchnorm = nn.BatchNorm1d(n_out)
        self.relu = nn.ReLU()


class _MLPTrunk(nn.Module):
    def __init__(self):
        super().__init__()
        self.dense_in = nn.Sequential(nn.Linear(20, 40), nn.ReLU())
        self.hidden1 = _Dense(40, 40)
        self.hidden2 = _Dense(40, 40)

    def forward(self, x):
        return self.hidden2(self.hidden1(self.dense_in(x)))


class _Conv(nn.Sequential):
    def __init__(self, n_in, n_out, k, s=1):
        super().__init__(
            nn.Conv2d(n_in, n_out, k, s, k // 2), nn.BatchNorm2d(n_out), nn.LeakyReLU(0.3)
        )


class StandInInception(nn.Module):
    def __init__(self, n_in):
        super().__init__()
        self.branch1 = _Conv(n_in, 4, 1, 2)
        self.branch2 = nn.Sequential(_Conv(n_in, 4, 1), _Conv(4, 8, 3, 2))

    def forward(self, x):
        return torch.cat([self.branch1(x), self.branch2(x)], 1)


class _CNNTrunk(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = _Conv(7, 8, 3, 2)
        self.inception1 = StandInInception(8)
        self.pool = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.dense = nn.Sequential(nn.Linear(12, 40), nn.ReLU())

    def forward(self, x):
        return self.dense(self.pool(self.inception1(self.stem(x))))


class _Net(nn.Module):
    def __init__(self, kind):
        super().__init__()
        self.kind = kind
        self.inputs = {"mlp": ("flux",), "cnn": ("image",), "hybrid": ("flux", "image")}[kind]
        if kind in ("mlp", "hybrid"):
            self.mlp = _MLPTrunk()
        if kind in ("cnn", "hybrid"):
            self.cnn = _CNNTrunk()
        if kind == "hybrid":
            self.head = nn.Sequential(_Dense(80, 80), _Dense(80, 80))
        self.output = nn.Linear(80 if kind == "hybrid" else 40, 1)

    def forward(self, *args):
        if self.kind == "mlp":
            x = self.mlp(args[0])
        elif self.kind == "cnn":
            x = self.cnn(args[0])
        else:
            x = self.head(torch.cat([self.mlp(args[0]), self.cnn(args[1])], 1))
        return self.output(x).squeeze(-1)


def _stand_in_build_model(name):
    return _Net(name)


# ---- tests ----------------------------------------------------------------------------------
def _inputs(name, run):
    return {
        "fig1_throughputs": {"instrument_cfg": {}},
        "fig2_redshift_distribution": {"photometry": run["photometry"]},
        "fig3_example_stamps": {
            "photometry": run["photometry"],
            "shards": run["shards"],
            "truth": run["truth"],
        },
        "fig4_aperture_fluxes": {
            "photometry": run["photometry"],
            "truth": run["truth"],
            "shards": run["shards"],
            "instrument_cfg": {},
        },
        "fig5_architectures": {"build_model": _stand_in_build_model},
        "fig6_training_history": {"histories": run["histories"]},
        "fig7_zphot_vs_zspec": {"predictions": run["predictions"]},
        "fig8_outlier_fraction": {"binned": run["binned"]},
        "peers_comparison": {"summary": run["summary"], "binned": run["binned"]},
        "pdf_calibration": {"pdfs": run["pdfs"], "peer_pdfs": {}},
    }[name]


def test_figures_tuple_is_the_papers_eight():
    assert len(FIGURES) == 8
    assert [f[:4] for f in FIGURES] == [f"fig{i}" for i in range(1, 9)]


@pytest.mark.parametrize("name", list(REGISTRY))
def test_every_figure_renders_with_data(name, run_dir, tmp_path):
    fig = make_figure(name, **_inputs(name, run_dir))
    axes = _axes_with_data(fig)
    assert axes, f"{name}: no axes"
    empty = [ax.get_title() or ax.get_ylabel() for ax, has in axes if not has]
    assert not empty, f"{name}: axes without data: {empty}"
    png, pdf = tmp_path / f"{name}.png", tmp_path / f"{name}.pdf"
    plot_figure(name, png, pdf, **_inputs(name, run_dir))
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000
    assert pdf.read_bytes()[:5] == b"%PDF-"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([png.name, pdf.name])


def test_data_axes_have_labels_with_units(run_dir):
    for name in ("fig1_throughputs", "fig4_aperture_fluxes"):
        fig = make_figure(name, **_inputs(name, run_dir))
        xlabels = [ax.get_xlabel() for ax in fig.axes if ax.get_visible() and ax.get_xlabel()]
        assert any("[nm]" in x for x in xlabels), name


def test_fig1_throughput_curves_peak_like_the_data(run_dir):
    from photoz.instrument import SILICON_CUTOFF_NM

    fig = make_figure("fig1_throughputs", instrument_cfg={})
    ax = fig.axes[0]
    curves = {ln.get_label(): ln for ln in ax.lines if ln.get_label() in BANDS}
    assert set(curves) == set(BANDS)
    # beamingfactor's g band peaks near 0.6 (shared/data README: galaxyGenius copy 0.632)
    assert 0.5 < max(curves["g"].get_ydata()) < 0.75
    assert 0.1 < max(curves["NUV"].get_ydata()) < 0.3
    # the used curves end at the cutoff; the raw z/y tails (to 1790 nm) are drawn, dotted
    assert max(max(ln.get_xdata()) for ln in curves.values()) <= SILICON_CUTOFF_NM + 1
    tails = [ln for ln in ax.lines if ln.get_linestyle() == ":" and len(ln.get_xdata()) > 2]
    assert len(tails) == 2  # z and y
    assert all(min(ln.get_xdata()) >= SILICON_CUTOFF_NM for ln in tails)
    assert max(max(ln.get_xdata()) for ln in tails) == pytest.approx(1790.0)
    assert ax.get_xlim()[1] >= 1790.0


def test_fig2_counts_only_selected_galaxies(run_dir):
    fig = make_figure("fig2_redshift_distribution", photometry=run_dir["photometry"])
    bars = [p for p in fig.axes[0].patches if isinstance(p, Rectangle)]
    heights = sum(p.get_height() for p in bars)
    assert heights == N_GAL - 1
    # the paper's inset: g and i magnitude distributions of the same selected galaxies
    (inset,) = fig.axes[0].child_axes
    phot = pd.read_parquet(run_dir["photometry"])
    sel = phot[phot["selected"]]
    legend = [t.get_text() for t in inset.get_legend().get_texts()]
    for band, text in zip(("g", "i"), legend, strict=True):
        n_ok = int(np.isfinite(sel[f"mag_{band}"]).sum())
        assert text.startswith(f"{band} (N = {n_ok:,})")


def test_examples_span_redshift_and_are_shared_by_fig3_and_fig4(run_dir):
    phot = pd.read_parquet(run_dir["photometry"])
    ex = select_examples(phot, _shard_ids(run_dir["shards"]))
    assert len(ex) == 6
    assert ex["redshift"].min() == pytest.approx(0.1 + 3.5 / 13 * 1, abs=0.2)  # nearest to 0.25
    assert ex["redshift"].max() == pytest.approx(3.6)
    assert 1005 not in set(ex["object_id"])  # not selected
    fig3 = make_figure("fig3_example_stamps", **_inputs("fig3_example_stamps", run_dir))
    assert len([a for a in fig3.axes if a.images]) == 6 * 8  # 7 bands + the i, r, g composite
    composites = [a for a in fig3.axes if a.images and a.images[0].get_array().ndim == 3]
    assert len(composites) == 6 and composites[0].get_title() == "i, r, g"
    labels = [a.get_ylabel() for a in fig3.axes if a.get_ylabel()]
    assert [f"z = {z:.2f}" for z in ex["redshift"]] == [s.split("\n")[0] for s in labels]
    fig4 = make_figure("fig4_aperture_fluxes", **_inputs("fig4_aperture_fluxes", run_dir))
    assert len(fig4.axes) == 1  # one panel, as the paper's
    texts = [t.get_text() for t in fig4.axes[0].get_legend().get_texts()][: len(ex)]
    assert [
        f"z = {z:.2f}, ID {i}" for z, i in zip(ex["redshift"], ex["object_id"], strict=True)
    ] == [t.split(";")[0] for t in texts]


def test_colour_composite_shows_a_red_centre_in_a_blue_disk():
    """i, r, g -> red, green, blue: a stamp whose centre is bright in i and whose outskirts are
    bright in g is red in the middle and blue outside."""
    from photoz.plots.stamps import colour_composite

    yy, xx = np.mgrid[:32, :32] - 15.5
    r2 = xx**2 + yy**2
    core, disk = 200 * np.exp(-r2 / 4), 20 * np.exp(-np.sqrt(r2) / 6)
    stamp = np.zeros((7, 32, 32))
    stamp[BANDS.index("i")] = core + 0.2 * disk
    stamp[BANDS.index("r")] = 0.5 * core + 0.5 * disk
    stamp[BANDS.index("g")] = 0.1 * core + disk
    rgb = colour_composite(stamp, sigma=1.0).astype(float)
    assert rgb.shape == (32, 32, 3)
    assert rgb[16, 16, 0] > rgb[16, 16, 2]  # the centre: red above blue
    assert rgb[16, 27, 2] > rgb[16, 27, 0]  # the outskirts: blue above red


def test_unit_conversions():
    # f_nu from electrons: an AB = 23.9 source gives 1 uJy by construction
    zp = np.full(7, 26.0)
    t = np.full(7, 300.0)
    electrons = 10 ** (-0.4 * (23.9 - 26.0)) * t
    assert electrons_to_ujy(electrons, zp, t) == pytest.approx(np.ones(7))
    # a flat-f_nu SED of AB magnitude 23.9 is 1 uJy at every wavelength
    sed = galsim.SED(lambda w: 1e-29, wave_type="nm", flux_type="fnu")
    assert sed_to_ujy(sed, np.array([300.0, 500.0, 900.0])) == pytest.approx(1.0, rel=1e-6)


def test_fig4_draws_each_galaxys_sed_scaled_to_its_aperture_fluxes(run_dir):
    """The curve is the galaxy's own template (real photoz.sed, COSMOS library) at its redshift and
    amplitude, times the inverse-variance least-squares factor of its band fluxes."""
    truth = pd.read_parquet(run_dir["truth"]).set_index("object_id")
    phot = pd.read_parquet(run_dir["photometry"]).set_index("object_id")
    fig = make_figure("fig4_aperture_fluxes", **_inputs("fig4_aperture_fluxes", run_dir))
    ax = fig.axes[0]
    assert ax.yaxis_inverted()  # magnitudes: brighter up
    sed_lines = [ln for ln in ax.lines if "SED ×" in ln.get_label()]
    assert len(sed_lines) == 6
    h, c = 6.62607015e-27, 2.99792458e10  # erg s, cm/s (CODATA 2018)
    for line in sed_lines:
        oid = int(line.get_label().split("ID ")[1].split(";")[0])
        t = truth.loc[oid]
        # scale s = sum(F m / sigma^2) / sum(m^2 / sigma^2): F the aperture fluxes, m the model's
        # band fluxes (the fixture's truth fluxes, electrons, computed through the bandpasses)
        flux = phot.loc[oid, [f"flux_{b}" for b in BANDS]].to_numpy(float)
        w = 1.0 / phot.loc[oid, [f"flux_err_{b}" for b in BANDS]].to_numpy(float) ** 2
        model = t[[f"flux_{b}" for b in BANDS]].to_numpy(float)
        scale = np.sum(w * flux * model) / np.sum(w * model**2)
        assert float(line.get_label().split("×")[1]) == pytest.approx(scale, abs=0.006)
        # f_nu = f_lambda lambda^2 / c with f_lambda = N_lambda h c / lambda (N per nm -> per cm)
        sed = observed_sed(t["sed_template"], t["sed_amplitude"], t["ebv"], t["redshift"], "cosmos")
        lam_cm = line.get_xdata() * 1e-7
        f_lambda = sed(line.get_xdata()) * 1e7 * h * c / lam_cm
        f_nu_ujy = f_lambda * lam_cm**2 / c / 1e-29
        lit = f_nu_ujy > 0  # none blueward of the Lyman limit (IGM): no magnitude there
        assert lit.sum() > 100 and np.isnan(line.get_ydata()[~lit]).all()
        np.testing.assert_allclose(line.get_ydata()[lit],
                                   23.9 - 2.5 * np.log10(scale * f_nu_ujy[lit]), rtol=0, atol=1e-9)


def test_fig4_draws_a_template_mixture(run_dir, tmp_path):
    """With catalog.template_mixing's columns the curve is the two-template SED: equal shares of
    the galaxy's template and its library neighbour, against the first template alone."""
    truth = pd.read_parquet(run_dir["truth"])
    names = template_names("cosmos")
    truth["sed_template_2"] = [names[(names.index(t) + 1) % len(names)] for t in truth.sed_template]
    truth["sed_amplitude_2"] = truth.sed_amplitude
    path = write_truth_table(tmp_path / "truth.parquet", truth)
    inputs = dict(_inputs("fig4_aperture_fluxes", run_dir), truth=path)
    fig = make_figure("fig4_aperture_fluxes", **inputs)
    line = next(ln for ln in fig.axes[0].lines if "SED ×" in ln.get_label())
    oid = int(line.get_label().split("ID ")[1].split(";")[0])
    t = truth.set_index("object_id").loc[oid]
    wave = line.get_xdata()
    one = observed_sed(t.sed_template, t.sed_amplitude, 0.0, t.redshift, "cosmos")
    two = observed_sed(t.sed_template_2, t.sed_amplitude_2, 0.0, t.redshift, "cosmos")
    ratio = (one(wave) + two(wave)) / one(wave)  # photon densities at each wavelength
    y = line.get_ydata()
    lit = np.isfinite(y) & (one(wave) > 0)
    # the plotted shape is the sum's: relative to the first template alone it differs by
    # -2.5 log10(ratio) up to one overall scale (the aperture factor s)
    mag_one = -2.5 * np.log10(one(wave[lit]) * wave[lit])  # AB up to a constant (f_nu ~ N lambda)
    d = y[lit] - (mag_one - 2.5 * np.log10(ratio[lit]))
    assert np.ptp(d) < 1e-6
    assert np.ptp(np.log10(ratio[lit])) > 0.05  # the neighbour changes the shape


def test_ujy_to_ab():
    # 1 uJy is AB 23.9 (Oke & Gunn 1983); 100 uJy is 5 mag brighter; non-positive -> NaN
    np.testing.assert_allclose(ujy_to_ab(np.array([1.0, 100.0])), [23.9, 18.9])
    assert np.isnan(ujy_to_ab(np.array([0.0, -1.0]))).all()


def test_fig6_marks_how_each_training_ended(run_dir):
    # the fixture's histories have 12 epochs: cut at max_epochs = 12, early stop when the limit is 30
    limits = {"mlp": 12, "cnn": 30, "hybrid": 12, "hybrid_transfer": 30}
    fig = make_figure("fig6_training_history", histories=run_dir["histories"],
                            max_epochs=limits)
    legend = [t.get_text() for t in fig.axes[1].get_legend().get_texts()]
    assert legend[0].startswith("MLP: cut at max_epochs = 12")
    assert legend[1].startswith("CNN: early stop at epoch 12")
    assert "(lr 1e-04)" in legend[0]
    markers = [ln.get_marker() for ln in fig.axes[1].lines if ln.get_label().startswith(("MLP:", "CNN:"))]
    assert markers == ["s", "X"]
    h = read_history(run_dir["histories"]["mlp"])
    assert stop_reason(h, None) == "unknown"


def test_fig5_is_drawn_from_the_models():
    fig = make_figure("fig5_architectures", build_model=_stand_in_build_model)
    titles = [ax.get_title() for ax in fig.axes]
    n_mlp = sum(p.numel() for p in _Net("mlp").parameters()) + 2 * 2 * 40  # + 2 BN x (mean, var)
    assert titles[0] == f"MLP: {n_mlp:,} parameters"
    texts = [t.get_text() for ax in fig.axes for t in ax.texts]
    assert "2 × [Dense 40 + BN + ReLU]\n→ 40" in texts
    assert "Conv 3×3/8, stride 2 + BN + LeakyReLU\n→ 16×16×8" in texts
    assert "Conv 3×3/8, s2\nBN + LReLU\n→ 8×8×8" in texts  # inception branch, compact
    assert "Concatenate → 8×8×12" in texts  # the inception panel, from the forward pass
    assert any("Concatenate  → 80" in t for t in texts)  # the hybrid panel


def test_fig5_with_the_real_models():
    fig = make_figure("fig5_architectures")
    titles = [ax.get_title() for ax in fig.axes]
    assert titles[0] == f"MLP: {PAPER_PARAMETER_COUNTS['mlp']:,} parameters"
    assert titles[1] == f"CNN: {PAPER_PARAMETER_COUNTS['cnn']:,} parameters"
    assert titles[3] == f"Hybrid: {PAPER_PARAMETER_COUNTS['hybrid']:,} parameters"
    texts = [t.get_text() for ax in fig.axes for t in ax.texts]
    assert "3 × [Inception block]\n→ 2×2×72" in texts
    assert "5 × [Dense 40 + BN + ReLU]\n→ 40" in texts
    assert "Conv 5×5/16, s2\nBN + LReLU\n→ 8×8×16" in texts


def test_fig7_annotations_match_metrics(run_dir):
    from photoz.evaluate import metrics

    fig = make_figure("fig7_zphot_vs_zspec", predictions=run_dir["predictions"])
    texts = [t.get_text() for ax in fig.axes for t in ax.texts]
    df = read_predictions(run_dir["predictions"]["cnn"])
    m = metrics.point_metrics(df["z_pred"], df["z_true"])
    want = f"CNN\n$\\eta$ = {100 * m['outlier_fraction']:.2f}%"
    assert any(t.startswith(want) for t in texts)
    assert any(f"N = {len(df):,}" in t for t in texts)
    titles = [ax.get_title() for ax in fig.axes if ax.get_title()]
    assert titles == [INPUT_TITLES[n] for n in NETWORKS]
    # every test galaxy is either a point or counted as out of range
    main, resid = fig.axes[2], fig.axes[3]  # CNN (MLP main, MLP residual, CNN main, CNN residual)
    zt, zp = df["z_true"].to_numpy(), df["z_pred"].to_numpy()
    e = (zp - zt) / (1 + zt)
    for ax, n_out in ((main, int(np.sum((zp < 0) | (zp > 4) | (zt > 4)))),
                      (resid, int(np.sum((np.abs(e) > 0.25) | (zt > 4))))):
        (points,) = ax.collections
        counts = [int(t.get_text().split()[1].replace(",", "")) for t in ax.texts
                  if t.get_text()[:1] in "▲▼▶"]
        assert len(points.get_offsets()) == len(df) - n_out
        assert sum(counts) == n_out
    assert int(np.sum(np.abs(e) > 0.25)) > 0  # the fixture has out-of-range residuals
    # density colours: a point's colour value is the count of its 100 x 100 cell
    offsets = points.get_offsets()
    dens = point_density(offsets[:, 0], offsets[:, 1], np.linspace(0, 4, 101),
                               np.linspace(-0.25, 0.25, 51))
    np.testing.assert_array_equal(points.get_array(), dens)


def test_point_density_by_hand():
    x = np.array([0.1, 0.15, 0.9, 2.0])
    y = np.array([0.1, 0.12, 0.9, 0.5])
    edges = np.array([0.0, 0.5, 1.0])
    np.testing.assert_array_equal(point_density(x, y, edges, edges), [2, 2, 1, 0])


def _fig8_points(ax, color):
    """x, y and upper error bar end of the markers of one colour in a Fig. 8 panel."""
    xs, ys, tops = [], [], []
    for cont in ax.containers:
        data, _caps, (bars,) = cont.lines[0], cont.lines[1], cont.lines[2]
        if data.get_marker() != "o" or data.get_color() != color:
            continue
        xs.append(data.get_xdata())
        ys.append(data.get_ydata())
        tops.append([seg[1, 1] for seg in bars.get_segments()])
    order = np.argsort(np.concatenate(xs))
    return tuple(np.concatenate(v)[order] for v in (xs, ys, tops))


def test_fig8_is_binned_csv_to_the_last_digit(run_dir):
    """Issue 16: Fig. 8 recomputed the bootstrap and disagreed with binned.csv (MLP: 0.757 vs 0.782).
    Every point, error bar and count of the figure is now the file's number."""
    table = read_binned(run_dir["binned"])
    fig = make_figure("fig8_outlier_fraction", binned=run_dir["binned"])
    ax_top, cnt_top, ax_bot, cnt_bot = fig.axes
    n_test = len(pd.read_parquet(run_dir["predictions"]["mlp"]).query("split == 'test'"))
    for ax, cnt, by in ((ax_top, cnt_top, "z_pred"), (ax_bot, cnt_bot, "z_true")):
        y_max = ax.get_ylim()[1]
        for k, net in enumerate(NETWORKS):
            rows = table[(table["network"] == net) & (table["binned_by"] == by)]
            rows = rows.sort_values("z_lo")
            frac, err, n = (100 * rows["outlier_fraction"].to_numpy(), 100 *
                            rows["outlier_fraction_err"].to_numpy(), rows["n"].to_numpy())
            # markers: bins with outliers, except small ones above the range (an edge mark)
            shown = (n > 0) & (frac > 0) & ~((n < FIG8_SMALL_BIN) & (frac > y_max))
            assert shown.sum() >= 3, (net, by)
            _x, y, top = _fig8_points(ax, NET_COLORS[net])
            np.testing.assert_array_equal(y, frac[shown])
            np.testing.assert_array_equal(top, frac[shown] + err[shown])
            # the count strip: the file's n per bin, every test galaxy (negative photo-z included)
            steps = cnt.lines[k].get_ydata()
            np.testing.assert_array_equal(steps[n > 0], n[n > 0])
            assert np.nansum(steps) == n_test
    # the bins are the file's: the photo-z axis starts at its first edge
    assert cnt_bot.get_xlim()[0] == table["z_lo"].min() == 0.0


def test_fig8_errors_follow_the_metrics_stage(run_dir, tmp_path):
    """Another bootstrap in compute_metrics (n_bootstrap, seed) moves Fig. 8's error bars with it."""
    table = read_binned(run_dir["binned"])
    scaled = table.assign(outlier_fraction_err=2 * table["outlier_fraction_err"])
    scaled.to_csv(tmp_path / "binned.csv", index=False)
    fig = make_figure("fig8_outlier_fraction", binned=tmp_path / "binned.csv")
    _x, y, top = _fig8_points(fig.axes[2], NET_COLORS["mlp"])
    _x0, y0, top0 = _fig8_points(make_figure(
        "fig8_outlier_fraction", binned=run_dir["binned"]).axes[2], NET_COLORS["mlp"])
    np.testing.assert_array_equal(y, y0)
    np.testing.assert_allclose(top - y, 2 * (top0 - y0), rtol=1e-12)


def test_zero_outlier_upper_limit_by_hand():
    # (1 - p)^n = 1 - 0.8413: n = 1 -> 0.8413; n = 10 -> 1 - 0.1587^0.1 = 0.168
    np.testing.assert_allclose(zero_outlier_upper_limit(np.array([1, 10])),
                               [0.8413, 0.1681], atol=1e-4)


def test_errors(run_dir, tmp_path):
    with pytest.raises(PhotozConfigError, match="unknown figure"):
        plot_figure("fig9", tmp_path / "a.png", tmp_path / "a.pdf")
    with pytest.raises(PhotozConfigError, match="'photometry'"):
        plot_figure("fig2_redshift_distribution", tmp_path / "a.png", tmp_path / "a.pdf")
    bad = tmp_path / "h.csv"
    pd.DataFrame({"epoch": [1], "train_loss": [0.1]}).to_csv(bad, index=False)
    with pytest.raises(PhotozDataError, match=r"h\.csv.*val_loss"):
        make_figure("fig6_training_history", histories={"mlp": str(bad)})
    assert not (tmp_path / "a.png").exists()


def test_registry_names_each_figures_arguments_and_caption(repo_root):
    """The one registry: its inputs and params are the drawing functions' keywords, every required
    argument is an input, and every caption file exists."""
    assert list(REGISTRY)[:8] == list(FIGURES)
    # issue 29: the comparison figure is drawn with or without peers
    assert run_figures() == [*FIGURES, "pdf_calibration", "peers_comparison"]
    for name, spec in REGISTRY.items():
        args = inspect.signature(spec.draw).parameters
        assert set(spec.inputs) | set(spec.params) <= set(args), name
        required = {a for a, p in args.items() if p.default is inspect.Parameter.empty}
        assert required <= set(spec.inputs), name
        assert (repo_root / spec.caption).is_file(), name
        assert set(figure_inputs(name, NETWORKS, [0, 1])) == set(spec.inputs)


def test_figure_params_hold_only_what_each_figure_draws(repo_root):
    """Issue 16: whole sections as params made evaluate.n_bootstrap redraw all 8 figures."""
    from photoz.config import load_config

    cfg = load_config(repo_root / "config" / "config.yaml")
    nets = list(cfg["train"]["networks"])
    params = {name: figure_params(name, cfg, nets) for name in REGISTRY}
    assert params["fig1_throughputs"] == {"instrument_cfg": dict(cfg["instrument"])}
    assert set(params["fig4_aperture_fluxes"]) == {"instrument_cfg", "sed_library", "emission_lines"}
    assert params["fig6_training_history"] == {"max_epochs": dict(cfg["train"]["max_epochs"]),
                                               "networks": nets}
    assert params["fig7_zphot_vs_zspec"] == {"networks": nets}
    for name in ("fig2_redshift_distribution", "fig3_example_stamps", "fig5_architectures",
                 "fig8_outlier_fraction", "peers_comparison"):
        assert params[name] == {}, name
    # an edit of the bootstrap, the seed or the training threads changes no figure's params
    edited = {**cfg, "seed": cfg["seed"] + 1,
              "evaluate": {**cfg["evaluate"], "n_bootstrap": 7},
              "train": {**cfg["train"], "threads": 99}}
    assert {n: figure_params(n, edited, nets) for n in REGISTRY} == params
    assert figure_inputs("fig8_outlier_fraction", nets, [0]) == {
        "binned": "results/metrics/binned.csv"}


def test_the_p_z_figure_takes_the_rail_peers_files(repo_root):
    """Issue 29: the p(z) calibration figure is drawn from every p(z) of the run, the RAIL peers'
    too (the tree peers give none); a run without peers passes none."""
    from photoz.config import load_config

    cfg = load_config(repo_root / ".test" / "config.yaml")
    nets = list(cfg["train"]["networks"])
    inputs = figure_inputs("pdf_calibration", nets, [0], peers=cfg["peers"])
    assert inputs["peer_pdfs"] == [f"results/peers/{p}_pz.hdf5" for p in ("flexzboost", "knn",
                                                                           "bpz")]
    params = figure_params("pdf_calibration", cfg, nets)
    assert params == {"networks": nets, "peers": ["flexzboost", "knn", "bpz"]}
    kwargs = figure_kwargs("pdf_calibration", inputs, params)
    assert kwargs["peer_pdfs"] == {"flexzboost": "results/peers/flexzboost_pz.hdf5",
                                   "knn": "results/peers/knn_pz.hdf5",
                                   "bpz": "results/peers/bpz_pz.hdf5"}
    assert list(kwargs["pdfs"]) == nets
    plain = load_config(repo_root / "config" / "config.yaml")
    assert figure_inputs("pdf_calibration", nets, [0], peers=plain["peers"])["peer_pdfs"] == []
    assert figure_params("pdf_calibration", plain, nets)["peers"] == []
    with pytest.raises(PhotozConfigError, match="one per peer"):
        figure_kwargs("pdf_calibration", {"pdfs": [], "peer_pdfs": ["a.hdf5"]},
                      {"networks": [], "peers": []})


def test_figure_kwargs_pair_files_with_networks():
    inputs = figure_inputs("fig6_training_history", ["mlp", "cnn"], [0])
    kwargs = figure_kwargs("fig6_training_history", inputs,
                                 {"networks": ["mlp", "cnn"], "max_epochs": {"mlp": 3}})
    assert kwargs == {"max_epochs": {"mlp": 3},
                      "histories": {"mlp": "results/models/mlp_history.csv",
                                    "cnn": "results/models/cnn_history.csv"}}
    shards = figure_kwargs("fig3_example_stamps",
                                 figure_inputs("fig3_example_stamps", [], [0, 1]), {})
    assert shards["shards"] == ["results/images/shard_0.h5", "results/images/shard_1.h5"]
    with pytest.raises(PhotozConfigError, match="one per network"):
        figure_kwargs("fig7_zphot_vs_zspec", {"predictions": ["a.parquet"]},
                            {"networks": ["mlp", "cnn"]})
