"""Rule train_network: train one of the four networks and predict photo-z (photoz.train.network)."""

from photoz.logs import log_to_file

log_to_file(snakemake.log[0])  # noqa: F821

from photoz.instrument import load_instrument  # noqa: E402
from photoz.train.network import train_network  # noqa: E402

inp, p = snakemake.input, snakemake.params  # noqa: F821
net = snakemake.wildcards.net  # noqa: F821
pretrained = {"mlp": inp.mlp, "cnn": inp.cnn} if net == "hybrid_transfer" else None
train_network(
    net=net,
    photometry_path=inp.photometry,
    shard_paths=list(inp.get("shards", [])),
    out_model=snakemake.output.model,  # noqa: F821
    out_history=snakemake.output.history,  # noqa: F821
    out_predictions=snakemake.output.predictions,  # noqa: F821
    out_pdfs=snakemake.output.pdfs,  # noqa: F821
    # the rule's params hold this network's settings; the device is a machine setting, read
    # from the config so that changing it reruns nothing
    train_cfg={**p.settings, "device": snakemake.config["train"]["device"]},  # noqa: F821
    instrument=load_instrument(p.instrument),
    seed=p.seed,
    threads=snakemake.threads,  # noqa: F821
    pretrained=pretrained,
)
