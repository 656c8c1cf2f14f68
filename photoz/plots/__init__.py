"""The figures of Zhou et al. 2022 (MNRAS 512, 4593), drawn from this pipeline's files.

``plot_figure(name, out_png, out_pdf, **inputs)`` draws one figure of :data:`REGISTRY` and writes
it atomically as PNG and PDF; ``make_figure(name, **inputs)`` returns the
``matplotlib.figure.Figure`` itself (the tests inspect it). Figures are built with the
object-oriented matplotlib API on the Agg canvas, never through pyplot's global state.

Modules, by figure (PAPER_SPEC §7):

- :mod:`~photoz.plots.registry`: the one table of figures (names, input products, config
  parameters, caption files, drawing functions) that the workflow's rules and script read;
- :mod:`~photoz.plots.style`: colours (one per network, :data:`NET_COLORS`; one per band,
  :data:`BAND_COLORS`), rc settings, atomic saving;
- :mod:`~photoz.plots.sample`: Fig. 1 (throughputs) and Fig. 2 (redshifts of the sample);
- :mod:`~photoz.plots.stamps`: Fig. 3 (example stamps) and Fig. 4 (their aperture fluxes and SEDs);
- :mod:`~photoz.plots.architecture`: Fig. 5, the networks drawn from the models, and its engine;
- :mod:`~photoz.plots.results`: Fig. 6 (training histories) and Fig. 7 (photo-z vs true z);
- :mod:`~photoz.plots.outliers`: Fig. 8 (outlier fraction per bin), drawn from ``binned.csv``;
- :mod:`~photoz.plots.peers`: the networks beside the classical peers (issue 14).
"""
