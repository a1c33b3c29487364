#!/usr/bin/env python3
"""GPU benchmark of ibzoo's extraction against transformers (issue 9), run on the
CUDA machine by scripts/device/gpu_check.sh. Prints a markdown table and writes
gpu_bench.json to --out.

For each 1B shape (Llama 3.2: 16 layers, d 2048, 32 heads, 8 KV heads, FFN 8192;
Pythia: 16 layers, d 2048, 8 heads, rotary 0.25, FFN 8192) it makes a random-weight
model with transformers (bfloat16, saved with save_pretrained), then on the same
GPU in the same process tree measures, on sequences of SEQ tokens, BATCH per pass:
  - transformers: AutoModelForCausalLM forward with output_hidden_states=True
    (sdpa attention, bfloat16, inference mode) - what researchers run today - and
    the base model (no LM head) with output_hidden_states=True;
  - ibzoo forward: benchmarks/gpu_extract_bench "forward" (no LM head);
  - ibzoo assign: forward + the device's soft assignments, copied back, not written;
  - ibzoo extract: the extract stage: soft assignments of all 17 layers (float16, as
    storage.assignments auto stores them for a bfloat16 model; and again float32)
    written to the item's state.h5 with the positions' 8 n-gram label sets;
  - the FLOP ceiling: the measured bf16 matrix-product rate (8192^3), times
    tokens/s over FLOPs per token.
FLOPs per token (forward, no LM head) = 2 x (weights of the blocks) + attention
(2 products x 2 FLOPs x heads x head_dim x mean causal context (SEQ + 1) / 2).
"""
import argparse
import json
import os
import subprocess
import sys
import time

import torch
import transformers

SHAPES = {
    "llama-3.2-1b": ("llama", dict(
        vocab_size=128256, hidden_size=2048, intermediate_size=8192, num_hidden_layers=16,
        num_attention_heads=32, num_key_value_heads=8, head_dim=64, max_position_embeddings=131072,
        rms_norm_eps=1e-5, tie_word_embeddings=True, hidden_act="silu",
        rope_theta=500000.0,
        rope_scaling={"rope_type": "llama3", "factor": 32.0, "low_freq_factor": 1.0,
                      "high_freq_factor": 4.0, "original_max_position_embeddings": 8192})),
    "pythia-1b": ("gpt_neox", dict(
        vocab_size=50304, hidden_size=2048, intermediate_size=8192, num_hidden_layers=16,
        num_attention_heads=8, rotary_pct=0.25, max_position_embeddings=2048, rotary_emb_base=10000,
        use_parallel_residual=True, tie_word_embeddings=False, layer_norm_eps=1e-5, hidden_act="gelu")),
}


def log(*a):
    print(*a, flush=True)


def make_model(name, root):
    model_type, kw = SHAPES[name]
    path = os.path.join(root, name)
    config = transformers.AutoConfig.for_model(model_type, **kw)
    if model_type == "gpt_neox":  # transformers 5 keeps the rotary fraction in rope_parameters
        rp = getattr(config, "rope_parameters", None)
        if isinstance(rp, dict):
            rp["partial_rotary_factor"] = 0.25
        config.partial_rotary_factor = config.rotary_pct = 0.25
    log(name, {k: v for k, v in config.to_dict().items() if "rope" in k or "rot" in k})
    if not os.path.exists(os.path.join(path, "config.json")):
        torch.manual_seed(0)
        with torch.device("cuda"):
            model = transformers.AutoModelForCausalLM.from_config(config, dtype=torch.bfloat16,
                                                                  attn_implementation="sdpa")
        model.save_pretrained(path)
        del model
        torch.cuda.empty_cache()
    return path, config


def flops_per_token(config, seq):
    d = config.hidden_size
    heads = config.num_attention_heads
    hd = getattr(config, "head_dim", None) or d // heads
    kv = getattr(config, "num_key_value_heads", heads)
    ff = config.intermediate_size
    gated = config.model_type == "llama"
    per_layer = d * (heads * hd) + 2 * d * (kv * hd) + (heads * hd) * d + (3 if gated else 2) * d * ff
    attention = 2 * 2 * heads * hd * (seq + 1) / 2
    return config.num_hidden_layers * (2 * per_layer + attention)


def matmul_rate(n=8192, reps=20):
    a = torch.randn(n, n, device="cuda", dtype=torch.bfloat16)
    b = torch.randn(n, n, device="cuda", dtype=torch.bfloat16)
    for _ in range(3):
        a @ b
    torch.cuda.synchronize()
    t = time.perf_counter()
    for _ in range(reps):
        a @ b
    torch.cuda.synchronize()
    return 2 * n ** 3 * reps / (time.perf_counter() - t)


