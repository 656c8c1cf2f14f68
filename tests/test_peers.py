"""The classical peer estimators (photoz.peers), their metrics rows and comparison figure.

Each peer runs for real (scikit-learn, XGBoost, RAIL's FlexZBoost, KNearNeigh and BPZ stages) on a
small toy photometry table with a learnable 4000 A break (photoz.benchmarks.toydata.write_toy_inputs), with
the .test/ config's small settings; the end-to-end run of tests/test_workflow.py runs them again
on the .test/ DC2 data through the workflow rules.
"""

import json

import numpy as np
import pandas as pd
import pytest

from photoz import BANDS
from photoz.benchmarks.toydata import write_toy_inputs
from photoz.config import load_config
from photoz.errors import PhotozConfigError
from photoz.evaluate.metrics import sigma_nmad
from photoz.evaluate.summary import write_summary
from photoz.instrument import load_instrument
from photoz.names import LABELS, PEERS, RAIL_PEERS
from photoz.peers.rail import bpz_nt_array, rail_table, write_bpz_data
from photoz.peers.stage import load_peer_photometry, magnitudes, one_sigma_limits, run_peer
from photoz.peers.trees import tree_features
from photoz.products.train import read_predictions

pytest.importorskip("rail.estimation.algos.flexzboost", reason="needs the `peers` extra")

REPO_CONFIG = ".test/config.yaml"


@pytest.fixture(scope="module")
def instrument():
    return load_instrument({})


@pytest.fixture(scope="module")
def test_settings(repo_root):
    """peer_settings of the .test/ config, every default filled in by the schema."""
    return load_config(repo_root / REPO_CONFIG)["peer_settings"]


@pytest.fixture(scope="module")
def toy(tmp_path_factory, instrument):
    """A toy photometry table (600 galaxies) and every peer's outputs on it."""
    directory = tmp_path_factory.mktemp("peers")
    photometry, _ = write_toy_inputs(directory, 600, instrument, seed=3, n_shards=1, stamp_size=8)
    return directory, photometry


@pytest.fixture(scope="module")
def toy_runs(toy, test_settings, repo_root):
    directory, photometry = toy
    out = {}
    for peer in PEERS:
        pdf = directory / f"{peer}_pz.hdf5" if peer in RAIL_PEERS else None
        df = run_peer(peer, photometry, directory / f"{peer}.parquet",
                            directory / f"{peer}.pkl", {}, test_settings[peer], seed=5,
                            out_pdf=pdf, work_dir=directory / "bpz_data")
        out[peer] = (df, pdf)
    return out


def test_one_sigma_limit_is_a_fifth_of_the_five_sigma_flux(instrument):
    m1 = one_sigma_limits(instrument.limiting_mag)
    # Hand value: NUV 25.4 + 2.5 log10(5) = 25.4 + 1.74743 (paper Sect. 2 limits).
    assert m1[0] == pytest.approx(27.14743, abs=1e-5)
    assert m1[2] == pytest.approx(26.3 + 1.74743, abs=1e-5)
    np.testing.assert_allclose(5 * instrument.mag_to_electrons(m1), instrument.limiting_flux(),
                               rtol=1e-12)


