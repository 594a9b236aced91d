"""Snakemake script: translate one shard of a source (see cptmix.prepare.translate)."""
from cptmix.config import TranslateSpec
from cptmix.io import log_to
from cptmix.prepare.translate import make_backend, translate_shard

sm = snakemake  # noqa: F821 - injected by the script directive
log_to(sm.log[0])
spec = TranslateSpec.from_dict(sm.params.spec)
translate_shard(
    spec.input, sm.output.shard, make_backend(sm.params.spec, sm.params.world, sm.threads),
    shard=int(sm.wildcards.shard), n_shards=spec.shards, max_chars=spec.max_chars,
    target_lang=spec.target_lang, id_field=spec.id_field, text_field=spec.text_field,
    output_field=spec.output_field, id_suffix=spec.id_suffix,
    provenance_path=sm.output.provenance)
