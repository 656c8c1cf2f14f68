"""Rule split_ratio: the photometry table with a further train:test ratio's split (photoz.catalog.splits)."""

from photoz.logs import log_to_file

log_to_file(snakemake.log[0])  # noqa: F821

from photoz.catalog.splits import write_ratio_photometry  # noqa: E402
from photoz.photometry.config import TRAINING_NEEDS  # noqa: E402

p = snakemake.params  # noqa: F821
write_ratio_photometry(
    photometry_path=snakemake.input.photometry,  # noqa: F821
    truth_path=snakemake.input.truth,  # noqa: F821
    out_path=snakemake.output.photometry,  # noqa: F821
    ratio=p.ratio,
    catalog_cfg=p.catalog,
    seed=p.seed,
    min_selected=TRAINING_NEEDS,
)
