"""Rule train_flow: the DC2 normalizing flow of source flow (photoz.catalog.flow.train_flow)."""

from photoz.logs import log_to_file

log_to_file(snakemake.log[0])  # noqa: F821 - snakemake is injected by the script directive

from photoz.catalog.flow import limit_threads  # noqa: E402

limit_threads(snakemake.threads)  # noqa: F821 - before jax starts

from photoz.catalog.flow import train_flow  # noqa: E402

p = snakemake.params.flow  # noqa: F821
train_flow(
    snakemake.output.model,  # noqa: F821
    epochs=p["epochs"],
    batch_size=p["batch_size"],
    learning_rate=p["learning_rate"],
    validation_fraction=p["validation_fraction"],
    seed=p["seed"],
    history_path=snakemake.output.history,  # noqa: F821
)
