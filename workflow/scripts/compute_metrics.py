"""Rule compute_metrics: photo-z metrics beside the paper's table (photoz.summary.write_summary)."""

from photoz.logs import log_to_file

log_to_file(snakemake.log[0])  # noqa: F821

from photoz.summary import write_summary  # noqa: E402

p = snakemake.params  # noqa: F821
# several train:test ratios: the further ones' predictions, ratio by ratio, each in the order of
# ratio_networks (common.smk ratio_predictions); none with one ratio
further, nets = getattr(p, "further_ratios", []), getattr(p, "ratio_networks", [])
files = list(snakemake.input.ratio_predictions)  # noqa: F821
ratio_predictions = {ratio: dict(zip(nets, files[k * len(nets):(k + 1) * len(nets)], strict=True))
                     for k, ratio in enumerate(further)}
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
    ratio_predictions=ratio_predictions,
)
