"""Tests of photoz.sed: dust, IGM, the flux grid against GalSim, and the template fit."""

import galsim
import numpy as np
import pytest

from photoz import sed
from photoz.catalog.sedfit import fit_templates
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
    fit = fit_templates(grid, z, model, 0.01 * model, names)
    np.testing.assert_allclose(fit.model_maggies, model, rtol=1e-6)
    assert np.mean(fit.template_index == t) > 0.9  # some templates are degenerate over 6 bands
    exact = (fit.template_index == t) & (fit.ebv_index == e)
    np.testing.assert_allclose(fit.amplitude[exact], amp[exact], rtol=1e-8)
    # missing bands are skipped, not fatal
    holes = model.copy()
    holes[:, 0] = np.nan
    fit2 = fit_templates(grid, z, holes, 0.01 * model, names)
    assert np.all(np.isfinite(fit2.amplitude)) and np.all(fit2.amplitude > 0)


def test_pair_fit_recovers_a_mixture_of_neighbours(grid):
    """A noiseless A1 T_t + A2 T_(t+1) mixture (same E(B-V)) is found again, amplitudes to 1e-6,
    and a galaxy made of one template keeps one (its pair would need a zero amplitude)."""
    rng = np.random.default_rng(1)
    n = 100
    names = list("ugrizy")
    z = rng.uniform(0.1, 3.0, n)
    t = rng.integers(0, len(grid.templates) - 1, n)
    e = rng.integers(0, len(grid.ebv), n)
    a1 = 10 ** rng.uniform(-19, -17, n)
    a2 = a1 * rng.uniform(0.3, 3.0, n)
    g = grid.to_maggies(grid.at(z, names), names)
    rows = np.arange(n)
    mix = g[rows, t, e] * a1[:, None] + g[rows, t + 1, e] * a2[:, None]
    fit = fit_templates(grid, z, mix, 0.01 * mix, names, pairs=True)
    np.testing.assert_allclose(fit.model_maggies, mix, rtol=1e-6)
    exact = (fit.template_index == t) & (fit.ebv_index == e)
    assert exact.mean() > 0.8  # neighbouring models can be near-degenerate over 6 bands
    np.testing.assert_array_equal(fit.template_index_2[exact], t[exact] + 1)
    np.testing.assert_allclose(fit.amplitude[exact], a1[exact], rtol=1e-6)
    np.testing.assert_allclose(fit.amplitude_2[exact], a2[exact], rtol=1e-6)
    # one template in, one template out; without pairs the second template is always absent
    single = g[rows, t, e] * a1[:, None]
    fit1 = fit_templates(grid, z, single, 0.01 * single, names, pairs=True)
    assert np.mean(fit1.template_index_2 == -1) > 0.9
    assert np.all(fit1.amplitude_2[fit1.template_index_2 == -1] == 0)
    fit0 = fit_templates(grid, z, mix, 0.01 * mix, names)
    assert np.all(fit0.template_index_2 == -1) and np.all(fit0.amplitude_2 == 0)
    # the pair never fits worse than the single template
    assert np.all(fit.chi2 <= fit0.chi2)


def test_observed_sed_of_a_mixture_is_the_sum(bands):
    """Band fluxes are linear in the SED: the mixture's flux is 2 x one + 0.5 x the other."""
    one = sed.observed_sed("Sb_A_0", 1.0, 0.1, 0.7)
    two = sed.observed_sed("Sc_A_0", 1.0, 0.1, 0.7)
    mix = sed.observed_sed("Sb_A_0", 2.0, 0.1, 0.7, template_2="Sc_A_0", amplitude_2=0.5)
    for b in ("g", "r", "i", "F814W"):
        want = 2.0 * one.calculateFlux(bands[b]) + 0.5 * two.calculateFlux(bands[b])
        assert mix.calculateFlux(bands[b]) == pytest.approx(want, rel=1e-6)
    with pytest.raises(PhotozDataError, match="Sx_A_0"):
        sed.observed_sed("Sb_A_0", 1.0, 0.0, 0.5, template_2="Sx_A_0", amplitude_2=1.0)


# ---------------------------------------------------------------------------------------------
# emission lines (LePhare's UV recipe, photoz.emission_lines)

