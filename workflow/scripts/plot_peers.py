"""Rule plot_peer_comparison: networks beside the peers (photoz.plots_peers.save_peer_comparison)."""

from photoz.logs import log_to_file

log_to_file(snakemake.log[0])  # noqa: F821

from photoz.plots_peers import save_peer_comparison  # noqa: E402

inp, out = snakemake.input, snakemake.output  # noqa: F821
save_peer_comparison(inp.summary, inp.binned, out.png, out.pdf)
