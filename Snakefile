# photoz: CSST photometric redshifts from simulated seven-band galaxy images.
# Reproduces Zhou et al. 2022, MNRAS 512, 4593. Run: snakemake --cores all (see README.md).
from snakemake.utils import min_version

min_version("8.0")


configfile: "config/config.yaml"


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/catalog.smk"
include: "workflow/rules/simulate.smk"
include: "workflow/rules/photometry.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/peers.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/figures.smk"
include: "workflow/rules/pdfs.smk"


rule all:
    input:
        all_targets(),
    default_target: True
