"""Builders of the study's constructed inputs (between the demo world / raw data and the corpus
and training stages): the machine-translated subcorpus (`translate`), interleaved parallel
documents (`parallel`) and the decontaminated SFT instruction set (`sft`, `contamination`).
The workflow rules in workflow/rules/prepare.smk call them through thin scripts."""
