"""`python -m cptmix.train.megatron`: the megatron backend's command line.

  train --job JOB.json            one rank of a training job (started by torchrun)
  launch --job JOB.json           start all ranks of a job: torchrun, via srun on several nodes
  to-megatron HF_DIR OUT          HF Llama checkpoint -> full megatron state dict (safetensors)
  to-hf MEGATRON HF_CONFIG_DIR OUT  full megatron state dict -> HF checkpoint directory
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m cptmix.train.megatron", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("train", help="run one rank of a CPT/SFT job (under torchrun)")
    t.add_argument("--job", required=True, type=Path, help="job spec JSON (see loop.train)")
    la = sub.add_parser("launch", help="start every rank of a job with torchrun (srun if >1 node)")
    la.add_argument("--job", required=True, type=Path)
    la.add_argument("--dry-run", action="store_true", help="print the command, start nothing")
    c = sub.add_parser("to-megatron", help="HF Llama directory -> megatron state dict")
    c.add_argument("hf_dir", type=Path)
    c.add_argument("out", type=Path, help="output .safetensors")
    c.add_argument("--tensor-parallel", type=int, default=1,
                   help="pad the vocabulary for this TP size (default 1)")
    b = sub.add_parser("to-hf", help="megatron state dict -> HF Llama directory")
    b.add_argument("megatron", type=Path, help="full megatron state dict (.safetensors)")
    b.add_argument("hf_config_dir", type=Path, help="directory with the HF config.json")
    b.add_argument("out", type=Path, help="output HF directory")
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    if args.cmd == "train":
        from cptmix.train.megatron.loop import train

        train(json.loads(args.job.read_text(encoding="utf-8")))
    elif args.cmd == "launch":
        from cptmix.train.megatron import launch

        job = json.loads(args.job.read_text(encoding="utf-8"))
        if args.dry_run:
            nodes, gpn, _ = launch.allocation(job["hp"])
            print(" ".join(launch.command(args.job, nodes=nodes, gpus_per_node=gpn,
                                          head="FIRST_NODE" if nodes > 1 else None)))
        else:
            launch.run_job(job, args.job)
    elif args.cmd == "to-megatron":
        from cptmix.train.megatron.convert import convert_hf_dir

        shapes = convert_hf_dir(args.hf_dir, args.out, tensor_parallel=args.tensor_parallel)
        print(f"{args.out}: {len(shapes)} tensors")
    elif args.cmd == "to-hf":
        from safetensors.torch import load_file

        from cptmix.io import atomic_path
        from cptmix.train.megatron import convert

        cfg = convert.load_hf_config(args.hf_config_dir)
        hf = convert.megatron_to_hf(load_file(str(args.megatron)), cfg)
        with atomic_path(args.out) as tmp:
            convert.save_hf_checkpoint(hf, cfg, tmp)
        print(f"{args.out}: {len(hf)} tensors")
    return 0


if __name__ == "__main__":
    sys.exit(main())
