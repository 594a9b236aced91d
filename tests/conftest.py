"""Shared test fixtures: a tiny randomly initialised causal LM saved as an HF model directory.

The directory has exactly the shape the training stage writes and the evaluate stage reads
(safetensors weights, config.json, tokenizer.json + tokenizer_config.json), so tests of
training, evaluation and the workflow scripts can all run on it in seconds on a CPU.
"""

from __future__ import annotations

import pytest
from studies import Background, run_killed_cpt, run_second, run_study, run_tiny_sweep, stop_all

TINY_SEED = 1234
EOS, PAD = "<|endoftext|>", "<pad>"

# Enough Japanese and English medical-prompt text for BPE to learn merges of the template
# words; ByteLevel pre-tokenisation still encodes any character, seen here or not.
_TOKENIZER_CORPUS = [
    "質問: 次のうち正しいものはどれか。\n選択肢:\nA. 頭痛\nB. 発熱\nC. 咳嗽\n答え: 発熱",
    ("次の英文を日本語に翻訳してください。\n英語: The patient has a fever.\n"
     "日本語: 患者は発熱している。"),
    ("Translate the following Japanese into English.\nJapanese: 患者は頭痛を訴えた。\n"
     "English: The patient complained of a headache."),
    "次の文から疾患をすべて抽出し、カンマ区切りで答えてください。なければ「なし」と答えてください。",
    ("Question: Which drug is used to treat hypertension?\nOptions:\nA. amlodipine\n"
     "B. insulin\nAnswer: amlodipine"),
    ("次の二つの文の意味の類似度を0から5で答えてください。\n文1: 血圧が高い。\n"
     "文2: 高血圧である。\n答え: 4"),
    "この症例で薬剤による有害事象の可能性はどの程度か。",
    "なし 低い 高い 確実 T1 T2 T3 T4 はい いいえ",
]


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory):
    """A 2-layer, hidden-32 `LlamaForCausalLM` with a ~400-token ByteLevel BPE tokenizer
    (eos = bos `<|endoftext|>`, pad `<pad>`), saved to a session-wide temporary directory.

    Weights are drawn with a fixed seed and a large init range so the random model has clear
    preferences (option log-likelihoods far apart), which keeps argmax-based checks stable.
    """
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=400, special_tokens=[EOS, PAD],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  show_progress=False)
    bpe.train_from_iterator(_TOKENIZER_CORPUS * 4, trainer)
    # bos = eos as in `cptmix.corpus.tokenizer`: a defined BOS that must still not be prepended
    # (SFT inputs carry none), which the evaluation tests check.
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=bpe, eos_token=EOS, pad_token=PAD,
                                        bos_token=EOS)

    torch.manual_seed(TINY_SEED)
    config = LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512,
        initializer_range=0.5, tie_word_embeddings=False, bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id,
    )
    model = LlamaForCausalLM(config).eval()

    out = tmp_path_factory.mktemp("tiny_model")
    model.save_pretrained(out, safe_serialization=True)
    tokenizer.save_pretrained(out)
    return out


# Background runs of the shared studies (tests/studies.py), started once collection knows the
# tests need them: they run while the unit tests do, and the fixtures below wait for them.
_BACKGROUND: dict[str, Background] = {}


def _killed_cpt(path):
    """The killed CPT job, once the study whose upstream files it reuses is done."""
    return run_killed_cpt(path, _BACKGROUND["study"].result())


def _tiny_sweep(path):
    """The tiny designed sweep, once the study whose finished work it extends is done."""
    return run_tiny_sweep(path, _BACKGROUND["study"].result())


_RUNNERS = {"study": run_study, "second_study": run_second, "killed_cpt": _killed_cpt,
            "tiny_sweep": _tiny_sweep}
_NEEDS = {"killed_cpt": "study", "tiny_sweep": "study"}


def _start(name: str, factory) -> Background:
    if name not in _BACKGROUND:
        if name in _NEEDS:
            _start(_NEEDS[name], factory)
        _BACKGROUND[name] = Background(_RUNNERS[name], factory.mktemp(name))
    return _BACKGROUND[name]


def pytest_configure(config):
    """One torch thread in the test process, as every workflow job has (config `threads`):
    the shared studies' jobs run beside the tests on the same cores, and two intra-op threads
    per process there spin against them (the med-eval parity tests: 98 s with two threads,
    18 s with one, on a loaded 2-core machine). Subprocesses keep their own settings."""
    import torch

    torch.set_num_threads(1)


def pytest_collection_modifyitems(session, config, items):
    """Tests that wait for a shared run go last, in their own order: those that need only the
    local study, then the second run's, then the killed CPT job's and the tiny sweep's (which
    start when the study is done and run while the study's tests do). Every other test runs while the studies do."""
    def waits(item) -> int:
        names = set(getattr(item, "fixturenames", ()))
        return next((k for k, name in ((4, "tiny_sweep"), (3, "killed_cpt"),
                                        (2, "second_study"), (1, "study")) if name in names), 0)

    items.sort(key=waits)  # stable


def pytest_collection_finish(session):
    if session.config.option.collectonly:
        return
    wanted = {name for item in session.items for name in getattr(item, "fixturenames", ())}
    for name in _RUNNERS:
        if name in wanted:
            _start(name, session.config._tmp_path_factory)


def pytest_sessionfinish(session):
    """A run still going (an early stop, ^C) is ended with its jobs, and a cluster that no
    test got to stop is stopped."""
    stop_all()
    for background in _BACKGROUND.values():
        slurm = getattr(background.value(), "slurm", None)
        if slurm is not None:
            slurm.stop()


@pytest.fixture(scope="session")
def study(tmp_path_factory):
    """The whole workflow on the test study (tests/config/overlay.yaml over the demo config),
    run once for the session (started in the background at collection)."""
    return _start("study", tmp_path_factory).result()


@pytest.fixture(scope="session")
def second_study(tmp_path_factory):
    """A second clean run of the same config for `studies.SECOND_TARGETS`: through the real
    Slurm (profiles/slurm shrunk to one node) where Slurm is installed, else locally. Either
    way its files must equal the study's byte for byte."""
    run = _start("second_study", tmp_path_factory).result()
    yield run
    if run.slurm is not None:
        run.slurm.stop()


@pytest.fixture(scope="session")
def killed_cpt(tmp_path_factory):
    """EnJa-Base's CPT job of the study killed and rerun through Snakemake (`studies.
    run_killed_cpt`, started in the background once the study is done)."""
    return _start("killed_cpt", tmp_path_factory).result()


@pytest.fixture(scope="session")
def tiny_sweep(tmp_path_factory):
    """A 4-mixture designed sweep + proposal on a copy of the study's finished work
    (`studies.run_tiny_sweep`, started in the background once the study is done)."""
    return _start("tiny_sweep", tmp_path_factory).result()
