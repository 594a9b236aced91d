"""The tokenizer every stage uses. The demo trains a small byte-level BPE on its own sources
(byte-level so Japanese, which has no spaces, is always representable); the cluster recipe
points at the model's own tokenizer directory instead and nothing is trained."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from cptmix.io import atomic_path

EOS = "<|endoftext|>"
PAD = "<pad>"


def train_tokenizer(texts: Iterable[str], out_dir: str | Path, vocab_size: int = 4000,
                    min_frequency: int = 2) -> None:
    """Train a byte-level BPE tokenizer and save it as a `PreTrainedTokenizerFast` directory."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, min_frequency=min_frequency, special_tokens=[EOS, PAD],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(texts, trainer=trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token=EOS, pad_token=PAD,
                                   bos_token=EOS, unk_token=None)
    with atomic_path(out_dir) as tmp:
        fast.save_pretrained(tmp)


def load_tokenizer(path: str | Path):
    """Load a local HF tokenizer directory (offline); make sure it can pad."""
    from transformers import AutoTokenizer

    path = Path(path)
    if not (path / "tokenizer_config.json").exists() and not (path / "tokenizer.json").exists():
        raise FileNotFoundError(f"{path}: not a tokenizer directory (no tokenizer.json)")
    tok = AutoTokenizer.from_pretrained(str(path), local_files_only=True)
    if tok.eos_token is None:
        raise ValueError(f"{path}: tokenizer has no eos_token")
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    return tok


def encode_batch(tok, texts: list[str]) -> list[list[int]]:
    """Token ids of each text, without special tokens."""
    return tok(texts, add_special_tokens=False)["input_ids"] if texts else []
