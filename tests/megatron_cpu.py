"""Test-only shims that let megatron-core 0.16 train on a CPU (gloo, world size 1).

megatron-core's model forward, `DistributedDataParallel`, `get_megatron_optimizer`, the
pipeline schedules and `dist_checkpointing` run on a CPU except for a few hard-coded CUDA
calls. These shims exist ONLY here, in the tests; `cptmix.train.megatron` itself is the code
that runs on the GPUs unchanged. What each one replaces, and why it is sound on one CPU rank:

1. `torch.cuda.current_device()` -> "cpu": buffers (rotary frequencies, DDP grad buffers) are
   placed on "the current device".
2. A torch function mode that rewrites `device="cuda"` arguments, `.cuda()`, `.to("cuda")`
   to the CPU, and answers `Tensor.type()` with the CUDA type name (the distributed optimizer
   checks `param.type() == "torch.cuda.FloatTensor"` to pick fp32 vs fp16 handling). The
   arithmetic is unchanged: only placement strings are rewritten.
3. `torch.cuda.synchronize()` -> no-op (no CUDA stream exists to wait for; checkpoint saving
   calls it after its device-to-host copies, which on a CPU are plain copies).
4. `model_parallel_cuda_manual_seed` -> seeds torch's CPU generator and installs megatron's
   own no-op RNG tracker (the "inference" tracker, whose `fork()` is a null context): the
   tracker keeps separate CUDA generator states per TP rank for dropout; with one rank and
   dropout 0 there is nothing to separate.
5. `get_default_causal_mask` -> the same upper-triangular mask built on the CPU (the local
   layer spec's softmax builds it with `device="cuda"` when no mask is passed).

Use `with cpu_megatron():` around everything megatron does; it undoes the patches on exit.
"""

from __future__ import annotations

import contextlib
from unittest import mock

import torch
from torch.overrides import TorchFunctionMode


def _cpu(device):
    if device is None:
        return None
    if isinstance(device, int) or str(device).startswith("cuda"):
        return "cpu"
    return device


class _CudaToCpu(TorchFunctionMode):
    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = dict(kwargs or {})
        if func is torch.Tensor.cuda:
            return args[0]
        if func is torch.Tensor.type and len(args) == 1 and not kwargs:
            return func(*args).replace("torch.", "torch.cuda.", 1)
        if "device" in kwargs:
            kwargs["device"] = _cpu(kwargs["device"])
        if (func is torch.Tensor.to and len(args) > 1
                and isinstance(args[1], (str, torch.device, int))):
            args = (args[0], _cpu(args[1]), *args[2:])
        return func(*args, **kwargs)


def _seed(seed, *args, **kwargs):
    from megatron.core.tensor_parallel import random as mrandom

    torch.manual_seed(seed)
    mrandom.initialize_rng_tracker(inference_rng_tracker=True, force_reset=True)


def _causal_mask(sq: int) -> torch.Tensor:
    return torch.triu(torch.ones(sq, sq), diagonal=1).bool()


@contextlib.contextmanager
def cpu_megatron():
    from megatron.core import tensor_parallel
    from megatron.core.fusions import fused_softmax
    from megatron.core.tensor_parallel import random as mrandom

    with contextlib.ExitStack() as stack:
        stack.enter_context(mock.patch.object(torch.cuda, "current_device", lambda: "cpu"))
        stack.enter_context(mock.patch.object(torch.cuda, "synchronize",
                                              lambda *a, **k: None))
        stack.enter_context(mock.patch.object(mrandom, "model_parallel_cuda_manual_seed", _seed))
        stack.enter_context(mock.patch.object(tensor_parallel, "model_parallel_cuda_manual_seed",
                                              _seed))
        stack.enter_context(mock.patch.object(fused_softmax, "get_default_causal_mask",
                                              _causal_mask))
        stack.enter_context(_CudaToCpu())
        _seed(0)
        yield
