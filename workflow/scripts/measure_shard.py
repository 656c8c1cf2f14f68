"""Rule measure_shard: one full shard -> its photometry measurements and its selected galaxies' crop (photoz.photometry.stage.measure_shard_to_file)."""

from photoz.logs import log_to_file

log_to_file(snakemake.log[0])  # noqa: F821

from photoz.instrument import load_instrument  # noqa: E402
from photoz.photometry.stage import measure_shard_to_file  # noqa: E402

measure_shard_to_file(
    snakemake.input.shard,  # noqa: F821
    snakemake.output.measured,  # noqa: F821
    load_instrument(snakemake.params.instrument),  # noqa: F821
    snakemake.params.photometry,  # noqa: F821
    cropped_path=snakemake.output.cropped,  # noqa: F821
    crop_size=snakemake.params.size,  # noqa: F821
    compression=snakemake.params.compression,  # noqa: F821
)
