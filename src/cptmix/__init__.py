"""cptmix: a Japanese/English medical data-mixture study as one Snakemake workflow."""
__version__ = "0.1.0"