def test_negative_zero_and_faint_fluxes_are_non_detections(instrument):
    limits = one_sigma_limits(instrument.limiting_mag)
    row = {f"mag_{b}": 22.0 for b in BANDS} | {f"mag_err_{b}": 0.05 for b in BANDS}
    df = pd.DataFrame([row, row, row])
    df.loc[0, "mag_NUV"] = np.nan              # non-positive flux
    df.loc[1, "mag_u"] = limits[1] + 0.01      # below the 1-sigma flux
    df.loc[2, "mag_g"] = limits[2] - 0.01      # just detected
    mag, err, nondet = magnitudes(df, limits)
    assert nondet.sum() == 2 and nondet[0, 0] and nondet[1, 1] and not nondet[2, 2]
    x = tree_features(mag, nondet, limits)
    assert x.shape == (3, 13)
    assert x[0, 0] == pytest.approx(limits[0]) and x[1, 1] == pytest.approx(limits[1])
    # Colour NUV - u of row 0: the NUV limit minus 22, by hand.
    assert x[0, 7] == pytest.approx(limits[0] - 22.0)
    assert x[2, 8] == pytest.approx(22.0 - (limits[2] - 0.01))  # u - g
    table = rail_table(mag, err, nondet, redshift=np.ones(3))
    assert table["mag_NUV"][0] == 99.0 and table["mag_err_NUV"][0] == 1.0
    assert table["mag_u"][1] == 99.0 and table["mag_g"][2] == pytest.approx(limits[2] - 0.01)
    assert table["mag_err_g"][2] == 0.05 and set(table["redshift"]) == {1.0}


def test_every_peer_predicts_every_selected_galaxy_and_beats_the_median(toy, toy_runs):
    _, photometry = toy
    phot = pd.read_parquet(photometry)
    sel = phot[phot["selected"]]
    test = sel[sel["split"] == "test"]
    z_train = sel.loc[sel["split"] == "train", "redshift"]
    constant = sigma_nmad(np.full(len(test), z_train.median()), test["redshift"])
    for peer, (df, _) in toy_runs.items():
        assert list(df.columns) == ["object_id", "z_true", "z_pred", "split"], peer
        assert df["object_id"].tolist() == sel["object_id"].tolist(), peer
        assert (df["split"].to_numpy() == sel["split"].to_numpy()).all(), peer
        t = read_predictions(toy[0] / f"{peer}.parquet")
        score = sigma_nmad(t["z_pred"], t["z_true"])
        assert np.isfinite(score) and score < 0.7 * constant, (peer, score, constant)


def test_rail_peers_write_normalised_pz_with_their_point_estimate(toy_runs, test_settings):
    import qp

    for peer in RAIL_PEERS:
        df, pdf = toy_runs[peer]
        ens = qp.read(str(pdf))
        assert ens.npdf == len(df), peer
        np.testing.assert_array_equal(np.asarray(ens.ancil["object_id"]).ravel(), df["object_id"])
        zmax, nz = test_settings[peer]["zmax"], test_settings[peer]["nzbins"]
        grid = np.linspace(0.0, zmax, nz)
        pdfs = ens.pdf(grid)
        norm = np.trapezoid(pdfs, grid, axis=1)
        # Each p(z) integrates to 1 on the grid; KNearNeigh's Gaussian mixtures may lose some
        # mass below z = 0 for the lowest-z galaxies, never gain any.
        assert np.all(norm < 1.02) and abs(np.median(norm) - 1) < 0.02, (peer, norm[:5])
        # z_pred is the mode of p(z) on the grid, as RAIL's zmode.
        np.testing.assert_allclose(df["z_pred"][:50], grid[np.argmax(pdfs[:50], axis=1)],
                                   atol=1e-9)


def test_bpz_models_are_the_catalogue_flux_grid(tmp_path, instrument):
    from photoz.sed import build_flux_grid

    spectra, filters = write_bpz_data(tmp_path, instrument.bandpasses, "cww", 1.0,
                                            ebv=[0.0, 0.2])
    names = (tmp_path / "SED" / spectra).read_text().split()
    assert len(names) == 16 and names[1].endswith("_E0.20.sed")
    assert bpz_nt_array("cww", 2) == [2, 4, 10] and sum(bpz_nt_array("cww", 2)) == 16
    grid = build_flux_grid(instrument.bandpasses, "cww", z_max=1.05, dz=0.01, ebv=[0.2])
    ab = np.loadtxt(tmp_path / "AB" / f"{names[1][:-4]}.{filters[4]}.withmadau.AB")
    maggies = grid.to_maggies(grid.flux)[0, 0, :, BANDS.index("i")]
    np.testing.assert_allclose(ab[:, 1], maggies, rtol=1e-5)
    # AB maggies are 10^(-0.4 m_AB): their ratio in two bands is the model's colour.
    ab_g = np.loadtxt(tmp_path / "AB" / f"{names[1][:-4]}.{filters[2]}.withmadau.AB")
    colour = -2.5 * np.log10(ab_g[50, 1] / ab[50, 1])
    assert colour == pytest.approx(-2.5 * np.log10(grid.flux[0, 0, 50, 2] / grid.flux[0, 0, 50, 4])
                                   - grid.zeropoint[4] + grid.zeropoint[2], abs=1e-4)


