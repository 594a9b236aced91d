"""Evaluate stage: score one fine-tuned model on the 27 JMedBench tasks.

Sits after SFT (`cptmix.train`) and before `cptmix.analyze`: the workflow calls
`evaluate_model` once per SFT model, and the analysis reads the `scores.tsv` and per-item
`items.tsv` it writes.

- `scoring`     the model side: option log-likelihoods (shared-prefix or naive) and greedy
                generation;
- `metrics`     pure metric functions (accuracy, Pearson r, BLEU, entity F1) and their
                standard errors (binomial, seeded bootstrap);
- `continuous`  the continuous metrics beside JMedBench's (gold option log-probability, gold
                target log-likelihood per byte) and their definitions;
- `provenance`  hashes of templates, data and tokenizer recorded next to the scores;
- `runner`      one template per task category, wiring the above together and writing outputs;
- `translation_quality`  `mt_quality`: BLEU (and optional COMET) of the corpus's machine
                translation (appendix B).
"""

from cptmix import lazy_exports

# Each name and the module that defines it, imported on first use (`cptmix.lazy_exports`).
_EXPORTS = {
    "mt_quality": "cptmix.evaluate.translation_quality",
    "evaluate_model": "cptmix.evaluate.runner",
    "evaluate_task": "cptmix.evaluate.runner",
    "predictions_name": "cptmix.evaluate.runner",
}
__all__ = list(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
