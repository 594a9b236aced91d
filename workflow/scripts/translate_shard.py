"""Snakemake script: translate one shard of a source (see cptmix.prepare.translate)."""
from cptmix.io import log_to
from cptmix.prepare.translate import make_backend, translate_shard

sm = snakemake  # noqa: F821 - injected by the script directive
log_to(sm.log[0])
spec = sm.params.spec
translate_shard(
    spec["input"], sm.output.shard, make_backend(spec, sm.params.world, sm.threads),
    shard=int(sm.wildcards.shard), n_shards=int(spec.get("shards", 1)),
    max_chars=int(spec.get("max_chars", 400)), target_lang=spec.get("target_lang", "ja"),
    id_field=spec.get("id_field", "id"), text_field=spec.get("text_field", "text"),
    output_field=spec.get("output_field"), id_suffix=spec.get("id_suffix", ""),
    provenance_path=sm.output.provenance)