def test_peers_are_scored_beside_the_networks(toy, toy_runs, tmp_path):
    directory, _ = toy
    sel = tmp_path / "selection.json"
    sel.write_text(json.dumps({"n_selected": 123}))
    preds = {"mlp": directory / "random_forest.parquet", "bpz": directory / "bpz.parquet"}

    def run(p, name):
        return write_summary(p, sel, tmp_path / f"{name}.json", tmp_path / f"{name}.md",
                             tmp_path / f"{name}.csv", "3:1", n_bootstrap=20, seed=9)

    both, alone = run(preds, "both"), run({"mlp": preds["mlp"]}, "alone")
    assert both["bpz"]["n_test"] == both["mlp"]["n_test"] > 0
    # Adding a peer leaves a network's numbers and bootstrap errors exactly as they were.
    assert both["mlp"] == alone["mlp"]
    assert "BPZ templates (RAIL)" in (tmp_path / "both.md").read_text()
    binned = pd.read_csv(tmp_path / "both.csv")
    assert set(binned["network"]) == {"mlp", "bpz"}

    from photoz.plots.registry import plot_figure

    plot_figure("peers_comparison", tmp_path / "f.png", tmp_path / "f.pdf",
                summary=tmp_path / "both.json", binned=tmp_path / "both.csv")
    assert (tmp_path / "f.png").stat().st_size > 5000 and (tmp_path / "f.pdf").stat().st_size > 5000


def _matched_table(src, dst, instrument):
    """The toy table with matched-filter fluxes unlike its Kron ones (0.7 x Kron + extra noise)
    and ``photometry.flux_type: matched`` in its metadata, as the photometry stage writes it."""
    from photoz.products.photometry import MATCHED_TEMPLATES, write_photometry

    df = pd.read_parquet(src)
    rng = np.random.default_rng(0)
    flux = 0.7 * df[[f"flux_{b}" for b in BANDS]].to_numpy()
    err = 0.8 * df[[f"flux_err_{b}" for b in BANDS]].to_numpy()
    flux = flux + rng.normal(0, 1.0, flux.shape) * err
    mag = instrument.electrons_to_mag(flux)
    with np.errstate(divide="ignore", invalid="ignore"):
        mag_err = np.where(flux > 0, 2.5 / np.log(10.0) * err / flux, np.nan)
    for j, b in enumerate(BANDS):
        for key, arr in (("flux", flux), ("flux_err", err), ("mag", mag), ("mag_err", mag_err),
                         ("snr", flux / err)):
            df[MATCHED_TEMPLATES[key].format(band=b)] = arr[:, j]
    write_photometry(df, dst, {"source": "toy", "photometry_config": {"flux_type": "matched"}})
    return dst


