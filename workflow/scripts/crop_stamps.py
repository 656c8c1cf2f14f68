"""Rule crop_stamps: a full shard -> the selected galaxies' network-sized centres (photoz.products.shards.crop_selected)."""

from photoz.logs import log_to_file

log_to_file(snakemake.log[0])  # noqa: F821

import logging  # noqa: E402

from photoz.products.shards import crop_selected  # noqa: E402

n = crop_selected(
    snakemake.input.shard,  # noqa: F821
    snakemake.output.cropped,  # noqa: F821
    snakemake.input.photometry,  # noqa: F821
    size=snakemake.params.size,  # noqa: F821
    compression=snakemake.params.compression,  # noqa: F821
)
logging.getLogger("photoz.crop_stamps").info(
    "%s: %d selected galaxies' central %d pixels -> %s", snakemake.input.shard, n,  # noqa: F821
    snakemake.params.size, snakemake.output.cropped)  # noqa: F821
