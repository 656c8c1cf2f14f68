"""Rules fit_peer / fit_rail_peer: one classical peer estimator (photoz.peers.run_peer)."""

from photoz.logs import log_to_file

log_to_file(snakemake.log[0])  # noqa: F821

from photoz.peers.stage import run_peer  # noqa: E402

out, p = snakemake.output, snakemake.params  # noqa: F821
run_peer(
    peer=snakemake.wildcards.peer,  # noqa: F821
    photometry_path=snakemake.input.photometry,  # noqa: F821
    out_predictions=out.predictions,
    out_model=out.model,
    out_pdf=out.pdf if "pdf" in out.keys() else None,
    instrument_cfg=p.instrument,
    settings=p.settings,
    seed=p.seed,
    threads=snakemake.threads,  # noqa: F821
    sed_library=p.sed_library if "sed_library" in p.keys() else "cosmos",
    work_dir=p.work_dir if "work_dir" in p.keys() else None,
    flux_type=p.flux_type,
)
