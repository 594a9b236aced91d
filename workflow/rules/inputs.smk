# Inputs the study reads but no rule makes (corpora, model, JMedBench, SFT data) that are not
# there yet, e.g. config/paper.yaml's /path/to/ placeholders: a rule stands in for them so that
# `snakemake -n` plans the study without its data. A real run stops in `onstart` first.
if MISSING_INPUTS:

    rule missing_input:
        output:
            [directory(p) if is_dir else p for p, is_dir in MISSING_INPUTS],
        run:
            check_config(config, where=CONFIG_WHERE, check_paths=True)  # names every missing path
