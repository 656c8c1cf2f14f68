"""Rule measure_photometry with simulate.keep_full_stamps false: each shard's measurements (rule measure_shard) -> the photometry table and SNR selection (photoz.photometry)."""

from photoz.logs import log_to_file

log_to_file(snakemake.log[0])  # noqa: F821

from photoz.instrument import load_instrument  # noqa: E402
from photoz.photometry.config import TRAINING_NEEDS  # noqa: E402
from photoz.photometry.stage import measure_photometry  # noqa: E402

measure_photometry(
    truth_path=snakemake.input.truth,  # noqa: F821
    shard_paths=[],
    out_path=snakemake.output.photometry,  # noqa: F821
    selection_path=snakemake.output.selection,  # noqa: F821
    instrument=load_instrument(snakemake.params.instrument),  # noqa: F821
    phot_cfg=snakemake.params.photometry,  # noqa: F821
    min_selected=TRAINING_NEEDS,
    measured_paths=list(snakemake.input.measured),  # noqa: F821
)
