# photoz: CSST photometric redshifts from simulated seven-band galaxy images.
# Reproduces Zhou et al. 2022, MNRAS 512, 4593. Run: snakemake --cores all (see README.md).
import os
import sys

from snakemake.utils import min_version

min_version("8.0")


# The repository's default config, by absolute path: a run with --directory elsewhere merges its
# --configfile overlays over it too (a relative path was looked up in the working directory, where
# Snakemake silently skipped it when --configfile was given, and the run used the schema's
# defaults). photoz.config.load_merged_config (validate-config) starts from the same file.
# photoz reads it first: a file that is not UTF-8 or not YAML is then a one-line PhotozConfigError
# naming it, where Snakemake's own reading gave a traceback (--configfile files are read by
# Snakemake's command line before this file runs: `make run` checks them with validate-config).
sys.path.insert(0, workflow.basedir)
from photoz.config import read_config_file  # noqa: E402

read_config_file(os.path.join(workflow.basedir, "config", "config.yaml"))


configfile: os.path.join(workflow.basedir, "config", "config.yaml")


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/catalog.smk"
include: "workflow/rules/simulate.smk"
include: "workflow/rules/photometry.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/peers.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/plots.smk"


rule all:
    input:
        all_targets(),
    default_target: True
