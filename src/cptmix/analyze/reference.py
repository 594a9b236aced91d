"""The verification's reference (design.verify.seeds): which anchor choose_reference chose and
where the runs at the verification seeds are evaluated.

Light on purpose (json and pathlib only): the workflow's rule files import it when they parse,
to name verify_proposal's inputs after the checkpoint, so that planning does not import the
analysis stack (pandas, statsmodels).
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path


def reference_anchor(reference_json: str | os.PathLike) -> str:
    """The anchor choose_reference chose (its JSON's best_anchor)."""
    ref = json.loads(Path(reference_json).read_text(encoding="utf-8")).get("best_anchor")
    if not isinstance(ref, str) or not ref:
        raise ValueError(f"{reference_json}: field best_anchor: expected a mixture name, "
                         f"got {ref!r}")
    return ref


def reseeded_paths(reference_json: str | os.PathLike, eval_dir: str, seeds: Sequence[int],
                   name: str) -> dict[str, dict[int, str]]:
    """{model: {seed: path}} of one evaluation file (`name`) of base, proposed and the chosen
    anchor at `seeds` (the CPT-reseeded verification's runs); `eval_dir`: the evaluation
    directory pattern with {model} and {seed}."""
    models = ["base", "proposed", reference_anchor(reference_json)]
    return {m: {int(s): f"{eval_dir.format(model=m, seed=s)}/{name}" for s in seeds}
            for m in models}
