"""Rule plot_pdf_calibration: PIT and example p(z) of the networks (photoz.plots_pdf)."""

from photoz.logs import log_to_file

log_to_file(snakemake.log[0])  # noqa: F821

from photoz.plots_pdf import save_pdf_calibration  # noqa: E402

inp, out, p = snakemake.input, snakemake.output, snakemake.params  # noqa: F821
save_pdf_calibration(dict(zip(p.networks, inp.pdfs, strict=True)), out.png, out.pdf)
