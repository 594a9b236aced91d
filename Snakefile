# cptmix — a Japanese/English medical data-mixture study as one Snakemake workflow.
#   snakemake --profile profiles/local                  # the embedded demo (config/config.yaml)
#   snakemake --profile profiles/slurm --configfile config/paper.yaml   # the cluster recipe
#   snakemake -n  |  snakemake --rulegraph | dot -Tsvg > rulegraph.svg   # the plan
from snakemake.utils import min_version

min_version("9.0")


# The demo is the default; a --configfile on the command line replaces it (not merged into it).
if not workflow.overwrite_configfiles:

    configfile: "config/config.yaml"


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/inputs.smk"
include: "workflow/rules/world.smk"
include: "workflow/rules/prepare.smk"
include: "workflow/rules/corpus.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/analyze.smk"


# The whole study: composition of every mixture, every SFT model's scores, the analysis.
rule all:
    input:
        final_targets(),
    default_target: True
