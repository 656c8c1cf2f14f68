"""Tests of photoz.catalog: the split rule, the DC2 truth table, and bad input."""

import json

import h5py
import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from photoz import BANDS
from photoz.catalog import truth
from photoz.catalog.sedfit import fit_templates
from photoz.catalog.sources import read_dc2
from photoz.catalog.splits import assign_split, parse_ratio, split_sizes
from photoz.catalog.truth import build_truth_table
from photoz.config import default_config, load_config
from photoz.errors import PhotozConfigError, PhotozDataError
from photoz.instrument import load_instrument
from photoz.sed import observed_sed, template_names


def CAT(**over):  # noqa: N802 - the schema-filled catalog section with some keys set
    return default_config({"catalog": over})["catalog"]

CONTRACT = (["object_id", "redshift", "split", "sed_template", "sed_amplitude", "ebv"]
            + [f"mag_{b}" for b in BANDS] + [f"flux_{b}" for b in BANDS]
            + ["sersic_n", "half_light_radius", "axis_ratio", "position_angle", "real_image_index"])


@pytest.mark.parametrize("ratio,test,train", [("3:1", 10000, 30000), ("1:1", 20000, 20000),
                                              ("1:3", 30000, 10000)])
def test_split_sizes_paper(ratio, test, train):
    # PAPER_SPEC §1: 40,000 galaxies; 30k/20k/10k train; 10% of train validates.
    s = split_sizes(40000, 0, ratio, 0.1)
    assert s["test"] == test
    assert s["train"] + s["validation"] == train and s["validation"] == train // 10
    assert s["unused"] == 0


def test_split_fixed_test_size_and_seed():
    s = split_sizes(50000, 10000, "1:1", 0.1)
    assert s == {"train": 9000, "validation": 1000, "test": 10000, "unused": 30000}
    a = assign_split(1000, 0, "3:1", 0.1, np.random.default_rng(1))
    b = assign_split(1000, 0, "3:1", 0.1, np.random.default_rng(1))
    c = assign_split(1000, 0, "3:1", 0.1, np.random.default_rng(2))
    np.testing.assert_array_equal(a, b)
    assert (a != c).any()
    assert dict(zip(*np.unique(a, return_counts=True), strict=True)) == {
        "test": 250, "train": 675, "validation": 75}
    with pytest.raises(PhotozConfigError, match="train_test_ratio"):
        parse_ratio("3-1")
    with pytest.raises(PhotozConfigError, match="test_size"):
        split_sizes(10, 20, "1:1", 0.1)


@pytest.fixture(scope="module")
def dc2_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("dc2")
    ins = load_instrument({})
    table = build_truth_table(CAT(n_galaxies=3000), ins,
                                      out / "truth.parquet", seed=7, report_path=out / "fit.json")
    return ins, table, out


def test_dc2_truth_table_contract(dc2_run):
    ins, table, out = dc2_run
    disk = pd.read_parquet(out / "truth.parquet")
    assert list(disk.columns) == CONTRACT
    assert len(disk) == 3000 and disk.object_id.is_unique
    assert disk.object_id.dtype == np.int64 and disk.real_image_index.dtype == np.int64
    assert (disk.real_image_index == -1).all()
    meta = pq.read_schema(out / "truth.parquet").metadata
    assert json.loads(meta[b"source"]) == "dc2" and json.loads(meta[b"seed"]) == 7
    assert json.loads(meta[b"sed_library"]) == "cosmos"
    assert set(disk.split) <= {"train", "validation", "test", "unused"}
    # eqs. 1-2: mag and flux agree through the zero points (mag NaN only for zero flux)
    mag = disk[[f"mag_{b}" for b in BANDS]].to_numpy()
    flux = disk[[f"flux_{b}" for b in BANDS]].to_numpy()
    ok = np.isfinite(mag)
    np.testing.assert_allclose(ins.mag_to_electrons(np.where(ok, mag, 0.0))[ok], flux[ok], rtol=1e-9)
    assert (flux[~ok] == 0).all() and (flux >= 0).all()
    # the same seed gives the same table
    again = build_truth_table(CAT(n_galaxies=3000), ins,
                                      out / "again.parquet", seed=7)
    pd.testing.assert_frame_equal(again, disk)


