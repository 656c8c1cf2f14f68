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

from photoz.plots.architecture import fig5_architectures, layer_groups
from photoz.plots.outliers import (
    FIG8_LIMIT_CL,
    FIG8_SMALL_BIN,
    fig8_outlier_fraction,
    zero_outlier_upper_limit,
)
from photoz.plots.peers import plot_peer_comparison, save_peer_comparison
from photoz.plots.registry import (
    FIGURES,
    REGISTRY,
    FigureSpec,
    figure_inputs,
    figure_kwargs,
    figure_params,
    make_figure,
    plot_figure,
    run_figures,
)
from photoz.plots.results import (
    HISTORY_COLUMNS,
    INPUT_TITLES,
    fig6_training_history,
    fig7_zphot_vs_zspec,
    point_density,
    read_history,
    stop_reason,
)
from photoz.plots.sample import fig1_throughputs, fig2_redshift_distribution
from photoz.plots.stamps import (
    electrons_to_ujy,
    fig3_example_stamps,
    fig4_aperture_fluxes,
    sed_to_ujy,
    select_examples,
    ujy_to_ab,
)
from photoz.plots.style import BAND_COLORS, NET_COLORS, NET_LABELS

__all__ = [
    "BAND_COLORS", "FIG8_LIMIT_CL", "FIG8_SMALL_BIN", "FIGURES", "HISTORY_COLUMNS", "INPUT_TITLES",
    "NET_COLORS", "NET_LABELS", "REGISTRY", "FigureSpec", "electrons_to_ujy", "fig1_throughputs",
    "fig2_redshift_distribution", "fig3_example_stamps", "fig4_aperture_fluxes",
    "fig5_architectures", "fig6_training_history", "fig7_zphot_vs_zspec", "fig8_outlier_fraction",
    "figure_inputs", "figure_kwargs", "figure_params", "layer_groups", "make_figure",
    "plot_figure", "plot_peer_comparison", "point_density", "read_history", "run_figures",
    "save_peer_comparison", "sed_to_ujy", "select_examples", "stop_reason", "ujy_to_ab",
    "zero_outlier_upper_limit",
]
