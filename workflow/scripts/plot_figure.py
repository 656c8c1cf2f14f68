"""Rule plot_figure: draw one of the paper's figures (photoz.plots.plot_figure)."""

from photoz.logs import log_to_file

log_to_file(snakemake.log[0])  # noqa: F821

from photoz.plots import plot_figure  # noqa: E402

inp, p = snakemake.input, snakemake.params  # noqa: F821
name = snakemake.wildcards.figure  # noqa: F821
inputs = {}
if name in ("fig1_throughputs", "fig4_aperture_fluxes"):
    inputs["instrument_cfg"] = p.instrument
if name == "fig4_aperture_fluxes":
    inputs["sed_library"] = p.sed_library
for key in ("photometry", "truth"):
    if key in inp.keys():
        inputs[key] = inp[key]
if "shards" in inp.keys():
    inputs["shards"] = list(inp.shards)
if "histories" in inp.keys():
    inputs["histories"] = dict(zip(p.networks, inp.histories, strict=True))
    inputs["max_epochs"] = dict(p.max_epochs)
if "predictions" in inp.keys():
    inputs["predictions"] = dict(zip(p.networks, inp.predictions, strict=True))
if name == "fig8_outlier_fraction":
    inputs.update(n_bootstrap=p.n_bootstrap, seed=p.seed)
plot_figure(name, snakemake.output.png, snakemake.output.pdf, **inputs)  # noqa: F821