def test_dc2_fit_quality(dc2_run):
    """The refitted templates reproduce the LSST input: median |dmag| per band (report)."""
    _, _, out = dc2_run
    rep = json.loads((out / "fit.json").read_text())
    q = {b: v["median_abs_dmag"] for b, v in rep["sed_fit"].items()}
    for b in ("lsst_g", "lsst_r", "lsst_i", "lsst_z"):
        assert q[b] < 0.06, (b, q[b])
    assert q["lsst_y"] < 0.1
    assert q["lsst_u"] < 0.3  # u is noisy in DC2 (median error ~0.2 mag)
    assert rep["split"]["test"] == 750 and rep["n_galaxies"] == 3000
    assert rep["n_read"] == 30674


def test_dc2_csst_consistent_with_lsst(dc2_run):
    """CSST r, i vs LSST r, i of the same galaxies: similar bands, so a small median offset."""
    _, table, _ = dc2_run
    dc2 = read_dc2().set_index("object_id").loc[table.object_id]
    for b in ("r", "i"):
        d = table[f"mag_{b}"].to_numpy() - dc2[f"mag_lsst_{b}"].to_numpy()
        assert abs(np.median(d)) < 0.1 and np.median(np.abs(d - np.median(d))) < 0.1


def test_observed_sed_reproduces_fluxes(dc2_run):
    ins, table, _ = dc2_run
    for _, row in table.iloc[:5].iterrows():
        s = observed_sed(row.sed_template, row.sed_amplitude, row.ebv, row.redshift,
                         emission_lines=CAT()["emission_lines"])  # the run's (schema) setting
        for j, b in enumerate(BANDS):
            f = s.calculateFlux(ins.bandpasses[b]) * ins.area * ins.total_exposure_time[j]
            assert f == pytest.approx(row[f"flux_{b}"], rel=0.01, abs=1e-3)


def test_template_mixing_truth_table(dc2_run, tmp_path):
    """catalog.template_mixing: two more columns, fluxes from GalSim's integral of the mixture,
    and a better fit to the LSST input than one template (the point of the option)."""
    ins, single, out = dc2_run
    cat = CAT(n_galaxies=3000, template_mixing=True)
    table = build_truth_table(cat, ins, tmp_path / "truth.parquet", seed=7,
                                      report_path=tmp_path / "fit.json")
    disk = pd.read_parquet(tmp_path / "truth.parquet")
    assert list(disk.columns) == CONTRACT + ["sed_template_2", "sed_amplitude_2"]
    pair = disk.sed_template_2.to_numpy() != ""
    rep = json.loads((tmp_path / "fit.json").read_text())
    assert rep["n_sed_pairs"] == pair.sum() and 0.5 < pair.mean() < 0.99
    assert (disk.sed_amplitude_2[~pair] == 0).all() and (disk.sed_amplitude_2[pair] > 0).all()
    # the two templates are neighbours in the library's order
    names = template_names("cosmos")
    k1 = np.array([names.index(t) for t in disk.sed_template[pair]])
    k2 = np.array([names.index(t) for t in disk.sed_template_2[pair]])
    assert (np.abs(k1 - k2) == 1).all()
    # same galaxies, split and redshifts as without mixing
    pd.testing.assert_series_equal(disk.object_id, single.object_id)
    pd.testing.assert_series_equal(disk.split, single.split)
    # flux_<b> is GalSim's integral of the mixture's SED (independent of the flux grid)
    for _, row in disk[pair].iloc[:4].iterrows():
        s = observed_sed(row.sed_template, row.sed_amplitude, row.ebv, row.redshift,
                         emission_lines=cat["emission_lines"], template_2=row.sed_template_2,
                         amplitude_2=row.sed_amplitude_2)
        for j, b in enumerate(BANDS):
            f = s.calculateFlux(ins.bandpasses[b]) * ins.area * ins.total_exposure_time[j]
            assert f == pytest.approx(row[f"flux_{b}"], rel=0.01, abs=1e-3)
    # sed_template is the member giving more of the CSST i flux
    row = disk[pair].iloc[0]
    parts = [observed_sed(t, a, row.ebv, row.redshift, emission_lines=cat["emission_lines"])
             .calculateFlux(ins.bandpasses["i"]) for t, a in
             ((row.sed_template, row.sed_amplitude), (row.sed_template_2, row.sed_amplitude_2))]
    assert parts[0] >= parts[1]
    # a better fit to the LSST photometry in every band than one template
    q1 = json.loads((out / "fit.json").read_text())["sed_fit"]
    for b, v in rep["sed_fit"].items():
        assert v["median_abs_dmag"] <= q1[b]["median_abs_dmag"] + 1e-9, b
    assert len(table) == 3000


