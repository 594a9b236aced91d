"""The `megatron` training backend (megatron-core 0.16): HF Llama ⇄ GPTModel conversion
(`convert`), the model, its parallel layout and optimizer (`model`), checkpoints and resuming
(`checkpoint`), the training loop that every torchrun rank runs (`loop`, started by
`python -m cptmix.train.megatron train`), its torchrun/srun command line and the workflow's
entry points `run_cpt` / `run_sft` (`launch`), and its data pieces (`data`). megatron-core is
an optional dependency (the `megatron` extra); importing this package does not import it."""
