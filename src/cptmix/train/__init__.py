"""Training stage: pre-training of the demo base model, continual pre-training (CPT) on each
mixture, and supervised fine-tuning (SFT) of the base model and of every CPT model with the
same settings. Backends share one signature; `hf` (transformers + a plain torch loop, CPU
friendly) is the one the demo uses."""

from cptmix.train.hf import continual_pretrain, pretrain_base, supervised_finetune
from cptmix.train.schedule import lr_at

__all__ = ["continual_pretrain", "lr_at", "pretrain_base", "supervised_finetune"]
