"""Snakemake script: derive a mixture's blend weights and print/write its token ledger."""
from cptmix.corpus.ledger import write_ledger
from cptmix.io import log_to

sm = snakemake  # noqa: F821 - injected by the script directive
log_to(sm.log[0])
fractions = dict(sm.params.fractions)
counts = {s: sm.input[s] for s in fractions}  # each: the source's per-shard TSVs
# the budget is {epochs} or {tokens} (schema oneOf; STUDY.token_budget): the other is None
write_ledger(sm.wildcards.mixture, fractions, counts, sm.output.blend, sm.output.ledger,
             epochs=sm.params.budget.get("epochs"), tokens=sm.params.budget.get("tokens"),
             pool=sm.params.pool, max_repetitions=sm.params.max_repetitions)
