"""Tests of photoz.simulate.psf against analytic encircled energies and the data README's PSF numbers."""

from __future__ import annotations

import math
from pathlib import Path

import galsim
import numpy as np
import pytest

from photoz import BANDS
from photoz.errors import PhotozConfigError, PhotozDataError
from photoz.simulate.psf import (
    PSF_IMAGE_SUBDIR,
    build_psfs,
    encircled_radius,
    gaussian_psf,
    gaussian_sigma_from_r80,
    load_psf_image,
)

DATA_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "data"
PSF_DIR = DATA_DIR / PSF_IMAGE_SUBDIR
needs_psf_images = pytest.mark.skipif(
    not PSF_DIR.is_dir(), reason=f"CSST PSF images not found in {PSF_DIR} (shared data absent)"
)


def test_gaussian_sigma_from_r80_is_the_analytic_inverse():
    # 2-D Gaussian encircled energy 1 - exp(-R^2 / 2 sigma^2) = 0.8 at R80.
    sigma = gaussian_sigma_from_r80(0.15)
    assert 1.0 - math.exp(-(0.15**2) / (2 * sigma**2)) == pytest.approx(0.8, abs=1e-12)
    assert sigma == pytest.approx(0.083606, rel=1e-4)


@pytest.mark.parametrize("r80", [0.10, 0.15])
def test_gaussian_psf_has_the_requested_r80(r80):
    # Measured numerically on a fine grid, independent of the closed form.
    scale = 0.002
    image = gaussian_psf(r80).drawImage(nx=401, ny=401, scale=scale, method="no_pixel").array
    assert image.sum() == pytest.approx(1.0, abs=1e-4)
    assert encircled_radius(image, scale) == pytest.approx(r80, rel=0.01)


@pytest.mark.parametrize("bad", [0.0, -0.1, float("nan")])
def test_gaussian_rejects_bad_r80(bad):
    with pytest.raises(PhotozConfigError, match="psf_r80"):
        gaussian_sigma_from_r80(bad)


def test_build_psfs_gaussian_and_none_share_one_profile():
    psfs, pixelised = build_psfs("gaussian", r80=0.15)
    assert len(psfs) == 7 and all(p is psfs[0] for p in psfs) and not pixelised
    psfs, pixelised = build_psfs("none")
    assert psfs == [None] * 7 and not pixelised


def test_build_psfs_rejects_unknown_kind_and_missing_dir(tmp_path):
    with pytest.raises(PhotozConfigError, match="simulate.psf"):
        build_psfs("moffat")
    with pytest.raises(PhotozConfigError, match="psf_dir"):
        build_psfs("images")
    with pytest.raises(PhotozDataError, match="does not exist"):
        build_psfs("images", psf_dir=tmp_path / "nowhere")


def test_load_psf_image_names_the_file_and_pixel(tmp_path):
    with pytest.raises(PhotozDataError, match="g.npy"):
        load_psf_image(tmp_path / "g.npy")
    arr = np.ones((8, 8))
    arr[2, 5] = np.nan
    np.save(tmp_path / "r.npy", arr)
    with pytest.raises(PhotozDataError, match="row 2, column 5"):
        load_psf_image(tmp_path / "r.npy")
    np.save(tmp_path / "i.npy", np.ones(5))
    with pytest.raises(PhotozDataError, match="2-D"):
        load_psf_image(tmp_path / "i.npy")


def test_load_psf_image_normalises(tmp_path):
    arr = np.zeros((9, 9))
    arr[4, 4] = 0.25
    np.save(tmp_path / "u.npy", arr)
    assert load_psf_image(tmp_path / "u.npy").sum() == pytest.approx(1.0)


@needs_psf_images
def test_csst_psf_images_r80_matches_the_data_readme():
    # shared/data/README.md §1c: R80 ~ 1.45 px (0.108") for NUV-i, ~0.13" for z and y; all
    # within the CSST requirement R80 <= 0.15".
    for band in BANDS:
        arr = load_psf_image(PSF_DIR / f"{band}.npy")
        assert arr.sum() == pytest.approx(1.0)
        r80 = encircled_radius(arr, 0.074)
        assert r80 <= 0.15
        if band in ("z", "y"):
            assert r80 == pytest.approx(0.13, rel=0.05)
        else:
            assert r80 == pytest.approx(0.108, rel=0.07)


@needs_psf_images
def test_image_psfs_are_unit_flux_and_centred():
    psfs, pixelised = build_psfs("images", data_dir=DATA_DIR)
    assert pixelised and len(psfs) == 7
    fine = 0.074 / 4
    for psf in psfs:
        image = psf.drawImage(nx=161, ny=161, scale=fine, method="no_pixel").array
        # The interpolant's wings beyond the drawn 3" box hold ~1%.
        assert image.sum() == pytest.approx(1.0, abs=0.02)
        y, x = np.mgrid[0:161, 0:161]
        assert abs((image * x).sum() / image.sum() - 80) < 0.1  # < 0.1 fine pixel = 0.002"
        assert abs((image * y).sum() / image.sum() - 80) < 0.1
        assert isinstance(psf, galsim.InterpolatedImage)
