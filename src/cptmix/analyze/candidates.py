"""The candidate surrogates of a designed sweep by name, and the refusal to fit too few runs.

What the workflow checks while it plans (`check_models`, from workflow/rules/common.smk and
`cptmix design`/`cptmix plan`): which models exist (`MODELS`, in order of complexity), how many
runs each needs (`ModelSpec.min_runs`) and how many mixtures a design must have to fit and
cross-validate them (`min_mixtures`). It imports no scikit-learn, so planning a workflow does
not pay for loading it; `cptmix.analyze.surrogate` builds, fits and checks the models.

Place in `cptmix.analyze`: at the bottom (standard library only); below `surrogate`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

MODELS_KEY = "design.surrogate.models"
K_FOLDS = 5


class SurrogateError(ValueError):
    """Bad input to the surrogate stage (too few runs, unknown model or target, bad shares)."""


@dataclass(frozen=True)
class ModelSpec:
    """A candidate surrogate: its name, what it is, how many runs it needs."""

    name: str
    doc: str

    def min_runs(self, n_sources: int) -> int:
        """Free parameters (linear, loglinear, gp) or the documented minimum (gbm)."""
        d = int(n_sources)
        return {"linear": d, "loglinear": d + 1, "gbm": max(10, 2 * d), "gp": d + 2}[self.name]


# In order of complexity: the choice prefers the earlier of two equally good models.
MODELS: dict[str, ModelSpec] = {
    "linear": ModelSpec("linear", "OLS on the shares, no intercept (shares sum to 1)"),
    "loglinear": ModelSpec("loglinear", "OLS on log(share + 0.01) with intercept"),
    "gp": ModelSpec("gp", "GaussianProcessRegressor, const x RBF + white noise, normalize_y"),
    "gbm": ModelSpec("gbm", "GradientBoostingRegressor, 100 depth-2 trees, random_state 0"),
}


def model_spec(name: str, key: str = MODELS_KEY) -> ModelSpec:
    if name not in MODELS:
        raise SurrogateError(f"{key}: unknown model {name!r} (known: {', '.join(MODELS)})")
    return MODELS[name]


def min_mixtures(name: str, n_sources: int, k_folds: int = K_FOLDS) -> int:
    """The fewest mixtures with which `name` can be fitted AND cross-validated (LOO, K-fold)."""
    need = model_spec(name).min_runs(n_sources)
    n = need + 1
    while n - math.ceil(n / min(k_folds, n)) < need:
        n += 1
    return n


def check_models(models: Sequence[str], n_mixtures: int, n_sources: int,
                 k_folds: int = K_FOLDS, key: str = MODELS_KEY) -> list[str]:
    """Refuse (SurrogateError naming `key` and the model) any model that the design is too
    small to fit and cross-validate; returns the model names in the given order."""
    names = list(models)
    if not names:
        raise SurrogateError(f"{key}: no models listed (known: {', '.join(MODELS)})")
    if len(set(names)) != len(names):
        raise SurrogateError(f"{key}: a model is listed more than once: {', '.join(names)}")
    if k_folds < 2:
        raise SurrogateError(f"{key}: K-fold needs at least 2 folds, got {k_folds}")
    for name in names:
        spec = model_spec(name, key)
        need, n_min = spec.min_runs(n_sources), min_mixtures(name, n_sources, k_folds)
        if n_mixtures < n_min:
            what = ("free parameters" if name != "gbm"
                    else "runs as its documented minimum (max(10, 2 x sources))")
            raise SurrogateError(
                f"{key}: model {name!r} needs {need} {what} for {n_sources} sources, so at "
                f"least {n_min} mixtures to fit every leave-one-out and {k_folds}-fold "
                f"training set on >= {need} runs; the design has {n_mixtures} (add sweep "
                f"mixtures or drop {name!r})")
    return names
