"""Tests of photoz.instrument against the paper's noise table and independent zero points."""

import numpy as np
import pytest

from photoz import BANDS
from photoz.errors import PhotozConfigError, PhotozDataError
from photoz.instrument import load_instrument


@pytest.fixture(scope="module")
def gg_instrument(shared_data):
    """The instrument with the galaxyGenius total-throughput curves (2 m, unobscured)."""
    return load_instrument({"throughput": str(shared_data / "csst" / "throughput_galaxyGenius")})


def test_zero_points_galaxygenius(gg_instrument):
    # AB mag giving 1 e-/s, 2 m unobscured: shared/data README 1a (sim_csst_lens gives 26.23,
    # 26.04, 25.85, 25.27 independently).
    zp = dict(zip(BANDS, gg_instrument.zero_point(), strict=True))
    for band, ref in {"g": 26.26, "r": 26.03, "i": 25.86, "z": 25.20}.items():
        assert zp[band] == pytest.approx(ref, abs=0.1), band


def test_pivot_wavelengths_galaxygenius(gg_instrument):
    ref = [2875, 3590, 4783, 6175, 7633, 9020, 9629]  # Angstrom, shared/data README 1a
    np.testing.assert_allclose(gg_instrument.pivot_wavelength(), ref, atol=15)


def test_background_noise_eq4():
    # Paper eq. 4 with the paper's sky, dark and read noise: Zhou et al. 2022, Sect. 2.
    ins = load_instrument({})
    np.testing.assert_allclose(ins.background_sigma(),
                               [10.65, 7.84, 9.93, 10.59, 10.59, 9.56, 11.53], atol=0.01)


def test_zero_point_is_one_electron_per_second():
    ins = load_instrument({})
    flux = ins.mag_to_electrons(ins.zero_point())
    np.testing.assert_allclose(flux, ins.total_exposure_time)
    mags = np.array([[24.0, 25.0, 26.0, 23.0, 22.0, 21.0, 20.0]])
    np.testing.assert_allclose(ins.electrons_to_mag(ins.mag_to_electrons(mags)), mags)
    assert np.isnan(ins.electrons_to_mag(np.zeros(7))).all()
    assert ins.area == pytest.approx(np.pi * 100.0**2)


def test_beamingfactor_default_is_close_to_galaxygenius(gg_instrument):
    # README 1b: the two copies agree to 0.03-0.09 in throughput (zero points within 0.1 mag),
    # except that beamingfactor's z and y keep a red tail to 17,900 A (y is 0.21 mag brighter).
    default = load_instrument({})
    diff = default.zero_point() - gg_instrument.zero_point()
    np.testing.assert_allclose(diff[:6], 0.0, atol=0.1)
    assert 0.1 < diff[6] < 0.3


def test_bad_throughput_config(tmp_path):
    with pytest.raises(PhotozConfigError):
        load_instrument({"throughput": str(tmp_path / "nowhere")})
    with pytest.raises(PhotozDataError, match="NUV"):
        load_instrument({"throughput": str(tmp_path)})
    with pytest.raises(PhotozConfigError):
        load_instrument({"n_exposures": [1, 2]})
