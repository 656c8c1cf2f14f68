"""Rule compute_metrics: photo-z metrics beside the paper's table (photoz.evaluate.summary.write_summary)."""

from photoz.logs import log_to_file

log_to_file(snakemake.log[0])  # noqa: F821

from photoz.evaluate.summary import write_summary  # noqa: E402

p, inp = snakemake.params, snakemake.input  # noqa: F821


def by_ratio(files, ratios, methods):
    """The further ratios' files, ratio by ratio, each in the order of ``methods``."""
    files, n = list(files), len(methods)
    return {r: dict(zip(methods, files[k * n:(k + 1) * n], strict=True))
            for k, r in enumerate(ratios)}


further, nets = getattr(p, "further_ratios", []), getattr(p, "ratio_networks", [])
write_summary(
    predictions=dict(zip(p.methods, inp.predictions, strict=True)),
    pdfs=dict(zip(p.pdf_methods, inp.pdfs, strict=True)),
    selection_path=inp.selection,
    out_json=snakemake.output.summary,  # noqa: F821
    out_md=snakemake.output.table,  # noqa: F821
    out_binned_csv=snakemake.output.binned,  # noqa: F821
    out_html=snakemake.output.html,  # noqa: F821
    train_test_ratio=p.train_test_ratio,
    n_bootstrap=p.n_bootstrap,
    seed=p.seed,
    ratio_predictions=by_ratio(inp.ratio_predictions, further, nets),
    ratio_pdfs=by_ratio(inp.ratio_pdfs, further, nets),
)
