"""Rule download_csst_data: fetch one galaxyGenius CSST file into data_dir (network needed)."""

from photoz.logs import log_to_file

log_to_file(snakemake.log[0])  # noqa: F821

from photoz.catalog.download import fetch_csst_file  # noqa: E402

fetch_csst_file(snakemake.params.relative, snakemake.output[0])  # noqa: F821