def _top_hat(lo_a, hi_a):
    """A unit top-hat bandpass between lo_a and hi_a (A), with an AB zero point."""
    wave = np.array([lo_a - 0.1, lo_a, hi_a, hi_a + 0.1]) / 10.0
    return galsim.Bandpass(galsim.LookupTable(wave, [0.0, 1.0, 1.0, 0.0], interpolant="linear"),
                           "nm").withZeropoint("AB")


def test_oii_flux_from_kennicutt_by_hand():
    """A galaxy with L_nu(2100-2500 A) = 1e28 erg/s/Hz at z = 1: by hand, Kennicutt (1998) gives
    SFR = 1.4e-28 x 1e28 = 1.4 Msun/yr and L([OII]) = 1.4 / 1.4e-41 = 1e41 erg/s, so
    F([OII]) = 1e41 / (4 pi D_L^2). Our model (observed f_lambda = A F_t(lambda/(1+z))) must put
    that flux into a top-hat around the redshifted line (7454 A), photons = F lambda / (hc)."""
    from photoz.catalog.morphology import COSMOLOGY

    name, z, l_nu = "SB3_A_0", 1.0, 1e28
    wave, flux = sed._template_arrays(name)  # continuum, normalised
    grid = np.arange(2100.0, 2501.0)
    fnu_t = np.trapezoid(np.interp(grid, wave, flux), grid) / 400.0 * 2300.0**2 / 2.99792458e18
    d_l = COSMOLOGY.luminosity_distance(z).to("cm").value
    # observed f_nu at 2300(1+z) A is (1+z) L_nu / (4 pi D^2) = A (1+z)^2 f_nu,t
    amp = l_nu / (4 * np.pi * d_l**2 * (1 + z) * fnu_t)
    f_oii = (1.4e-28 * l_nu / 1.4e-41) / (4 * np.pi * d_l**2)  # erg/s/cm^2
    assert 1e-17 < f_oii < 3e-17  # a typical star-forming galaxy at z = 1
    lam = (1 + z) * 0.5 * (3726.04 + 3728.80)  # flux-weighted mean of the doublet
    bp = _top_hat(7300.0, 7600.0)
    for ebv in (0.0, 0.3):
        on = sed.observed_sed(name, amp, ebv, z, emission_lines=True).calculateFlux(bp)
        off = sed.observed_sed(name, amp, ebv, z).calculateFlux(bp)
        expect = f_oii * 10 ** (-0.4 * ebv * sed.calzetti_k(np.array([3727.4]))[0])
        assert on - off == pytest.approx(expect * lam * 1e-8 / sed.HC_ERG_CM, rel=0.005)
        # the numpy grid integrates the same line
        g_on = sed.build_flux_grid({"t": bp}, z_max=1.0, dz=0.5, ebv=[ebv], emission_lines=True)
        g_off = sed.build_flux_grid({"t": bp}, z_max=1.0, dz=0.5, ebv=[ebv])
        i = g_on.templates.index(name)
        delta = (g_on.flux[i, 0, 2, 0] - g_off.flux[i, 0, 2, 0]) * amp
        assert delta == pytest.approx(on - off, rel=0.005)


