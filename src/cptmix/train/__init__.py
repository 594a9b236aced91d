"""Training stage: pre-training of the demo base model, continual pre-training (CPT) on each
mixture, and supervised fine-tuning (SFT) of the base model and of every CPT model with the
same settings. Backends share one signature and are chosen by name (`backends`: `run_cpt`,
`run_sft`, `backend_env`); `hf` (transformers + a plain torch loop, CPU friendly) is the one
the demo uses. Importing this package imports no backend: the `hf` functions below are
imported from `cptmix.train.hf` when first used."""

from cptmix.train.backends import BACKENDS, backend_env, get_backend, run_cpt, run_sft
from cptmix.train.schedule import lr_at

_HF = ("continual_pretrain", "pretrain_base", "supervised_finetune")

__all__ = ["BACKENDS", "backend_env", "continual_pretrain", "get_backend", "lr_at",
           "pretrain_base", "run_cpt", "run_sft", "supervised_finetune"]


def __getattr__(name: str):
    if name in _HF:
        from cptmix.train import hf

        return getattr(hf, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
