"""Rule prepare_catalog: source catalogue -> truth table (photoz.catalog.build_truth_table)."""

from photoz.logs import log_to_file

log_to_file(snakemake.log[0])  # noqa: F821 - snakemake is injected by the script directive

from photoz.catalog.truth import build_truth_table  # noqa: E402
from photoz.instrument import load_instrument  # noqa: E402

p = snakemake.params  # noqa: F821
build_truth_table(
    catalog_cfg=p.catalog,
    instrument=load_instrument(p.instrument),
    out_path=snakemake.output.truth,  # noqa: F821
    seed=p.seed,
    data_dir=p.data_dir,
    report_path=snakemake.output.report,  # noqa: F821
)