def time_transformers(path, config, batch, seq, n_batches, base):
    with torch.device("cuda"):
        model = transformers.AutoModelForCausalLM.from_pretrained(path, dtype=torch.bfloat16,
                                                                  attn_implementation="sdpa").cuda().eval()
    run = model.base_model if base else model
    g = torch.Generator(device="cuda").manual_seed(1)
    ids = torch.randint(0, config.vocab_size, (n_batches + 1, batch, seq), device="cuda", generator=g)
    with torch.inference_mode():
        out = run(input_ids=ids[0], output_hidden_states=True)
        assert len(out.hidden_states) == config.num_hidden_layers + 1
        del out
        torch.cuda.synchronize()
        t = time.perf_counter()
        for i in range(1, n_batches + 1):
            out = run(input_ids=ids[i], output_hidden_states=True)
            del out
        torch.cuda.synchronize()
        seconds = time.perf_counter() - t
    del model
    torch.cuda.empty_cache()
    return n_batches * batch * seq / seconds


def time_ibzoo(bench, path, batch, seq, n_batches, threads):
    cmd = [bench, path, "cuda", "bfloat16", str(batch), str(seq), str(n_batches), str(threads)]
    log("+", " ".join(cmd))
    p = subprocess.run(cmd, capture_output=True, text=True)
    sys.stderr.write(p.stderr[-3000:])
    if p.returncode != 0:
        raise SystemExit(f"gpu_extract_bench failed ({p.returncode})")
    return {r["mode"]: r for r in (json.loads(line) for line in p.stdout.splitlines() if line.startswith("{"))}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bench", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--models", default="/tmp/ibzoo_bench_models")
    ap.add_argument("--shapes", default="llama-3.2-1b,pythia-1b")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--seq", type=int, default=512)
    ap.add_argument("--n-batches", type=int, default=10)
    ap.add_argument("--threads", type=int, default=max(1, (os.cpu_count() or 2) - 2))
    args = ap.parse_args()
    torch.backends.cuda.matmul.allow_tf32 = False

    rate = matmul_rate()
    gpu = torch.cuda.get_device_name()
    log(f"{gpu}: bf16 matrix product {rate / 1e12:.0f} TFLOP/s (8192^3); torch {torch.__version__}, "
        f"transformers {transformers.__version__}")
    rows = []
    for name in args.shapes.split(","):
        path, config = make_model(name, args.models)
        fpt = flops_per_token(config, args.seq)
        hf = time_transformers(path, config, args.batch, args.seq, args.n_batches, base=False)
        hf_base = time_transformers(path, config, args.batch, args.seq, args.n_batches, base=True)
        ours = time_ibzoo(args.bench, path, args.batch, args.seq, args.n_batches, args.threads)
        fwd = ours["forward"]["tokens_per_s"]
        ext = ours["extract"]["tokens_per_s"]
        ext32 = ours["extract_float32"]["tokens_per_s"]
        assign = ours["assign"]["tokens_per_s"]
        row = dict(model=name, batch=args.batch, seq=args.seq, flops_per_token=fpt,
                   transformers_causal_lm=hf, transformers_base=hf_base, ibzoo_forward=fwd, ibzoo_extract=ext,
                   ibzoo_assign=assign, ibzoo_extract_float32=ext32,
                   speedup_vs_causal_lm=fwd / hf, speedup_vs_base=fwd / hf_base,
                   estimator_overhead=fwd / ext - 1.0, device_kernel_overhead=fwd / assign - 1.0,
                   estimator_overhead_float32=fwd / ext32 - 1.0, flop_ceiling_forward=fwd * fpt / rate,
                   flop_ceiling_extract=ext * fpt / rate, extract=ours["extract"],
                   extract_float32=ours["extract_float32"], load_s=ours["forward"]["load_s"])
        rows.append(row)
        log(json.dumps(row))
    result = dict(gpu=gpu, matmul_tflops=rate / 1e12, torch=torch.__version__, transformers=transformers.__version__,
                  rows=rows)
    with open(os.path.join(args.out, "gpu_bench.json"), "w") as f:
        json.dump(result, f, indent=1)
    log("")
    log(f"GPU: {gpu}; bf16 matrix product {rate / 1e12:.0f} TFLOP/s; batch {args.batch} x {args.seq} tokens; "
        f"tokens/s")
    log("| model | transformers CausalLM + hidden states | transformers base + hidden states | ibzoo forward | "
        "ibzoo forward / CausalLM | ibzoo extract + estimate (17 layers, 8 label sets, float16 p) | "
        "estimator overhead | of which the device kernel | with float32 p | FLOP ceiling (forward / extract) |")
    log("|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        log(f"| {r['model']} | {r['transformers_causal_lm']:,.0f} | {r['transformers_base']:,.0f} | "
            f"{r['ibzoo_forward']:,.0f} | {r['speedup_vs_causal_lm']:.2f}x (base {r['speedup_vs_base']:.2f}x) | "
            f"{r['ibzoo_extract']:,.0f} | {100 * r['estimator_overhead']:.1f}% | "
            f"{100 * r['device_kernel_overhead']:.1f}% | {100 * r['estimator_overhead_float32']:.1f}% | "
            f"{100 * r['flop_ceiling_forward']:.0f}% / {100 * r['flop_ceiling_extract']:.0f}% |")

if __name__ == "__main__":
    main()
