"""`python -m cptmix.train.megatron` under the CPU shims of tests/megatron_cpu.py: the
entry point torchrun starts in the CPU launch test (tests/test_megatron.py)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from megatron_cpu import cpu_megatron

from cptmix.train.megatron.__main__ import main

if __name__ == "__main__":
    with cpu_megatron():
        sys.exit(main())
