"""Rule train_member: train one deep-ensemble member of a network (photoz.train.ensemble)."""

from photoz.logs import log_to_file

log_to_file(snakemake.log[0])  # noqa: F821

from photoz.instrument import load_instrument  # noqa: E402
from photoz.train.ensemble import train_member  # noqa: E402

inp, out, p = snakemake.input, snakemake.output, snakemake.params  # noqa: F821
net = snakemake.wildcards.net  # noqa: F821
pretrained = {"mlp": inp.mlp, "cnn": inp.cnn} if net == "hybrid_transfer" else None
train_member(
    net=net,
    member=int(snakemake.wildcards.member),  # noqa: F821
    photometry_path=inp.photometry,
    shard_paths=list(inp.get("shards", [])),
    out_model=out.model,
    out_history=out.history,
    out_predictions=out.predictions,
    out_mixtures=out.mixtures,
    # as train_network.py: the device is a machine setting, read from the config
    train_cfg={**p.settings, "device": snakemake.config["train"]["device"]},  # noqa: F821
    instrument=load_instrument(p.instrument),
    seed=p.seed,
    threads=snakemake.threads,  # noqa: F821
    pretrained=pretrained,
)
