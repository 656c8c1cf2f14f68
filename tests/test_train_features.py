"""Tests of photoz.train.features: the eq. 7 MLP inputs and the eq. 6 error model, against hand
computations and the paper's noise table."""

from __future__ import annotations

import math

import numpy as np
import pytest

from photoz.instrument import load_instrument
from photoz.photometry.noise import aperture_flux_error, snr
from photoz.train.features import FEATURE_NAMES, N_FEATURES, flux_features, signed_log10

#: Paper eq. 4 / Sect. 2: background noise per pixel, e-, NUV u g r i z y.
PAPER_N_BKG = [10.65, 7.84, 9.93, 10.59, 10.59, 9.56, 11.53]


@pytest.fixture(scope="module")
def instrument():
    return load_instrument({})


def test_signed_log10_is_the_paper_f():
    x = np.array([100.0, 0.01, -100.0, -0.01, 0.0, 1.0, -1.0])
    np.testing.assert_allclose(signed_log10(x), [2.0, -2.0, -2.0, 2.0, 0.0, 0.0, 0.0])


def test_feature_vector_of_one_galaxy_by_hand():
    """One galaxy, computed term by term from eq. 7 with math.log10."""
    flux = np.array([[100.0, -50.0, 1000.0, 2000.0, 4000.0, 3000.0, 1500.0]])
    err = np.array([[30.0, 40.0, 50.0, 60.0, 80.0, 75.0, 90.0]])
    flim = np.array([1000.0, 500.0, 400.0, 800.0, 1000.0, 1500.0, 3000.0])
    lg = math.log10
    expected = [
        # f(F / F_lim)
        lg(100 / 1000), -lg(50 / 500), lg(1000 / 400), lg(2000 / 800), lg(4000 / 1000),
        lg(3000 / 1500), lg(1500 / 3000),
        # f(F_j / F_j+1): 100/-50 = -2 -> -log10(2); -50/1000 = -0.05 -> -log10(0.05)
        -lg(2.0), -lg(0.05), lg(0.5), lg(0.5), lg(4000 / 3000), lg(2.0),
        # f(|sigma / F|)
        lg(0.3), lg(0.8), lg(0.05), lg(0.03), lg(0.02), lg(0.025), lg(0.06),
    ]
    feats = flux_features(flux, err, flim)
    assert feats.shape == (1, N_FEATURES) and feats.dtype == np.float32
    np.testing.assert_allclose(feats[0], expected, rtol=1e-6, atol=1e-6)
    # Spot values written out: log10(2.5) = 0.39794, -log10(0.05) = 1.30103.
    assert feats[0, 2] == pytest.approx(0.39794, abs=1e-5)
    assert feats[0, 8] == pytest.approx(1.30103, abs=1e-5)
    assert len(FEATURE_NAMES) == N_FEATURES
    assert FEATURE_NAMES[7] == "f(flux_NUV/flux_u)" and FEATURE_NAMES[13] == "f(|flux_err_NUV/flux_NUV|)"


def test_zero_flux_gives_finite_clipped_features():
    flux = np.array([[0.0, 10, 10, 10, 10, 10, 10]])
    feats = flux_features(flux, np.ones_like(flux), np.full(7, 10.0))
    assert np.all(np.isfinite(feats))
    assert feats[0, 0] == 0.0  # f(0) = 0
    assert feats[0, 13] == 10.0  # |1 / 0| = inf -> clipped


def test_flux_features_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match="n_gal"):
        flux_features(np.ones((2, 7)), np.ones((2, 6)), np.ones(7))
    with pytest.raises(ValueError, match="n_gal"):
        flux_features(np.ones((2, 7)), np.ones((2, 7)), np.ones(6))


def test_error_model_reproduces_the_paper_background_table(instrument):
    """F = 0 and N_pix = 1 leaves the per-pixel background noise of eq. 4."""
    err = aperture_flux_error(np.zeros((1, 7)), np.ones(1), instrument.background_per_pixel(),
                              instrument.read_noise, np.asarray(instrument.n_exposures))
    np.testing.assert_allclose(err[0], PAPER_N_BKG, atol=0.006)


def test_eq6_snr_by_hand(instrument):
    """g band, F = 1000 e-, N_pix = 50: sky+dark (0.142 + 0.02) x 150 s x 2 = 48.6 e-/px,
    read 5^2 x 2 = 50 e-^2/px, so SNR = 1000 / sqrt(1000 + 50 x 98.6) = 12.98."""
    flux = np.array([[0, 0, 1000.0, -200.0, 0, 0, 0]])
    npix = np.array([50.0])
    err = aperture_flux_error(flux, npix, instrument.background_per_pixel(),
                              instrument.read_noise, np.asarray(instrument.n_exposures))
    assert err[0, 2] == pytest.approx(math.sqrt(1000 + 50 * 98.6), rel=1e-9)
    assert snr(flux, err)[0, 2] == pytest.approx(1000 / math.sqrt(5930.0), rel=1e-9)
    assert snr(flux, err)[0, 2] == pytest.approx(12.986, abs=1e-3)
    # A negative flux adds no shot noise: r band, 50 x ((0.187 + 0.02) x 300 + 50).
    assert err[0, 3] == pytest.approx(math.sqrt(50 * (0.207 * 300 + 50)), rel=1e-9)


def test_error_model_broadcasts_npix_per_galaxy(instrument):
    flux = np.full((3, 7), 400.0)
    npix = np.array([10.0, 40.0, 90.0])
    err = aperture_flux_error(flux, npix, instrument.background_per_pixel(),
                              instrument.read_noise, np.asarray(instrument.n_exposures))
    n_bkg2 = instrument.background_sigma() ** 2
    np.testing.assert_allclose(err, np.sqrt(400.0 + npix[:, None] * n_bkg2[None]))
