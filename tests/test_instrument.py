"""Tests of photoz.instrument against the paper's noise table and independent zero points."""

import numpy as np
import pytest

from photoz import BANDS
from photoz.errors import PhotozConfigError, PhotozDataError
from photoz.instrument import (
    SILICON_CUTOFF_NM,
    apply_red_cutoff,
    load_bandpasses,
    load_curves,
    load_instrument,
)


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


def _photon_fraction_beyond(wave_nm, thr, cutoff_nm):
    """Share of int T lambda dlambda (photon-weighted throughput) redward of cutoff_nm."""
    weight = thr * wave_nm
    red = wave_nm >= cutoff_nm
    return np.trapezoid(weight * red, wave_nm) / np.trapezoid(weight, wave_nm)


def test_red_cutoff_holds_for_every_band():
    # Issue 18: no band keeps more than 1% of its photon-weighted throughput beyond silicon's
    # cutoff. The curves as shipped fail this (z 7.0%, y 18.4% beyond 1100 nm), so the check bites.
    wave = np.arange(200.0, 1800.0, 0.5)  # nm, beyond the longest tabulated tail (1790 nm)
    bandpasses = load_bandpasses()
    for band, bp in bandpasses.items():
        assert bp.red_limit <= SILICON_CUTOFF_NM + 1.0, band
        inside = (wave >= bp.blue_limit) & (wave <= bp.red_limit)
        thr = np.zeros_like(wave)
        thr[inside] = bp(wave[inside])
        assert _photon_fraction_beyond(wave, thr, SILICON_CUTOFF_NM) < 0.01, band
    raw = {b: _photon_fraction_beyond(w / 10.0, t, SILICON_CUTOFF_NM)
           for b, (w, t) in load_curves().items()}
    assert raw["z"] == pytest.approx(0.070, abs=0.002)
    assert raw["y"] == pytest.approx(0.184, abs=0.002)


def test_apply_red_cutoff_by_hand():
    wave = np.array([10_900.0, 11_000.0, 11_010.0, 12_000.0])  # Angstrom
    np.testing.assert_array_equal(apply_red_cutoff(wave, np.full(4, 0.5), 1100.0),
                                  [0.5, 0.5, 0.0, 0.0])
    with pytest.raises(PhotozConfigError, match="NUV"):
        load_bandpasses(red_cutoff_nm=200.0)


def test_beamingfactor_default_is_close_to_galaxygenius(gg_instrument):
    # README 1b: the two copies agree to 0.03-0.09 in throughput. With the red cutoff, zero points
    # agree within 0.1 mag in all seven bands and pivots within 50 A (README 1a: z 9020, y 9629);
    # without it, beamingfactor's red tail makes y 0.21 mag brighter and its pivot 440 A redder.
    default = load_instrument({})
    diff = default.zero_point() - gg_instrument.zero_point()
    np.testing.assert_allclose(diff, 0.0, atol=0.1)
    np.testing.assert_allclose(default.pivot_wavelength(), gg_instrument.pivot_wavelength(),
                               atol=50)
    raw = load_bandpasses(red_cutoff_nm=None)
    assert 0.1 < raw["y"].zeropoint - default.bandpasses["y"].zeropoint < 0.2


def test_cutoff_leaves_galaxygenius_curves_alone(shared_data):
    # galaxyGenius tabulates z and y only to 1050 nm, short of the cutoff.
    source = str(shared_data / "csst" / "throughput_galaxyGenius")
    cut, raw = load_bandpasses(source), load_bandpasses(source, red_cutoff_nm=None)
    for band in ("z", "y"):
        assert cut[band].zeropoint == pytest.approx(raw[band].zeropoint, abs=1e-9)


def test_bad_throughput_config(tmp_path):
    with pytest.raises(PhotozConfigError):
        load_instrument({"throughput": str(tmp_path / "nowhere")})
    with pytest.raises(PhotozDataError, match="NUV"):
        load_instrument({"throughput": str(tmp_path)})
    with pytest.raises(PhotozConfigError):
        load_instrument({"n_exposures": [1, 2]})
