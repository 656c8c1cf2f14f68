"""Rule plot_figure: draw one figure of the registry (photoz.plots.registry.plot_figure)."""

from photoz.logs import log_to_file

log_to_file(snakemake.log[0])  # noqa: F821

from photoz.plots.registry import figure_kwargs, plot_figure  # noqa: E402

name = snakemake.wildcards.figure  # noqa: F821
inputs = {key: snakemake.input[key] for key in snakemake.input.keys()}  # noqa: F821
kwargs = figure_kwargs(name, inputs, snakemake.params.figure)  # noqa: F821
plot_figure(name, snakemake.output.png, snakemake.output.pdf, **kwargs)  # noqa: F821
