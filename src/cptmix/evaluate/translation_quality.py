"""Quality of the machine translation behind the Japanese PMC subcorpus (paper appendix B).

Part of the evaluate stage, but about the corpus, not a model: the paper reports how well the
translation engine used to build the Japanese PMC subcorpus translates EJMMT's English side
into Japanese, as BLEU (sacrebleu, MeCab tokenisation) and COMET-22/23. `mt_quality` scores a
file of such translations against the references: BLEU always, COMET only when a local COMET
checkpoint is configured (the optional `unbabel-comet` package; no download at run time).
"""

from __future__ import annotations

from pathlib import Path

from cptmix.evaluate.metrics import (
    BOOTSTRAP_SEED,
    N_BOOTSTRAP,
    bleu,
    bleu_bootstrap_se,
    bleu_signature,
)
from cptmix.io import read_jsonl
from cptmix.tasks import JA


def _pair(hyp_rows: list[dict], ref_rows: list[dict], id_field: str, hyp_path: Path,
          ref_path: Path) -> list[tuple[dict, dict]]:
    """Hypothesis/reference pairs: by `id_field` when both files carry it, else by line."""
    if all(id_field in r for r in hyp_rows) and all(id_field in r for r in ref_rows):
        refs = {}
        for r in ref_rows:
            if r[id_field] in refs:
                raise ValueError(f"{ref_path}: duplicate {id_field} {r[id_field]!r}")
            refs[r[id_field]] = r
        missing = [h[id_field] for h in hyp_rows if h[id_field] not in refs]
        if missing:
            raise ValueError(f"{hyp_path}: {len(missing)} {id_field}s have no reference in "
                             f"{ref_path}, e.g. {missing[0]!r}")
        return [(h, refs[h[id_field]]) for h in hyp_rows]
    if len(hyp_rows) != len(ref_rows):
        raise ValueError(f"{hyp_path} has {len(hyp_rows)} lines but {ref_path} has "
                         f"{len(ref_rows)}, and not every record has {id_field!r} to pair by")
    return list(zip(hyp_rows, ref_rows, strict=True))


def mt_quality(hyp_jsonl: str | Path, ref_jsonl: str | Path, *, hyp_field: str = "japanese",
               ref_field: str = "japanese", src_field: str = "english",
               id_field: str = "sample_id", target_language: str = JA,
               comet_model: str | Path | None = None, comet_batch_size: int = 8,
               comet_gpus: int = 0, n_bootstrap: int = N_BOOTSTRAP,
               seed: int = BOOTSTRAP_SEED) -> dict:
    """BLEU (0–1 scale, with a bootstrap SE and sacrebleu's signature) and, if `comet_model`
    names a local COMET checkpoint, COMET's system score of the translations in `hyp_jsonl`
    against the references in `ref_jsonl`.

    Defaults fit appendix B: EJMMT records (`ref_jsonl` = `ejmmt/test.jsonl`), translations of
    their `english` side into `japanese`, MeCab-tokenised BLEU. Records pair by `id_field` when
    both files have it, else by line. COMET also needs the source (`src_field`, read from the
    reference file). Returns {"n", "bleu", "bleu_stderr", "sacrebleu_signature", "comet",
    "comet_model"}; "comet" is None when no checkpoint is configured.
    """
    hyp_path, ref_path = Path(hyp_jsonl), Path(ref_jsonl)
    hyp_rows = list(read_jsonl(hyp_path, required=(hyp_field,)))
    ref_rows = list(read_jsonl(ref_path, required=(ref_field,)))
    if not hyp_rows:
        raise ValueError(f"{hyp_path}: no translations")
    pairs = _pair(hyp_rows, ref_rows, id_field, hyp_path, ref_path)
    hyps = [str(h[hyp_field]).strip() for h, _ in pairs]
    refs = [str(r[ref_field]).strip() for _, r in pairs]
    result = {
        "n": len(pairs),
        "bleu": bleu(hyps, refs, target_language),
        "bleu_stderr": bleu_bootstrap_se(hyps, refs, target_language, n_resamples=n_bootstrap,
                                         seed=seed),
        "sacrebleu_signature": bleu_signature(target_language),
        "comet": None,
        "comet_model": None,
    }
    if comet_model is not None:
        missing_src = [i for i, (_, r) in enumerate(pairs) if src_field not in r]
        if missing_src:
            raise ValueError(f"{ref_path}: COMET needs the source field {src_field!r}, missing "
                             f"for {len(missing_src)} records")
        data = [{"src": str(r[src_field]), "mt": h, "ref": ref}
                for (_, r), h, ref in zip(pairs, hyps, refs, strict=True)]
        result["comet"] = _comet(data, Path(comet_model), comet_batch_size, comet_gpus)
        result["comet_model"] = str(comet_model)
    return result


def _comet(data: list[dict], checkpoint: Path, batch_size: int, gpus: int) -> float:
    """COMET system score from a local checkpoint (configured, so missing pieces are errors)."""
    if not checkpoint.is_file():
        raise FileNotFoundError(f"COMET checkpoint {checkpoint} does not exist (give the "
                                f".ckpt file of a downloaded model, e.g. wmt22-comet-da)")
    try:
        from comet import load_from_checkpoint
    except ImportError:
        raise ImportError("a COMET checkpoint is configured but the optional package "
                          "'unbabel-comet' is not installed") from None
    model = load_from_checkpoint(str(checkpoint))
    return float(model.predict(data, batch_size=batch_size, gpus=gpus,
                               progress_bar=False).system_score)
