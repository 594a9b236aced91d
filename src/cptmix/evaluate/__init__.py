"""Evaluate stage: score one fine-tuned model on the 27 JMedBench tasks.

Sits after SFT (`cptmix.train`) and before `cptmix.analyze`: the workflow calls
`evaluate_model` once per SFT model, and the analysis reads the `scores.tsv` it writes.

- `loaders`  reads and validates a task's JSONL split (record shapes in `cptmix.tasks`);
- `scoring`  the model side: option log-likelihoods and greedy generation;
- `metrics`  pure metric functions (accuracy, Pearson r, BLEU, entity F1);
- `runner`   one template per task category, wiring the three together and writing outputs.
"""

from cptmix.evaluate.runner import evaluate_model, evaluate_task, predictions_name

__all__ = ["evaluate_model", "evaluate_task", "predictions_name"]
