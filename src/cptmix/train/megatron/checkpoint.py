"""Checkpoints of the megatron backend: `dist_checkpointing` of the model and the distributed
optimizer every `checkpoint_every` steps into `<out_dir>.partial/iter_NNNNNNN/` plus the step,
the log and the RNG state (`state.json`); `latest.txt` names the latest complete one, from
which a rerun (Slurm retry after a time limit or pre-emption) resumes. `load_checkpoint`
works around megatron-core 0.16's handling of torch Adam's `step` (see there).
"""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import torch

log = logging.getLogger(__name__)

STATE = "state.json"
LATEST = "latest.txt"


def _sharded(raw_model, optimizer, *, loading: bool):
    meta = {"distrib_optim_sharding_type": "dp_reshardable"}
    msd = raw_model.sharded_state_dict(metadata=meta)
    return {"model": msd,
            "optimizer": optimizer.sharded_state_dict(msd, is_loading=loading, metadata=meta)}, meta


def save_checkpoint(partial: Path, raw_model, optimizer, state: dict) -> None:
    """dist_checkpointing of model + distributed optimizer, then the step marker (rank 0);
    a job killed mid-save leaves the previous complete checkpoint as the latest."""
    import torch.distributed as dist
    from megatron.core import dist_checkpointing

    step_dir = partial / f"iter_{state['step']:07d}"
    if dist.get_rank() == 0:
        shutil.rmtree(step_dir, ignore_errors=True)
        step_dir.mkdir(parents=True)
    dist.barrier()
    sd, meta = _sharded(raw_model, optimizer, loading=False)
    dist_checkpointing.save(sd, str(step_dir), content_metadata=meta)
    dist.barrier()
    if dist.get_rank() == 0:
        (step_dir / STATE).write_text(json.dumps(state))
        tmp = partial / (LATEST + ".tmp")
        tmp.write_text(step_dir.name)
        tmp.replace(partial / LATEST)
        for old in partial.glob("iter_*"):
            if old != step_dir:
                shutil.rmtree(old, ignore_errors=True)
    dist.barrier()


def load_checkpoint(partial: Path, raw_model, optimizer) -> dict | None:
    from megatron.core import dist_checkpointing

    if not (partial / LATEST).is_file():
        return None
    step_dir = partial / (partial / LATEST).read_text().strip()
    # With torch's Adam (no Apex/TE FusedAdam installed) megatron-core 0.16 reads the Adam
    # `step` from the optimizer state, which a fresh optimizer does not have yet: allocate it
    # with megatron's own dummy step (its values are overwritten by the load below).
    for opt in getattr(optimizer, "chained_optimizers", [optimizer]):
        inner = getattr(opt, "optimizer", None)
        if inner is not None and isinstance(inner, torch.optim.Adam | torch.optim.AdamW) \
                and not inner.state:
            opt._init_optimizer_states_with_dummy_values()
    sd, _ = _sharded(raw_model, optimizer, loading=True)
    loaded = dist_checkpointing.load(sd, str(step_dir))
    # no_grad: in fp32 training the distributed optimizer's main params are views of the
    # model's leaf parameters, which an in-place copy may only touch outside autograd
    with torch.no_grad():
        raw_model.load_state_dict(loaded["model"], strict=False)
        optimizer.load_state_dict(loaded["optimizer"])
    state = json.loads((step_dir / STATE).read_text())
    # ... and megatron-core 0.16 then restores that `step` from the template (the dummy step's
    # value, not the checkpoint's), shared by every parameter's state, which torch's Adam
    # increments in place once per parameter. Adam's step count is the number of optimizer
    # steps taken (every step is applied; a skipped one stops training), so set it per
    # parameter from the checkpoint's step.
    for opt in getattr(optimizer, "chained_optimizers", [optimizer]):
        inner = getattr(opt, "optimizer", None)
        for st in (getattr(inner, "state", None) or {}).values():
            if isinstance(st.get("step"), torch.Tensor):
                st["step"] = torch.full_like(st["step"], float(state["step"]))
    torch.set_rng_state(torch.tensor(state.pop("cpu_rng"), dtype=torch.uint8))
    log.info("resuming from %s at step %d", step_dir, state["step"])
    return state
