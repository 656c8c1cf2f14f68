"""Tests of photoz.sed: dust, IGM, the flux grid against GalSim, and the template fit."""

import galsim
import numpy as np
import pytest

from photoz import sed
from photoz.errors import PhotozConfigError, PhotozDataError


@pytest.fixture(scope="module")
def bands():
    bps = {b: galsim.Bandpass(f"LSST_{b}.dat", "nm").withZeropoint("AB") for b in "ugrizy"}
    bps["F814W"] = galsim.Bandpass("ACS_wfc_F814W.dat", "nm").withZeropoint("AB")
    return bps


@pytest.fixture(scope="module")
def grid(bands):
    return sed.build_flux_grid(bands, z_max=4.0, dz=0.01, ebv=[0.0, 0.2, 0.4])


def test_libraries():
    cosmos = sed.load_templates("cosmos")
    assert len(cosmos) == 31 and "Sc_A_0" in cosmos and "SB11_A_0" in cosmos
    assert len(sed.load_templates("cww")) == 8
    # normalised to mean f_lambda = 1 in 5450-5550 A
    wave, flux = sed._template_arrays("Sc_A_0")
    assert flux[(wave >= 5450) & (wave <= 5550)].mean() == pytest.approx(1.0)
    # GalSim's photon density at 550 nm of f_lambda = 1 erg/s/cm^2/A: 10 lambda / (hc)
    ph = 10.0 * 550e-7 / (6.62607015e-27 * 2.99792458e10)
    assert cosmos["Sc_A_0"](550.0) == pytest.approx(ph, rel=0.05)
    with pytest.raises(PhotozConfigError):
        sed.template_names("bc03")


def test_calzetti_hand_values():
    # Calzetti et al. 2000 eq. 4 by hand: k(0.2 um) = 2.659 (-2.156 + 1.509/0.2 - 0.198/0.04
    # + 0.011/0.008) + 4.05; k(1 um) = 2.659 (-1.857 + 1.040) + 4.05.
    k = sed.calzetti_k(np.array([2000.0, 10000.0, 5500.0]))
    np.testing.assert_allclose(k, [2.659 * 1.814 + 4.05, 2.659 * -0.817 + 4.05, 4.05], atol=0.01)
    # continued below 1200 A and monotonic there; nearly continuous at 0.63 micron
    far = sed.calzetti_k(np.array([600.0, 900.0, 1200.0]))
    assert far[0] > far[1] > far[2] > 0
    edge = sed.calzetti_k(np.array([6299.0, 6301.0]))
    assert edge[0] == pytest.approx(edge[1], abs=0.03)  # the published branches differ by 0.025


def test_madau_igm_hand_values():
    z = 3.0
    assert sed.igm_transmission(np.array([1215.67 * 4 + 10.0]), z)[0] == 1.0  # redward of Lya
    assert np.all(sed.igm_transmission(np.linspace(1000, 9000, 50), 0.0) == 1.0)
    lam = 4500.0  # at z = 3 only Lya absorbs here (Lyb acts below 4 x 1025.7 = 4102.9 A)
    tau = 3.6e-3 * (lam / 1215.67) ** 3.46
    assert sed.igm_transmission(np.array([lam]), z)[0] == pytest.approx(np.exp(-tau))
    lam = 3880.0  # Lya, Lyb and Lyg (4 x 972.5 = 3890 A) absorb, Lyd (4 x 949.7 = 3799 A) not
    tau = (3.6e-3 * (lam / 1215.67) ** 3.46 + 1.7e-3 * (lam / 1025.72) ** 3.46
           + 1.2e-3 * (lam / 972.537) ** 3.46)
    assert sed.igm_transmission(np.array([lam]), z)[0] == pytest.approx(np.exp(-tau))
    # below the Lyman limit (3647 A at z = 3) the transmission falls steeply (Madau 1995 Fig. 3)
    t = sed.igm_transmission(np.array([3600.0, 3400.0, 3000.0]), z)
    assert t[0] > t[1] > t[2] and t[2] < 0.1


@pytest.mark.parametrize("name,z,ebv", [("Sc_A_0", 0.3, 0.0), ("Ell1_A_0", 1.234, 0.2),
                                        ("SB5_A_0", 2.987, 0.4), ("Sd_A_1", 0.007, 0.2)])
def test_grid_matches_galsim(grid, bands, name, z, ebv):
    """The numpy grid (interpolated in z) reproduces galsim.SED.calculateFlux to 1%."""
    obs = sed.observed_sed(name, 2.5e-18, ebv, z)
    ref = np.array([obs.calculateFlux(bands[b]) for b in grid.bands])
    ours = grid.at(np.array([z]))[0, grid.templates.index(name), list(grid.ebv).index(ebv)] * 2.5e-18
    np.testing.assert_allclose(ours, ref, rtol=0.01)


def test_grid_redshift_range(grid):
    with pytest.raises(PhotozDataError):
        grid.at(np.array([4.5]))


def test_fit_recovers_template(grid):
    rng = np.random.default_rng(0)
    n = 200
    z = rng.uniform(0.05, 3.5, n)
    t = rng.integers(0, len(grid.templates), n)
    e = rng.integers(0, len(grid.ebv), n)
    amp = 10 ** rng.uniform(-19, -17, n)
    names = list("ugrizy")
    model = grid.to_maggies(grid.at(z, names), names)[np.arange(n), t, e] * amp[:, None]
    fit = sed.fit_templates(grid, z, model, 0.01 * model, names)
    np.testing.assert_allclose(fit.model_maggies, model, rtol=1e-6)
    assert np.mean(fit.template_index == t) > 0.9  # some templates are degenerate over 6 bands
    exact = (fit.template_index == t) & (fit.ebv_index == e)
    np.testing.assert_allclose(fit.amplitude[exact], amp[exact], rtol=1e-8)
    # missing bands are skipped, not fatal
    holes = model.copy()
    holes[:, 0] = np.nan
    fit2 = sed.fit_templates(grid, z, holes, 0.01 * model, names)
    assert np.all(np.isfinite(fit2.amplitude)) and np.all(fit2.amplitude > 0)
