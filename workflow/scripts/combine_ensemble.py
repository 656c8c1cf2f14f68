"""Rule combine_ensemble: a network's products from its deep-ensemble members (photoz.train.ensemble)."""

from photoz.logs import log_to_file

log_to_file(snakemake.log[0])  # noqa: F821

import logging  # noqa: E402

from photoz.train.ensemble import combine_members  # noqa: E402

inp, out = snakemake.input, snakemake.output  # noqa: F821
summary = combine_members(list(inp.models), list(inp.predictions), list(inp.mixtures),
                          list(inp.histories), out.model, out.history, out.predictions, out.pdfs)
logging.getLogger("photoz.train.ensemble").info("%s: %s", snakemake.wildcards.net, summary)  # noqa: F821
