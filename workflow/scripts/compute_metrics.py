"""Rule compute_metrics: photo-z metrics beside the paper's table (photoz.summary.write_summary)."""

from photoz.logs import log_to_file

log_to_file(snakemake.log[0])  # noqa: F821

from photoz.summary import write_summary  # noqa: E402

p = snakemake.params  # noqa: F821
write_summary(
    predictions=dict(zip(p.networks, snakemake.input.predictions, strict=True)),  # noqa: F821
    selection_path=snakemake.input.selection,  # noqa: F821
    out_json=snakemake.output.summary,  # noqa: F821
    out_md=snakemake.output.table,  # noqa: F821
    out_binned_csv=snakemake.output.binned,  # noqa: F821
    out_html=snakemake.output.html,  # noqa: F821
    train_test_ratio=p.train_test_ratio,
    n_bootstrap=p.n_bootstrap,
    seed=p.seed,
)
