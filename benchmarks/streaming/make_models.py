#!/usr/bin/env python3
"""Random-weight bfloat16 checkpoints of the benchmark's shapes, saved with transformers'
save_pretrained (the Hugging Face layout ibzoo and the peer both load), on the CUDA
machine. Each checkpoint of a shape has its own seed. The vocabulary holds at least the
benchmark tokenizer's 32,768 tokens.

  make_models.py --shape llama-3.2-1b --checkpoints 2 --out DIR   ->  DIR/<shape>/ckpt<k>/
"""
import argparse
import os
import time

import torch
import transformers

LLAMA3_ROPE = {"rope_type": "llama3", "factor": 32.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
               "original_max_position_embeddings": 8192}
SHAPES = {
    "llama-3.2-1b": ("llama", dict(
        vocab_size=128256, hidden_size=2048, intermediate_size=8192, num_hidden_layers=16,
        num_attention_heads=32, num_key_value_heads=8, head_dim=64, max_position_embeddings=131072,
        rms_norm_eps=1e-5, tie_word_embeddings=True, hidden_act="silu", rope_theta=500000.0,
        rope_scaling=LLAMA3_ROPE)),
    "pythia-1b": ("gpt_neox", dict(
        vocab_size=50304, hidden_size=2048, intermediate_size=8192, num_hidden_layers=16,
        num_attention_heads=8, rotary_pct=0.25, max_position_embeddings=2048, rotary_emb_base=10000,
        use_parallel_residual=True, tie_word_embeddings=False, layer_norm_eps=1e-5, hidden_act="gelu")),
    # Llama 2 7B's layout; its vocabulary raised from 32,000 to the tokenizer's 32,768.
    "llama-2-7b": ("llama", dict(
        vocab_size=32768, hidden_size=4096, intermediate_size=11008, num_hidden_layers=32,
        num_attention_heads=32, num_key_value_heads=32, max_position_embeddings=4096,
        rms_norm_eps=1e-5, tie_word_embeddings=False, hidden_act="silu", rope_theta=10000.0)),
}


def config_of(name):
    model_type, kw = SHAPES[name]
    config = transformers.AutoConfig.for_model(model_type, **kw)
    if model_type == "gpt_neox":  # transformers 5 keeps the rotary fraction in rope_parameters
        rp = getattr(config, "rope_parameters", None)
        if isinstance(rp, dict):
            rp["partial_rotary_factor"] = 0.25
        config.partial_rotary_factor = config.rotary_pct = 0.25
    return config


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--shape", required=True, choices=sorted(SHAPES))
    ap.add_argument("--checkpoints", type=int, default=2)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    config = config_of(a.shape)
    for k in range(a.checkpoints):
        path = os.path.join(a.out, a.shape, f"ckpt{k}")
        if os.path.exists(os.path.join(path, "config.json")):
            continue
        t = time.time()
        torch.manual_seed(1000 + k)
        with torch.device("cuda"):
            model = transformers.AutoModelForCausalLM.from_config(config, dtype=torch.bfloat16)
        model.save_pretrained(path)
        del model
        torch.cuda.empty_cache()
        print(f"make_models: {a.shape} ckpt{k} in {time.time() - t:.1f} s -> {path}", flush=True)


if __name__ == "__main__":
    main()
