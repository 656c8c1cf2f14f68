"""Rule simulate_images: truth table -> one HDF5 shard of seven-band stamps (photoz.simulate)."""

from photoz.logs import log_to_file

log_to_file(snakemake.log[0])  # noqa: F821

from photoz.instrument import load_instrument  # noqa: E402
from photoz.simulate.stage import simulate_shard  # noqa: E402

p = snakemake.params  # noqa: F821
simulate_shard(
    truth_path=snakemake.input.truth,  # noqa: F821
    out_path=snakemake.output.shard,  # noqa: F821
    shard_index=int(snakemake.wildcards.shard),  # noqa: F821
    n_shards=p.n_shards,
    instrument=load_instrument(p.instrument),
    sim_cfg=p.simulate,
    seed=p.seed,
    catalog_cfg=p.catalog,
    data_dir=p.data_dir,
)
