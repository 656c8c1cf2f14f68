"""The Gaussian-mixture maths of photoz.mixture truncated at z = 0 (issue 29), and the networks'
p(z) files that hold it (photoz.products.train.make_ensemble), checked against scipy's truncated
normal and numerical integration."""

import numpy as np
import pytest
import qp
from scipy import stats

from photoz.evaluate.pdfscores import crps_from_cdf, score_pdfs
from photoz.mixture import (
    Z_LOWER,
    fit_width_scale,
    mixture_cdf,
    point_estimates,
    truncated_cdf,
    truncated_pdf,
    truncated_ppf,
)
from photoz.products.train import (
    PDF_GRID,
    ensemble_arrays,
    make_ensemble,
    read_ensemble,
    write_ensemble,
)


def _one(mu, sig):
    return np.ones((len(mu), 1)), np.asarray(mu, float)[:, None], np.asarray(sig, float)[:, None]


def test_one_truncated_gaussian_is_scipys_truncnorm():
    mu, sig = np.array([0.01, -0.05, 0.8]), np.array([0.05, 0.02, 0.1])
    w, m, s = _one(mu, sig)
    tn = stats.truncnorm(-mu / sig, np.inf, loc=mu, scale=sig)
    z = np.array([0.03, 0.004, 0.7])
    np.testing.assert_allclose(truncated_cdf(z, w, m, s), tn.cdf(z), atol=1e-12)
    grid = np.array([-0.01, 0.0, 0.02, 0.5])
    np.testing.assert_allclose(truncated_pdf(grid, w, m, s), tn.pdf(grid[:, None]).T, rtol=1e-10)
    for q in (0.16, 0.5, 0.84):
        np.testing.assert_allclose(truncated_ppf(q, w, m, s), tn.ppf(q), atol=1e-10)
    est = point_estimates(w, m, s, lower=Z_LOWER)
    np.testing.assert_allclose(est["z_mode"], [0.01, 0.0, 0.8])  # max(mu, 0)
    np.testing.assert_allclose(est["z_median"], tn.median(), atol=1e-10)


def test_a_two_component_truncated_mixture_by_numerical_integration():
    w, mu, sig = np.array([[0.4, 0.6]]), np.array([[-0.02, 0.3]]), np.array([[0.05, 0.2]])
    x = np.linspace(0.0, 3.0, 300001)
    dens = truncated_pdf(x, w, mu, sig)[0]
    assert np.trapezoid(dens, x) == pytest.approx(1.0, abs=1e-9)
    cum = np.concatenate([[0.0], np.cumsum(0.5 * (dens[1:] + dens[:-1]) * np.diff(x))])
    for z in (0.01, 0.2, 0.9):
        assert truncated_cdf(np.array([z]), w, mu, sig)[0] == pytest.approx(
            np.interp(z, x, cum), abs=1e-8)
    med = truncated_ppf(0.5, w, mu, sig)[0]
    assert np.interp(med, x, cum) == pytest.approx(0.5, abs=1e-8)
    # The mode of the truncated p(z): the taller of the component at 0 (its mean is below)
    # and the second one's peak, by the densest of a fine grid.
    assert point_estimates(w, mu, sig, lower=0.0)["z_mode"][0] == pytest.approx(
        x[np.argmax(dens)], abs=2e-3)


def test_a_mixture_centred_at_z_0_01_keeps_no_mass_below_zero(tmp_path):
    """Issue 29: a p(z) centred at z = 0.01 holds no more than 0.1% of its mass below z = 0 in
    the p(z) file (qp's own cdf of what qp.read gives), where the untruncated mixture holds 42%."""
    w = np.array([[1.0, 0.0, 0.0], [0.5, 0.3, 0.2], [0.2, 0.3, 0.5]])
    mu = np.array([[0.01, 1.0, 2.0], [0.01, 0.005, 0.3], [0.01, -0.03, 0.02]])
    sig = np.array([[0.05, 0.1, 0.1], [0.05, 0.011, 0.2], [0.011, 0.05, 0.02]])
    untruncated = qp.Ensemble(qp.mixmod, data={"weights": w, "means": mu, "stds": sig})
    assert untruncated.cdf(np.zeros((3, 1))).ravel()[0] == pytest.approx(
        stats.norm.cdf(-0.2), rel=1e-6)  # 42%: the untruncated p(z) fails the bound
    path = tmp_path / "pdfs" / "mlp.hdf5"
    path.parent.mkdir()
    write_ensemble(path, make_ensemble(w, mu, sig, [1, 2, 3], [0.02, 0.01, 0.015], 1.0))
    ens = qp.read(str(path))
    below = ens.cdf(np.zeros((3, 1))).ravel()
    assert np.all(below <= 1e-3) and np.all(below >= 0), below
    # ... and the whole p(z) lies at z >= 0: zero density below, unit mass above.
    assert np.all(ens.pdf(np.full((3, 1), -1e-3)) == 0)
    np.testing.assert_allclose(ens.cdf(np.full((3, 1), PDF_GRID[-1])).ravel(), 1.0, atol=1e-12)
    # The file keeps the mixture it was drawn from: the analytic truncated CDF matches qp's.
    w2, mu2, sig2 = ensemble_arrays(read_ensemble(path))
    z = np.array([0.02, 0.01, 0.015])
    np.testing.assert_allclose(ens.cdf(z[:, None]).ravel(), truncated_cdf(z, w2, mu2, sig2),
                               atol=3e-3)


