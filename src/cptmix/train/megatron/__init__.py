"""The `megatron` training backend (megatron-core 0.16): HF Llama ⇄ GPTModel conversion
(`convert`), the torchrun training entry point (`train`, `python -m cptmix.train.megatron`),
its torchrun/srun command line (`launch`) and its data pieces (`data`). megatron-core is an
optional dependency (the `megatron` extra); importing this package does not import it."""