def _fake_dc2(path, n=50, nan_row=None, drop_col=None, bad_rows=()):
    rng = np.random.default_rng(0)
    with h5py.File(path, "w") as f:
        g = f.create_group("photometry")
        g["id"] = np.arange(n, dtype=np.int64)
        z = rng.uniform(0.1, 1.5, n)
        if nan_row is not None:
            z[nan_row] = np.nan
        g["redshift"] = z
        for b in "ugrizy":
            if b == drop_col:
                continue
            m = rng.uniform(21, 24, n).astype(np.float32)
            if b in "ugriz":
                m[list(bad_rows)] = 99.0
            g[f"mag_{b}_lsst"] = m
            g[f"mag_err_{b}_lsst"] = np.full(n, 0.05, dtype=np.float32)


def test_bad_dc2_input(tmp_path):
    _fake_dc2(tmp_path / "nan.h5", nan_row=17)
    with pytest.raises(PhotozDataError, match=r"nan\.h5.*redshift.*row 17"):
        read_dc2([tmp_path / "nan.h5"])
    _fake_dc2(tmp_path / "col.h5", drop_col="g")
    with pytest.raises(PhotozDataError, match=r"col\.h5.*mag_g_lsst"):
        read_dc2([tmp_path / "col.h5"])
    (tmp_path / "junk.h5").write_text("not hdf5")
    with pytest.raises(PhotozDataError, match=r"junk\.h5"):
        read_dc2([tmp_path / "junk.h5"])


def test_dropped_rows_are_counted(tmp_path, monkeypatch, caplog):
    _fake_dc2(tmp_path / "cat.h5", n=60, bad_rows=(3, 9, 40))
    monkeypatch.setattr(truth, "dc2_files", lambda: [tmp_path / "cat.h5"])
    with caplog.at_level("WARNING", logger="photoz.catalog"):
        table = build_truth_table(CAT(fit_ebv=False), load_instrument({}),
                                          tmp_path / "t.parquet", seed=1,
                                          report_path=tmp_path / "r.json")
    rep = json.loads((tmp_path / "r.json").read_text())
    assert rep["n_dropped"] == {"fewer than 3 usable LSST bands": 3}
    assert len(table) == 57 and not {3, 9, 40} & set(table.object_id)
    assert "dropping 3 galaxies" in caplog.text and "row 3" in caplog.text
    assert (table.ebv == 0).all()


def test_bad_config():
    """The schema checks the section (photoz.config); these are the catalogue's own checks."""
    with pytest.raises(PhotozConfigError, match="catalog.sed_library"):
        load_config(overrides={"catalog": {"sed_library": "bc03"}})
    with pytest.raises(PhotozConfigError, match=r"catalog\.validation_fraction: 0 is not in \(0, 1\)"):
        split_sizes(100, 0, "3:1", 0)


def test_a_galaxy_without_a_positive_amplitude_is_dropped_everywhere(tmp_path, monkeypatch):
    """Issue 16: the "no template with a positive amplitude" drop must filter every per-galaxy
    array; before, the magnitude errors kept the dropped row and the fit-quality block failed
    (operands could not be broadcast together with shapes (40,) (39,))."""
    _fake_dc2(tmp_path / "cat.h5", n=40)
    monkeypatch.setattr(truth, "dc2_files", lambda: [tmp_path / "cat.h5"])
    real_fit = fit_templates

    def fit_with_one_failure(grid, z, maggies, sig, names, **kw):
        fit = real_fit(grid, z, maggies, sig, names, **kw)
        fit.amplitude[7] = -1.0  # the 8th galaxy fits no template with a positive amplitude
        return fit

    monkeypatch.setattr(truth, "fit_templates", fit_with_one_failure)
    table = build_truth_table(CAT(source="dc2", fit_ebv=False), load_instrument({}),
                                      tmp_path / "t.parquet", seed=1,
                                      report_path=tmp_path / "r.json")
    rep = json.loads((tmp_path / "r.json").read_text())
    assert rep["n_dropped"] == {"no template with a positive amplitude": 1}
    assert len(table) == 39 and 7 not in set(table.object_id)  # ids are the rows 0..39
    assert rep["n_galaxies"] == 39 and rep["n_sed_fitted"] == 39
    # the fit quality counts the 39 kept galaxies in every band (all 6 bands detected)
    assert {b: v["n"] for b, v in rep["sed_fit"].items()} == {f"lsst_{b}": 39 for b in "ugrizy"}
    assert (table.sed_amplitude > 0).all()
