"""The catalogue stage's SED fit: the best template (or pair of templates) at the true redshift.

Zhou et al. 2022 (MNRAS 512, 4593, Sect. 2; PAPER_SPEC §2) took each galaxy's CSST fluxes from a
LePhare fit of the 31 COSMOS templates (Ilbert et al. 2009) at the catalogue redshift. This module
does that fit with numpy, on a :class:`photoz.sed.FluxGrid` of every template x E(B-V) on a
redshift grid, so that fitting tens of thousands of galaxies is a few array operations instead
of one GalSim integral per galaxy and template. Our own code: LePhare is a C++ program with its
own file formats, and the fit at a known redshift is a weighted linear least-squares problem.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from photoz.sed import FluxGrid


@dataclass
class TemplateFit:
    """Best-fit template per galaxy (:func:`fit_templates`).

    Attributes
    ----------
    template_index : ndarray, shape (N,), int (into ``FluxGrid.templates``)
    ebv_index : ndarray, shape (N,), int (into ``FluxGrid.ebv``)
    amplitude : ndarray, shape (N,)
        Template amplitude (see :func:`observed_sed`).
    chi2 : ndarray, shape (N,)
    model_maggies : ndarray, shape (N, B_in)
        The best-fit model in the fitted bands, AB maggies.
    template_index_2 : ndarray, shape (N,), int
        Second template of a mixture (``fit_templates(..., pairs=True)``):
        ``template_index + 1``, or -1 where one template fits best (always -1 without pairs).
    amplitude_2 : ndarray, shape (N,)
        Its amplitude (0 where ``template_index_2`` is -1).
    """

    template_index: np.ndarray
    ebv_index: np.ndarray
    amplitude: np.ndarray
    chi2: np.ndarray
    model_maggies: np.ndarray
    template_index_2: np.ndarray | None = None
    amplitude_2: np.ndarray | None = None

    def __post_init__(self):
        if self.template_index_2 is None:
            self.template_index_2 = np.full(len(self.template_index), -1, dtype=int)
        if self.amplitude_2 is None:
            self.amplitude_2 = np.zeros(len(self.template_index))


def _fit_single_chunk(g: np.ndarray, ww: np.ndarray, ff: np.ndarray, n_e: int
                      ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The best single template of one chunk of galaxies (:func:`fit_templates`).

    Parameters
    ----------
    g : ndarray, shape (n, T x E, B)
        Grid models at the galaxies' redshifts, template-major.
    ww, ff : ndarray, shape (n, 1, B)
        Weights 1/sigma^2 and fluxes (0 in the bands left out).
    n_e : int
        Number of E(B-V) values of the grid.

    Returns
    -------
    tuple of ndarray
        Template index, E(B-V) index, amplitude, chi^2 (each (n,)) and model (n, B).
    """
    den = np.sum(ww * g * g, axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        a = np.where(den > 0, np.sum(ww * ff * g, axis=-1) / den, 0.0)
    a = np.clip(a, 0.0, None)
    c2 = np.sum(ww * (ff - a[..., None] * g) ** 2, axis=-1)
    c2 = np.where(a > 0, c2, np.inf)
    best = np.argmin(c2, axis=1)
    rows = np.arange(len(best))
    t_idx, e_idx = np.divmod(best, n_e)
    amp = a[rows, best]
    return t_idx, e_idx, amp, c2[rows, best], amp[:, None] * g[rows, best]


def _fit_pair_chunk(g: np.ndarray, ww: np.ndarray, ff: np.ndarray, n_t: int, n_e: int,
                    chi2: np.ndarray) -> tuple[np.ndarray, ...]:
    """The best non-negative pair of neighbouring templates of one chunk, where it beats ``chi2``.

    Parameters
    ----------
    g, ww, ff, n_e
        As in :func:`_fit_single_chunk`.
    n_t : int
        Number of templates of the grid (> 1).
    chi2 : ndarray, shape (n,)
        The single-template chi^2 of the chunk.

    Returns
    -------
    tuple of ndarray
        Rows of the chunk where a pair wins (k,), and for them the first template's index, the
        E(B-V) index, the two amplitudes, chi^2 (each (k,)) and the model (k, B).
    """
    rows = np.arange(g.shape[0])
    g4 = g.reshape(g.shape[0], n_t, n_e, -1)
    g1, g2 = g4[:, :-1], g4[:, 1:]  # (n, T-1, E, B): templates t and t+1
    w4, f4 = ww[:, None], ff[:, None]
    a11, a22 = np.sum(w4 * g1 * g1, -1), np.sum(w4 * g2 * g2, -1)
    a12 = np.sum(w4 * g1 * g2, -1)
    b1, b2 = np.sum(w4 * f4 * g1, -1), np.sum(w4 * f4 * g2, -1)
    det = a11 * a22 - a12**2
    with np.errstate(divide="ignore", invalid="ignore"):
        x1 = (a22 * b1 - a12 * b2) / det
        x2 = (a11 * b2 - a12 * b1) / det
    # both > 0, and not two (nearly) proportional models (det ~ 0)
    ok = (x1 > 0) & (x2 > 0) & (det > 1e-12 * a11 * a22)
    resid = f4 - np.where(ok, x1, 0.0)[..., None] * g1 - np.where(ok, x2, 0.0)[..., None] * g2
    c2p = np.where(ok, np.sum(w4 * resid**2, -1), np.inf).reshape(len(rows), -1)
    bp = np.argmin(c2p, axis=1)
    tp, ep = np.divmod(bp, n_e)
    better = c2p[rows, bp] < chi2
    idx = np.flatnonzero(better)
    r, t, e = idx, tp[idx], ep[idx]
    model = x1[r, t, e][:, None] * g1[r, t, e] + x2[r, t, e][:, None] * g2[r, t, e]
    return idx, t, e, x1[r, t, e], x2[r, t, e], c2p[r, bp[idx]], model


def fit_templates(grid: FluxGrid, redshift: np.ndarray, maggies: np.ndarray,
                  maggies_err: np.ndarray, bands: list[str], chunk: int = 2000,
                  pairs: bool = False) -> TemplateFit:
    """Least-squares template fit at fixed redshift (the LePhare fit of paper Sect. 2).

    For each template t and E(B-V) e the amplitude is the analytic chi^2 minimum
    A = sum(w f g) / sum(w g^2), w = 1/sigma^2, g the grid model interpolated at the galaxy's
    redshift; the (t, e) of least chi^2 with A > 0 wins. Bands with a non-finite flux or error
    (or error <= 0) are left out of that galaxy's fit.

    With ``pairs`` (``catalog.template_mixing``) every pair of neighbouring templates (t, t+1 in
    the library's order, which runs ellipticals -> spirals -> starbursts, so neighbours are
    adjacent spectral types) at a common E(B-V) is fitted too, by the 2 x 2 weighted normal
    equations [[sum w g1 g1, sum w g1 g2], [sum w g1 g2, sum w g2 g2]] (A1, A2) =
    (sum w f g1, sum w f g2). A pair counts only when both amplitudes are > 0 (a non-negative
    mixture; a pair whose unconstrained optimum has a negative amplitude has its constrained
    optimum on a single template, which the single fit already covers), and it replaces the
    single template when its chi^2 is lower. This is our own extension for SED diversity
    (issue 12), not the paper's: LePhare's fit of the paper takes one template per galaxy.

    Parameters
    ----------
    grid : FluxGrid
        Must contain ``bands``.
    redshift : ndarray, shape (N,)
    maggies, maggies_err : ndarray, shape (N, B_in), AB maggies (10^(-0.4 m))
    bands : list of str, length B_in
        Names of the fitted bands in ``grid``.
    chunk : int
        Galaxies per vectorised block (memory ~ chunk x T x E x B_in x 8 bytes x 4; x 10 with
        ``pairs``).
    pairs : bool
        Also fit non-negative mixtures of neighbouring templates (above).

    Returns
    -------
    TemplateFit
        ``template_index_2`` / ``amplitude_2`` set where a pair won.
    """
    f = np.asarray(maggies, dtype=float)
    s = np.asarray(maggies_err, dtype=float)
    good = np.isfinite(f) & np.isfinite(s) & (s > 0)
    w = np.where(good, 1.0 / np.where(good, s, 1.0) ** 2, 0.0)
    f = np.where(good, f, 0.0)
    n = len(f)
    n_t, n_e = len(grid.templates), len(grid.ebv)
    t_idx = np.zeros(n, dtype=int)
    e_idx = np.zeros(n, dtype=int)
    amp = np.zeros(n)
    chi2 = np.zeros(n)
    model = np.zeros_like(f)
    t2_idx = np.full(n, -1, dtype=int)
    amp2 = np.zeros(n)
    for start in range(0, n, chunk):
        sl = slice(start, start + chunk)
        g = grid.to_maggies(grid.at(redshift[sl], bands), bands)  # (n, T, E, B)
        g = g.reshape(g.shape[0], n_t * n_e, -1)
        ww, ff = w[sl][:, None, :], f[sl][:, None, :]
        t_idx[sl], e_idx[sl], amp[sl], chi2[sl], model[sl] = _fit_single_chunk(g, ww, ff, n_e)
        if pairs and n_t > 1:
            idx, t, e, a1, a2, c2p, model_p = _fit_pair_chunk(g, ww, ff, n_t, n_e, chi2[sl])
            if idx.size:
                out = start + idx
                t_idx[out], e_idx[out], t2_idx[out] = t, e, t + 1
                amp[out], amp2[out] = a1, a2
                chi2[out] = c2p
                model[out] = model_p
    return TemplateFit(t_idx, e_idx, amp, chi2, model, t2_idx, amp2)


def template_mixture(values: np.ndarray, t_idx: np.ndarray, e_idx: np.ndarray, amp: np.ndarray,
                     t2_idx: np.ndarray, amp2: np.ndarray) -> np.ndarray:
    """Per-galaxy model A1 g[t1, e] + A2 g[t2, e] from grid values g of shape (N, T, E, B).

    ``t2_idx`` -1 (one template) contributes nothing; fluxes are linear in the SED, so the
    mixture's band flux is the sum of its two templates' (:func:`photoz.sed.observed_sed`).

    Parameters
    ----------
    values : ndarray, shape (N, T, E, B)
        Grid values per galaxy (e.g. :meth:`photoz.sed.FluxGrid.at`), at amplitude 1.
    t_idx, e_idx : ndarray of int, shape (N,)
        Template and E(B-V) indices (:class:`TemplateFit`).
    amp : ndarray, shape (N,)
    t2_idx : ndarray of int, shape (N,)
        Second template, -1 for none.
    amp2 : ndarray, shape (N,)

    Returns
    -------
    ndarray, shape (N, B)
    """
    rows = np.arange(len(t_idx))
    out = values[rows, t_idx, e_idx] * amp[:, None]
    pair = t2_idx >= 0
    if pair.any():
        out[pair] += values[rows[pair], t2_idx[pair], e_idx[pair]] * amp2[pair, None]
    return out
