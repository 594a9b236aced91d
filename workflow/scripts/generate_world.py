"""Snakemake script: generate the synthetic demo world (see cptmix.demo)."""
from pathlib import Path

from cptmix.demo import generate_world
from cptmix.io import log_to

log_to(snakemake.log[0])  # noqa: F821 - `snakemake` is injected by the script directive
generate_world(snakemake.params.world, Path(snakemake.output.world).parent)  # noqa: F821
