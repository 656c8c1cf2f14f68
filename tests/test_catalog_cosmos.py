"""Tests of photoz.catalog.cosmos and the cosmos source of the truth table, on the real COSMOS samples."""

import json

import galsim
import numpy as np
import pandas as pd
import pytest
from astropy.io import fits

from photoz.catalog.cosmos import download_cosmos, read_cosmos_catalog
from photoz.catalog.truth import build_truth_table, prepare_truth
from photoz.config import default_config
from photoz.errors import PhotozConfigError, PhotozDataError
from photoz.instrument import load_instrument

EX = ("galsim_cosmos_example", "real_galaxy_catalog_23.5_example.fits")
BTK = ("btk_cosmos_real_images_100", "real_galaxy_catalog_26_extension_example.fits")
FITS500 = ("galsim_cosmos_500fits", "real_galaxy_23.5_500_fits.fits")


def test_example_parametric(shared_data):
    d = shared_data / "catalogs" / EX[0]
    table, info = read_cosmos_catalog(d, EX[1])
    assert len(table) == 100 and info["morphology"] == "sersicfit"
    raw = fits.getdata(d / "real_galaxy_catalog_23.5_example_fits.fits")
    np.testing.assert_allclose(table.redshift, raw["zphot"])
    # README: zphot 0.05-1.26, median 0.51; F814W mag_auto 16.9-22.5
    assert table.redshift.min() == pytest.approx(0.05, abs=0.01)
    assert table.redshift.max() == pytest.approx(1.26, abs=0.01)
    assert table.mag_F814W.between(16.9, 22.5).all()
    # GalSim's COSMOSCatalog reads the same file and builds its parametric model from it
    cc = galsim.COSMOSCatalog(file_name=EX[1], dir=str(d), use_real=False, exclusion_level="none")
    assert cc.nobjects == len(table)
    assert cc.makeGalaxy(0, gal_type="parametric").flux == pytest.approx(raw["flux"][0, 0])
    assert table.half_light_radius[0] == pytest.approx(raw["hlr"][0, 0])
    assert (table.real_image_index == -1).all()


def test_500fits_circularised_radius(shared_data):
    table, _ = read_cosmos_catalog(shared_data / "catalogs" / FITS500[0], FITS500[1])
    raw = fits.getdata(shared_data / "catalogs" / FITS500[0] / FITS500[1])
    sp = raw["sersicfit"]
    np.testing.assert_allclose(table.half_light_radius, 0.03 * np.sqrt(sp[:, 3]) * sp[:, 1])
    assert len(table) == 500 and table.redshift.max() == pytest.approx(3.09, abs=0.01)
    with pytest.raises(PhotozConfigError, match="without images"):
        read_cosmos_catalog(shared_data / "catalogs" / FITS500[0], FITS500[1], use_real_images=True)


def test_btk_real_images(shared_data):
    d = shared_data / "catalogs" / BTK[0]
    table, info = read_cosmos_catalog(d, BTK[1], use_real_images=True)
    assert info["morphology"] == "flux_radius+hsm"
    np.testing.assert_array_equal(table.real_image_index, np.arange(100))
    assert {f"mag_hsc_{b}" for b in "grizy"} <= set(table.columns)
    rgc = galsim.RealGalaxyCatalog(BTK[1], dir=str(d))
    gal = galsim.RealGalaxy(rgc, index=int(table.real_image_index[5]))
    assert gal.flux > 0
    assert ((table.axis_ratio > 0) & (table.axis_ratio <= 1)).all()


def test_missing_images_and_files(shared_data, tmp_path):
    d = shared_data / "catalogs" / EX[0]
    with pytest.raises(PhotozDataError, match="real_galaxy_images.fits"):
        read_cosmos_catalog(d, EX[1], use_real_images=True)
    with pytest.raises(PhotozDataError, match="not found"):
        read_cosmos_catalog(tmp_path, "real_galaxy_catalog_25.2.fits")


def test_nan_zphot_named(shared_data, tmp_path):
    raw = fits.getdata(shared_data / "catalogs" / FITS500[0] / FITS500[1])
    raw = raw.copy()
    raw["zphot"][12] = np.nan
    fits.BinTableHDU(raw).writeto(tmp_path / "bad_fits.fits")
    with pytest.raises(PhotozDataError, match=r"bad_fits\.fits.*zphot.*row 12"):
        read_cosmos_catalog(tmp_path, "bad_fits.fits")


def test_download_rejects_unknown_sample(tmp_path):
    with pytest.raises(PhotozConfigError):
        download_cosmos(tmp_path, sample="24")


def test_truth_table_cosmos_hsc_fit(shared_data, tmp_path):
    """Source cosmos on the BTK sample: SED fitted to its HSC grizy, real images referenced."""
    cfg = default_config({"catalog": {
        "source": "cosmos", "train_test_ratio": "1:1",
        "cosmos": {"dir": f"catalogs/{BTK[0]}", "file_name": BTK[1], "use_real_images": True}}})["catalog"]
    table = build_truth_table(cfg, load_instrument({}), tmp_path / "t.parquet", seed=3,
                                      data_dir=shared_data, report_path=tmp_path / "r.json")
    rep = json.loads((tmp_path / "r.json").read_text())
    assert len(table) == 100 and rep["n_sed_fitted"] == 100
    np.testing.assert_array_equal(table.real_image_index, np.arange(100))
    q = {b: v["median_abs_dmag"] for b, v in rep["sed_fit"].items()}
    assert set(q) == {f"hsc_{b}" for b in "grizy"}
    for b in ("hsc_r", "hsc_i", "hsc_z"):
        assert q[b] < 0.15, (b, q[b])
    # CSST i vs HSC i: neighbouring bands of the same galaxy
    raw = fits.getdata(shared_data / "catalogs" / BTK[0] / BTK[1].replace(".fits", "_fits.fits"))
    d = table.mag_i.to_numpy() - raw["HSC_i"]
    assert abs(np.median(d)) < 0.2
    assert rep["split"]["test"] == 50


def test_truth_table_cosmos_galsim_rule(shared_data, tmp_path):
    """No colours in the 23.5 example: GalSim's n-based template, scaled to F814W exactly."""
    cfg = default_config({"catalog": {
        "source": "cosmos", "sed_library": "cww",
        "cosmos": {"dir": str(shared_data / "catalogs" / EX[0]), "file_name": EX[1],
                   "use_real_images": False}}})["catalog"]
    table, extra, rep = prepare_truth(cfg, load_instrument({}), seed=1)
    raw, _ = read_cosmos_catalog(shared_data / "catalogs" / EX[0], EX[1])
    assert rep["n_sed_rule"] == len(table) == 100
    np.testing.assert_allclose(extra["mag_F814W"], raw.mag_F814W, atol=1e-6)
    n = raw.sersic_n.to_numpy()
    expect = np.where(n >= 3, "El_B2004a", np.where(n >= 1.5, "Sbc_B2004a", "Scd_B2004a"))
    np.testing.assert_array_equal(table.sed_template, expect)
    pd.testing.assert_series_equal(table.half_light_radius, raw.half_light_radius,
                                   check_names=False)
