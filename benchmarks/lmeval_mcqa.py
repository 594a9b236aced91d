"""Score MCQA items with EleutherAI lm-eval's HF backend on a local custom task (helper of
`bench_mcqa.py`; run it with the Python of a venv that has `lm-eval` installed).

Reads the items `bench_mcqa.py` wrote (JSONL: prompt, choices, gold), defines a one-file
multiple_choice task over them, runs `lm_eval.simple_evaluate` with an `HFLM` loaded beforehand
(so model loading is not timed), and prints one JSON object: the lm-eval version, the seconds
spent in `simple_evaluate` and in its `loglikelihood` call alone (the scoring engine, without
task building and dataset loading), and each item's option log-likelihoods (from the logged
samples).
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

TASK_YAML = """\
task: cptmix_bench_mcqa
dataset_path: json
dataset_kwargs:
  data_files:
    test: {items}
test_split: test
output_type: multiple_choice
doc_to_text: prompt
doc_to_choice: choices
doc_to_target: gold
# The choices are appended to the prompt as they are (med-eval appends options directly; an
# English prompt ends in "Answer: "). lm-eval, like cptmix, moves a trailing space of the
# prompt to the continuation and cuts the joint encoding at the prompt's length.
target_delimiter: ""
metric_list:
  - metric: acc
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True, help="HF model directory (local files)")
    parser.add_argument("--items", required=True, help="JSONL of prompt, choices, gold")
    parser.add_argument("--batch-size", type=int, default=16, help="lm-eval batch size")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--device", default="cpu", help="torch device")
    parser.add_argument("--dtype", default="float32", help="model dtype")
    args = parser.parse_args()

    os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
    import lm_eval
    import torch
    from lm_eval.models.huggingface import HFLM
    from lm_eval.tasks import TaskManager

    torch.set_num_threads(args.threads)
    lm = HFLM(pretrained=args.model, backend="causal", device=args.device, dtype=args.dtype,
              batch_size=args.batch_size)
    # Time the scoring engine alone too: simple_evaluate also builds the task and loads the data.
    engine = {"seconds": 0.0}
    loglikelihood = lm.loglikelihood

    def timed_loglikelihood(*a, **kw):
        start = time.perf_counter()
        try:
            return loglikelihood(*a, **kw)
        finally:
            engine["seconds"] += time.perf_counter() - start

    lm.loglikelihood = timed_loglikelihood
    with tempfile.TemporaryDirectory() as tmp:
        Path(tmp, "cptmix_bench_mcqa.yaml").write_text(
            TASK_YAML.format(items=Path(args.items).resolve()), encoding="utf-8")
        manager = TaskManager(include_path=tmp)
        start = time.perf_counter()
        out = lm_eval.simple_evaluate(model=lm, tasks=["cptmix_bench_mcqa"],
                                      task_manager=manager, log_samples=True,
                                      bootstrap_iters=0)
        seconds = time.perf_counter() - start
    samples = sorted(out["samples"]["cptmix_bench_mcqa"], key=lambda s: s["doc_id"])
    logliks = [[float(r[0]) for r in s["filtered_resps"]] for s in samples]
    print(json.dumps({"lm_eval_version": lm_eval.__version__, "seconds": seconds,
                      "loglikelihood_seconds": engine["seconds"], "logliks": logliks}))


if __name__ == "__main__":
    main()
