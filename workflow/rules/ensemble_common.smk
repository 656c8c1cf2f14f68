# Helpers of the deep-ensemble rules (ensemble.smk; included only when train.ensemble_size > 1).

ENSEMBLE_MEMBERS = list(range(config["train"]["ensemble_size"]))


def member_inputs(wildcards):
    """training_inputs of one member: hybrid_transfer's member k starts from the MLP's and CNN's member k."""
    inputs = {"photometry": "results/photometry/photometry.parquet"}
    if wildcards.net != "mlp":
        inputs["shards"] = stamp_files()
    if wildcards.net == "hybrid_transfer":
        inputs["mlp"] = f"results/models/mlp_m{wildcards.member}.pt"
        inputs["cnn"] = f"results/models/cnn_m{wildcards.member}.pt"
    return inputs


def member_files(pattern):
    """Input function: ``pattern`` (with {net} and {member}) for every member of the network."""
    return lambda wildcards: expand(pattern, net=wildcards.net, member=ENSEMBLE_MEMBERS)
