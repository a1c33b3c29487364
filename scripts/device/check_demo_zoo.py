#!/usr/bin/env python3
"""Checks that every checkpoint of the demo zoo loads in transformers and matches ibzoo.

For each checkpoint directory under ZOO/models/*/step-*:
  - tokenizers: the ids of TEXT from tokenizer.json equal ibzoo's /input_ids,
  - transformers: AutoModelForCausalLM.from_pretrained(dir) (float32, eager attention)
    gives logits and hidden states within --tol relative L2 error of ibzoo's,
where ibzoo's outputs come from (run first, on the machine that has ibzoo):
  ibzoo extract --model DIR --text-file TEXT --out DIR/ibzoo_extract.h5 --logits
e.g.  for d in runs/demo/zoo/models/*/step-*; do build/cli/ibzoo extract --model $d \\
        --text-file runs/demo/zoo/text/heldout.txt.head --out $d/ibzoo_extract.h5 --logits; done
Exit code 0 when all match, 1 otherwise. Needs torch, transformers, tokenizers, h5py, numpy.

usage: check_demo_zoo.py ZOO_DIR TEXT_FILE [--tol 1e-4] [--extract-name ibzoo_extract.h5]
"""
import argparse
import glob
import os
import sys

import h5py
import numpy as np
import torch
from tokenizers import Tokenizer
from transformers import AutoModelForCausalLM


def rel_err(a, b):
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    return float(np.linalg.norm(a - b) / max(np.linalg.norm(b), 1e-30))


def check(dir_, text, tol, extract_name):
    path = os.path.join(dir_, extract_name)
    if not os.path.exists(path):
        return [f"{path} missing: run ibzoo extract --logits first"]
    problems = []
    ids = Tokenizer.from_file(os.path.join(dir_, "tokenizer.json")).encode(text, add_special_tokens=False).ids
    with h5py.File(path, "r") as f:
        ours_ids = f["/input_ids"][...].reshape(-1).tolist()
        ours_logits = f["/logits"][...]
        ours_hidden = f["/hidden_states"][...] if "/hidden_states" in f else None
    if ours_ids != ids:
        problems.append(f"{dir_}: token ids differ (ibzoo {len(ours_ids)}, tokenizers {len(ids)})")
        return problems
    model = AutoModelForCausalLM.from_pretrained(dir_, torch_dtype=torch.float32, attn_implementation="eager")
    model.eval()
    with torch.no_grad():
        out = model(torch.tensor([ids]), output_hidden_states=True)
    e = rel_err(ours_logits.reshape(out.logits.shape[1:]), out.logits[0].numpy())
    if e > tol:
        problems.append(f"{dir_}: logits relative error {e:.2e} > {tol}")
    if ours_hidden is not None:
        for i, h in enumerate(out.hidden_states):
            eh = rel_err(ours_hidden[i].reshape(h.shape[1:]), h[0].numpy())
            if eh > tol:
                problems.append(f"{dir_}: hidden state {i} relative error {eh:.2e} > {tol}")
    print(f"{dir_}: {model.config.model_type}, {len(ids)} tokens, logits rel err {e:.2e}")
    return problems


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("zoo")
    ap.add_argument("text_file")
    ap.add_argument("--tol", type=float, default=1e-4)
    ap.add_argument("--extract-name", default="ibzoo_extract.h5")
    args = ap.parse_args()
    text = open(args.text_file, encoding="utf-8").read()
    dirs = sorted(glob.glob(os.path.join(args.zoo, "models", "*", "step-*")))
    if not dirs:
        print(f"no checkpoints under {args.zoo}/models/*/step-*", file=sys.stderr)
        return 1
    problems = []
    for d in dirs:
        problems += check(d, text, args.tol, args.extract_name)
    for p in problems:
        print("MISMATCH", p, file=sys.stderr)
    print(f"{len(dirs)} checkpoints, {len(problems)} problems")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