def test_line_ratios_and_star_forming_rule():
    """Ratios to [OII] of LePhare's addEmission2 (Lya 1, Hb 0.61, [OIII] 0.13 / 0.36, Ha 1.77),
    measured by integrating the model through top-hats around each isolated line; lines only for
    intrinsic NUV - r < 4."""
    from photoz import emission_lines as el

    name, z = "SB8_A_0", 0.5
    wave, flux = sed._template_arrays(name)
    _, lf = el.line_fluxes(wave, flux)
    np.testing.assert_allclose(lf / lf[1:3].sum(), [1.0, 0.5, 0.5, 0.61, 0.13, 0.36, 1.77])
    # [OII] = 1e13 Hz x f_nu(UV): EW([OII]) in A = 1e13 lambda_UV^2/c x f_lambda(UV)/f_lambda(3727)
    uv = np.mean(np.interp(np.arange(2100.0, 2501.0), wave, flux))
    assert lf[1:3].sum() == pytest.approx(1e13 * 2300.0**2 / 2.99792458e18 * uv, rel=1e-3)

    def line(center, half=60.0):
        bp = _top_hat((1 + z) * (center - half), (1 + z) * (center + half))
        on = sed.observed_sed(name, 1.0, 0.0, z, emission_lines=True).calculateFlux(bp)
        off = sed.observed_sed(name, 1.0, 0.0, z).calculateFlux(bp)
        return (on - off) / ((1 + z) * center)  # energy, up to hc

    oii = line(3727.4)
    assert line(4861.35) / oii == pytest.approx(0.61, rel=0.01)
    assert line(6562.79) / oii == pytest.approx(1.77, rel=0.01)
    bp = _top_hat((1 + z) * 4909.0, (1 + z) * 5057.0)  # both [OIII] lines, +-5 sigma
    oiii = (sed.observed_sed(name, 1.0, 0.0, z, emission_lines=True).calculateFlux(bp)
            - sed.observed_sed(name, 1.0, 0.0, z).calculateFlux(bp)) / ((1 + z) * 4995.0)
    assert oiii / oii == pytest.approx(0.13 + 0.36, rel=0.01)
    # which templates are star-forming (intrinsic NUV - r < 4): Sb_A_1 .. SB11_A_0
    names = sed.template_names("cosmos")
    with_lines = [n for n in names if el.line_fluxes(*sed._template_arrays(n))[1].sum() > 0]
    assert with_lines == names[names.index("Sb_A_1"):]
    assert el.nuv_minus_r(*sed._template_arrays("Sb_A_0")) == pytest.approx(4.02, abs=0.01)


def test_lines_off_is_todays_sed(bands, grid):
    """Lines off: the grid and SEDs are today's, bit for bit; lines on leaves the line-free
    (red) templates bit for bit too, and changes the star-forming ones."""
    again = sed.build_flux_grid(bands, z_max=4.0, dz=0.01, ebv=[0.0, 0.2, 0.4],
                                emission_lines=False)
    np.testing.assert_array_equal(again.flux, grid.flux)
    on = sed.build_flux_grid(bands, z_max=1.0, dz=0.05, ebv=[0.2], emission_lines=True)
    off = sed.build_flux_grid(bands, z_max=1.0, dz=0.05, ebv=[0.2])
    red = [grid.templates.index(n) for n in ("Ell1_A_0", "S0_A_0", "Sb_A_0")]
    np.testing.assert_array_equal(on.flux[red], off.flux[red])
    blue = grid.templates.index("SB11_A_0")
    assert np.all(on.flux[blue] >= off.flux[blue]) and np.any(on.flux[blue] > 1.05 * off.flux[blue])
    # CWW + Kinney are observed spectra with their own lines: unchanged
    assert sed._template_arrays("Sc_A_0", True)[0].size > sed._template_arrays("Sc_A_0")[0].size
    w_on = sed.observed_sed("Im_B2004a", 1.0, 0.0, 0.5, "cww", emission_lines=True)
    w_off = sed.observed_sed("Im_B2004a", 1.0, 0.0, 0.5, "cww")
    assert w_on(700.0) == w_off(700.0)


@pytest.fixture(scope="module")
def grid_lines(bands):
    return sed.build_flux_grid(bands, z_max=3.0, dz=0.01, ebv=[0.0, 0.2, 0.4], emission_lines=True)


@pytest.mark.parametrize("name,z,ebv", [("SB5_A_0", 0.3, 0.0), ("Sc_A_1", 1.234, 0.2),
                                        ("SB11_A_0", 2.987, 0.4)])
def test_grid_matches_galsim_with_lines(grid_lines, bands, name, z, ebv):
    """With lines, the numpy grid still reproduces galsim.SED.calculateFlux to 1%."""
    g = grid_lines
    obs = sed.observed_sed(name, 2.5e-18, ebv, z, emission_lines=True)
    ref = np.array([obs.calculateFlux(bands[b]) for b in g.bands])
    ours = g.at(np.array([z]))[0, g.templates.index(name), list(g.ebv).index(ebv)] * 2.5e-18
    np.testing.assert_allclose(ours, ref, rtol=0.01)
