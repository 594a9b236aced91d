"""The designed mixtures of a study: their names, the checks of the whole `design` block that
need the rest of the config, and the proxy runs' hyperparameters.

Design stage (a pure function of the config, like `sweep`): the workflow's mixture list is
the declared mixtures (the anchors), then the sweep's `sweep-01 …`, then `proposed` when
`design.propose` is on. Their names must not collide with a declared one in any letter case
(they become paths), and the proxy runs train with `train.cpt` overridden by
`design.proxy.train` and the epochs of their realisation (`cptmix.corpus.realise`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from cptmix.design.sweep import DesignError, sweep_names, sweep_problems

PROPOSED = "proposed"
# train.cpt keys a proxy override may not set: the realisation decides how long a run trains
PROXY_FIXED = ("epochs", "max_steps")


def designed_mixtures(cfg: Mapping) -> list[str]:
    """sweep-01 … sweep-NN, then `proposed` when design.propose is on (the schema's default:
    on); none without a design block."""
    design = cfg.get("design") or {}
    sweep = design.get("sweep")
    if not sweep:
        return []
    names = sweep_names(int(sweep["n"]))
    return [*names, PROPOSED] if design.get("propose", True) else names


def design_problems(cfg: Mapping, tasks: Sequence[str] = ()) -> list[str]:
    """Every problem of the `design` block, each naming its key: the sweep's
    (`sweep_problems`), a designed name that collides with a declared mixture in any letter
    case, a proxy override of what the realisation decides, and objective targets that are
    neither a selected task (`tasks`) nor ja_average / en_average."""
    problems = sweep_problems(cfg)
    design = cfg.get("design") or {}
    if problems or not design.get("sweep"):
        return problems
    declared = {str(m).lower(): m for m in cfg.get("mixtures") or {}}
    for name in designed_mixtures(cfg):
        if name.lower() in declared and declared[name.lower()] != name:
            problems.append(f"mixtures.{declared[name.lower()]}: collides with the designed "
                            f"mixture {name!r} (names differ only in letter case)")
        elif name == PROPOSED and name in declared:
            problems.append(f"mixtures.{name}: the name is taken by the design's proposed "
                            f"mixture (design.propose); rename it")
    overrides = (design.get("proxy") or {}).get("train") or {}
    problems += [f"design.proxy.train.{k}: set by the realisation (token_budget tokens in the "
                 f"design's shares), not by an override" for k in PROXY_FIXED if k in overrides]
    unknown_hp = sorted(set(overrides) - set((cfg.get("train") or {}).get("cpt") or {}))
    problems += [f"design.proxy.train.{k}: not a train.cpt setting of this config (set: "
                 f"{', '.join(sorted((cfg.get('train') or {}).get('cpt') or {}))})"
                 for k in unknown_hp if k not in PROXY_FIXED]
    targets = ((design.get("objective") or {}).get("targets")) or {}
    known = {*tasks, "ja_average", "en_average"}
    problems += [f"design.objective.targets.{t}: not a selected task or ja_average / "
                 f"en_average" for t in targets if tasks and t not in known]
    return problems


def check_design(cfg: Mapping, tasks: Sequence[str] = (), where: str | None = None) -> None:
    """`design_problems` as one DesignError (nothing to do without a design block)."""
    problems = design_problems(cfg, tasks)
    if not problems:
        return
    prefix = f"{where}: " if where else ""
    if len(problems) == 1:
        raise DesignError(prefix + problems[0])
    raise DesignError(f"{prefix}{len(problems)} problems:\n  " + "\n  ".join(problems))


def proxy_budget(realisation: Mapping[str, Any], megatron: bool) -> dict[str, int]:
    """The token budget a proxy run's ledger accounts for: megatron draws the sweep's
    token_budget from the whole sources ({tokens: B}); hf trains the realisation's E passes
    over the realised subset ({epochs: E}: about B, and never more than E passes, where the
    calibrated subset holds a few tokens less than B / E)."""
    if megatron:
        return {"tokens": int(realisation["token_budget"])}
    return {"epochs": int(realisation["epochs"])}


def proxy_hp(cfg: Mapping, realisation: Mapping[str, Any]) -> dict[str, Any]:
    """A proxy (designed) run's CPT hyperparameters: train.cpt, design.proxy.train's
    overrides, and the realisation's epochs (its `max_steps` cap dropped: the realisation
    sizes the run)."""
    hp = dict(cfg["train"]["cpt"])
    hp.update(((cfg.get("design") or {}).get("proxy") or {}).get("train") or {})
    hp.pop("max_steps", None)
    hp["epochs"] = int(realisation["epochs"])
    return hp