def test_peers_read_the_networks_flux_measurement(toy, tmp_path, instrument, test_settings):
    """Issue 29: with photometry.flux_type matched the peers read the matched-filter fluxes, the
    networks' (as magnitudes of exactly those fluxes); peer_settings.flux_type overrides it; the
    predictions table names the flux it read."""
    from photoz.photometry.matched import network_flux_columns
    from photoz.products.train import prediction_metadata
    from photoz.train.inputs import flux_arrays, load_photometry

    path = _matched_table(toy[1], tmp_path / "matched.parquet", instrument)
    peers_view = load_peer_photometry(path)
    assert peers_view.attrs["flux_type"] == "matched"
    flux, flux_err, _ = flux_arrays(load_photometry(path))  # what the MLP reads
    assert network_flux_columns("matched", BANDS)[0][0] == "flux_matched_NUV_csst"
    mag = peers_view[[f"mag_{b}" for b in BANDS]].to_numpy()
    np.testing.assert_allclose(mag, instrument.electrons_to_mag(flux), rtol=1e-12)
    mag_err = peers_view[[f"mag_err_{b}" for b in BANDS]].to_numpy()
    ok = flux > 0
    np.testing.assert_allclose(mag_err[ok], (2.5 / np.log(10) * flux_err / flux)[ok], rtol=1e-12)
    kron = load_peer_photometry(path, "kron")
    phot = pd.read_parquet(path)
    sel = phot[phot["selected"]]
    np.testing.assert_array_equal(kron["mag_g"], sel["mag_g"])
    assert not np.allclose(kron["mag_g"], peers_view["mag_g"])
    preds = {}
    for flux_type in (None, "kron"):
        out = tmp_path / f"rf_{flux_type}.parquet"
        preds[flux_type] = run_peer("random_forest", path, out, tmp_path / "rf.pkl", {},
                                    test_settings["random_forest"], seed=5,
                                    flux_type=flux_type)["z_pred"]
        assert prediction_metadata(out)["input_flux"] == (flux_type or "matched")
    assert not np.allclose(preds[None], preds["kron"])  # the measurement is really used


def test_every_p_z_method_is_scored_and_drawn_alike(toy, toy_runs, tmp_path):
    """Issue 29: the RAIL peers' p(z) get the networks' scores (crps, pit_ks, coverage) in
    summary.json and a PIT histogram in the p(z) calibration figure; the rows name their flux."""
    from photoz.plots.registry import make_figure

    directory, _ = toy
    sel = tmp_path / "selection.json"
    sel.write_text(json.dumps({"n_selected": 123}))
    preds = {p: directory / f"{p}.parquet" for p in PEERS}
    pdfs = {p: toy_runs[p][1] for p in RAIL_PEERS}
    out = write_summary(preds, sel, tmp_path / "s.json", tmp_path / "s.md", tmp_path / "b.csv",
                        "3:1", n_bootstrap=5, seed=1, pdfs=pdfs)
    for peer in PEERS:
        assert out[peer]["input_flux"] == "kron", peer  # the toy table's photometry.flux_type
        has = {k in out[peer] for k in ("crps", "pit_ks", "coverage_68", "coverage_95")}
        assert has == {peer in RAIL_PEERS}, peer
    for peer in RAIL_PEERS:
        assert 0 < out[peer]["crps"] < 0.5 and 0 <= out[peer]["coverage_68"] <= 1, peer
    fig = make_figure("pdf_calibration", pdfs={}, peer_pdfs=pdfs)
    titles = [ax.get_title() for ax in fig.axes[2:]]
    for title, peer in zip(titles, RAIL_PEERS, strict=True):
        assert title.startswith(LABELS[peer]) and f"CRPS {out[peer]['crps']:.4f}" in title


def test_peers_overlay_is_a_valid_config_with_every_peer(repo_root):
    import yaml

    overlay = yaml.safe_load((repo_root / "config" / "peers.yaml").read_text())
    cfg = load_config(repo_root / "config" / "config.yaml", overrides=overlay)
    assert cfg["peers"] == list(PEERS)
    assert cfg["peer_settings"]["random_forest"]["n_estimators"] == 200  # the 200 trees
    assert cfg["peer_settings"]["flexzboost"]["max_basis"] == 35  # RAIL's default


def test_unknown_peer_is_a_config_error(toy, repo_root):
    with pytest.raises(PhotozConfigError, match="unknown peer"):
        run_peer("lephare", toy[1], "x.parquet", "x.pkl", {}, {}, seed=1)
    with pytest.raises(PhotozConfigError, match="peers"):
        load_config(repo_root / REPO_CONFIG, overrides={"peers": ["lephare"]})