def test_the_width_scale_fitted_on_the_truncated_likelihood():
    """Redshifts drawn from Gaussians of width 0.05 truncated at 0, near 0: the truncated
    likelihood's scale on predicted widths of 0.1 is 0.5; the untruncated one is biased low."""
    rng = np.random.default_rng(4)
    mu = rng.uniform(0.0, 0.1, 40000)
    z = stats.truncnorm.rvs(-mu / 0.05, np.inf, loc=mu, scale=0.05, random_state=rng)
    w, m, s = _one(mu, np.full(mu.size, 0.1))
    assert fit_width_scale(z, w, m, s, lower=0.0) == pytest.approx(0.5, abs=0.01)
    assert fit_width_scale(z, w, m, s) < 0.45


def test_the_grid_of_the_p_z_files_adds_little_to_crps_and_pit():
    """The networks' p(z) grid (PDF_GRID, dz = 0.003 (1 + z)) against the analytic truncated
    mixtures, for mixtures as narrow as the default run's narrowest (sigma 0.011): CRPS and PIT
    from the file's qp ensemble differ from the exact ones by less than the sampling noise."""
    rng = np.random.default_rng(11)
    n = 600
    w = rng.dirichlet([2.0, 1.0, 0.5], n)
    mu = rng.uniform(0.0, 3.0, (n, 1)) + rng.normal(0, 0.05, (n, 3))
    sig = (0.011 + rng.uniform(0, 0.03, (n, 3))) * (1 + np.abs(mu))
    z = np.clip(mu[:, 0] + rng.normal(0, 1.2 * sig[:, 0]), 0.005, None)
    scores = score_pdfs(make_ensemble(w, mu, sig, np.arange(n), z, 1.0), z)
    pit = truncated_cdf(z, w, mu, sig)
    fine = np.linspace(0.0, 7.0, 70001)
    exact = np.concatenate([crps_from_cdf(truncated_cdf(np.broadcast_to(fine, (100, fine.size)),
                                                        w[k:k + 100], mu[k:k + 100],
                                                        sig[k:k + 100]),
                                          fine, z[k:k + 100], pit[k:k + 100])
                            for k in range(0, n, 100)])
    assert scores["crps"] == pytest.approx(exact.mean(), abs=2e-5)
    assert scores["coverage_68"] == pytest.approx(np.mean(np.abs(pit - 0.5) <= 0.34), abs=4e-3)
    assert scores["pit_ks"] == pytest.approx(stats.kstest(pit, "uniform").statistic, abs=4e-3)
    # a coarse grid would not pass: the same scores with every tenth point
    coarse = qp.Ensemble(qp.interp, data={"xvals": PDF_GRID[::10],
                                          "yvals": truncated_pdf(PDF_GRID[::10], w, mu, sig)})
    ks_coarse = score_pdfs(coarse, z)["pit_ks"]
    assert abs(ks_coarse - stats.kstest(pit, "uniform").statistic) > 4e-3


def test_the_untruncated_cdf_is_unchanged_above_a_negligible_tail():
    w, mu, sig = _one([1.0, 2.0], [0.1, 0.2])
    z = np.array([1.05, 2.3])
    np.testing.assert_allclose(truncated_cdf(z, w, mu, sig), mixture_cdf(z, w, mu, sig),
                               atol=1e-15)
