"""Rule download_cosmos: fetch GalSim's COSMOS sample with galsim_download_cosmos (needs network)."""

from photoz.logs import log_to_file

log_to_file(snakemake.log[0])  # noqa: F821

from photoz.catalog.cosmos import download_cosmos  # noqa: E402

download_cosmos(snakemake.params.directory, sample=snakemake.params.sample)  # noqa: F821
