#!/usr/bin/env python3
"""Checks the reproduction zoo against transformers and an independent torch estimator.

Run ON THE CUDA MACHINE after scripts/repro.sh OUT (docs/REPRODUCTION.md), from the
repository root:
    python3 scripts/device/check_repro.py OUT --ibzoo build-cuda/cli/ibzoo

For two checkpoints of every model (its last layer's fitting peak and its best held-out
loss, from OUT/study/report/phases_layers.csv; else the middle and the last checkpoint):

1. hidden states: `ibzoo extract` (float32, the study's device) and transformers'
   AutoModelForCausalLM (float32, TF32 off, output_hidden_states) on the first study
   documents: identical token ids (tokenizers' tokenizer.json vs ibzoo's), and every
   layer's relative L2 error below --tol (1e-4);
2. estimates: an independent soft-entropy estimate written here in torch (W and eps from
   the run's reference_points/, labels rebuilt from the run's token ids, float32
   assignments, float64 sums, frequency weighting, the reference's 1e-9 clip) over the
   whole study sample, from transformers' hidden states, against ibzoo's metrics.csv
   (entropy and I(X;Z), I(Y;Z) for orders 1-4, every layer): largest absolute difference
   below --tol (in units of log m).

Prints one PASS or FAIL line per check with its numbers, then a summary; exit code 0 when
every check passes. Needs torch, transformers, tokenizers, h5py, numpy.
"""
import argparse
import csv
import glob
import json
import math
import os
import subprocess
import sys

import h5py
import numpy as np
import torch


def load_model(path, device):
    from transformers import AutoModelForCausalLM
    try:
        model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32, attn_implementation="eager")
    except TypeError:
        model = AutoModelForCausalLM.from_pretrained(path, torch_dtype=torch.float32, attn_implementation="eager")
    return model.to(device).eval()


def rel_err(a, b):
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    return float(np.linalg.norm(a - b) / max(np.linalg.norm(b), 1e-30))


def pick_checkpoints(out, model):
    """The last layer's peak and best-loss checkpoints, else the middle and the last."""
    zoo = json.load(open(os.path.join(out, "zoo", "zoo.json")))
    ckpts = next(m["checkpoints"] for m in zoo["models"] if m["id"] == model)
    by_step = {c["step"]: c for c in ckpts}
    chosen = []
    phases = os.path.join(out, "study", "report", "phases_layers.csv")
    if os.path.exists(phases):
        rows = [r for r in csv.DictReader(open(phases)) if r["model"] == model]
        if rows:
            last = max(rows, key=lambda r: int(r["layer"]))
            for key in ("peak_step", "best_step"):
                if last[key] and int(last[key]) in by_step and by_step[int(last[key])] not in chosen:
                    chosen.append(by_step[int(last[key])])
    for c in (ckpts[len(ckpts) // 2], ckpts[-1]):
        if len(chosen) < 2 and c not in chosen:
            chosen.append(c)
    return chosen


def study_documents(out):
    """The study's documents as ibzoo tokenized them (tokens/<text_id>.h5)."""
    files = glob.glob(os.path.join(out, "study", "tokens", "*.h5"))
    if len(files) != 1:
        raise SystemExit(f"expected one token file under {out}/study/tokens, found {len(files)}")
    with h5py.File(files[0], "r") as f:
        tokens = f["/tokens"][...]
        offsets = f["/doc_offsets"][...]
    return [tokens[offsets[k]:offsets[k + 1]].astype(np.int64) for k in range(len(offsets) - 1)]


def reference_points(out, dim):
    with h5py.File(os.path.join(out, "study", "reference_points", f"d{dim}.h5"), "r") as f:
        w = f["/w"][...].astype(np.float64)
        eps = float(f["/w"].attrs["eps"])
    w /= np.linalg.norm(w, axis=1, keepdims=True)
    return w.astype(np.float32), eps


def special_ids(tokenizer_json):
    j = json.load(open(tokenizer_json))
    return {t["id"] for t in j.get("added_tokens", []) if t.get("special", False)}


def labels(docs, max_order, specials):
    """Every used position's label tuples: X_n = tokens i-n+1..i, Y_n = tokens i+1..i+n for
    n = 1..max_order, at i = N-1 .. len-N-1 of each document (N = max_order), skipping
    positions whose n-grams touch a special token. Returns (doc, position) pairs and, per
    set name, a list of tuples."""
    n = max_order
    where, sets = [], {f"{kind}{o}": [] for kind in ("in", "out") for o in range(1, n + 1)}
    for d, t in enumerate(docs):
        t = t.tolist()
        for i in range(n - 1, len(t) - n):
            window = t[i - n + 1:i + n + 1]
            if specials and any(x in specials for x in window):
                continue
            where.append((d, i))
            for o in range(1, n + 1):
                sets[f"in{o}"].append(tuple(t[i - o + 1:i + 1]))
                sets[f"out{o}"].append(tuple(t[i + 1:i + 1 + o]))
    return where, sets


def entropy(mass):
    q = mass / mass.sum()
    return float(-(q * torch.log(torch.clamp(q, min=1e-9))).sum())


def label_ids(sets, device):
    """Each set's labels as dense ids (one per distinct tuple), once for every layer and checkpoint."""
    out = {}
    for name, labs in sets.items():
        index = {}
        ids = [index.setdefault(x, len(index)) for x in labs]
        out[name] = (torch.tensor(ids, device=device), len(index))
    return out


def estimate(p, ids_by_set, m):
    """Entropy and frequency-weighted I(X;Z) (units of log m) of one layer's assignments p [n, m]."""
    p64 = p.to(torch.float64)
    h = entropy(p64.sum(0))
    res = {"entropy": h / math.log(m)}
    n = p64.shape[0]
    for name, (ids, n_labels) in ids_by_set.items():
        mass = torch.zeros(n_labels, p64.shape[1], dtype=torch.float64, device=p.device).index_add_(0, ids, p64)
        counts = torch.bincount(ids, minlength=n_labels).to(torch.float64)
        q = mass / mass.sum(1, keepdim=True)
        h_rows = -(q * torch.log(torch.clamp(q, min=1e-9))).sum(1)
        res[name] = (h - float((counts / n * h_rows).sum())) / math.log(m)
    return res


def hidden_states(model, docs, device, batch=32):
    """transformers' hidden states of every document, unpadded: [layers][doc] -> [T, d]."""
    out = None
    for s in range(0, len(docs), batch):
        chunk = docs[s:s + batch]
        width = max(len(d) for d in chunk)
        ids = torch.zeros(len(chunk), width, dtype=torch.long)
        mask = torch.zeros(len(chunk), width, dtype=torch.long)
        for k, d in enumerate(chunk):
            ids[k, :len(d)] = torch.from_numpy(d)
            mask[k, :len(d)] = 1
        with torch.no_grad():
            hs = model(ids.to(device), attention_mask=mask.to(device), output_hidden_states=True).hidden_states
        if out is None:
            out = [[] for _ in hs]
        for layer, h in enumerate(hs):
            for k, d in enumerate(chunk):
                out[layer].append(h[k, :len(d)].float())
    return out


def ibzoo_metrics(out, model, checkpoint):
    rows = {}
    with open(os.path.join(out, "study", "results", "metrics.csv")) as f:
        for r in csv.DictReader(f):
            if r["model"] == model and r["checkpoint"] == checkpoint and r["scope"] == "layer":
                key = "entropy" if r["metric"] == "entropy" else r["label_set"] if r["metric"] == "mutual_information" else None
                if key:
                    rows[(int(r["layer"]), key)] = float(r["value"])
    return rows


def check_hidden_states(args, model_id, ckpt, hf, device, text):
    path = ckpt["path"]
    h5 = os.path.join(args.work, f"{model_id}-{ckpt['name']}.h5")
    txt = os.path.join(args.work, "text.txt")
    with open(txt, "w", encoding="utf-8") as f:
        f.write(text)
    run = subprocess.run([args.ibzoo, "extract", "--model", path, "--text-file", txt, "--out", h5, "--device",
                          args.device, "--dtype", "float32"], capture_output=True, text=True)
    if run.returncode != 0:
        return False, f"ibzoo extract failed (exit {run.returncode}): {run.stderr.strip()[-400:]}"
    from tokenizers import Tokenizer
    ids = Tokenizer.from_file(os.path.join(path, "tokenizer.json")).encode(text, add_special_tokens=False).ids
    with h5py.File(h5, "r") as f:
        ours_ids = f["/input_ids"][...].reshape(-1).tolist()
        ours = f["/hidden_states"][...]
    if ours_ids != ids:
        return False, f"token ids differ (ibzoo {len(ours_ids)}, tokenizers {len(ids)})"
    with torch.no_grad():
        hs = hf(torch.tensor([ids], device=device), output_hidden_states=True).hidden_states
    errs = [rel_err(ours[i].reshape(h.shape[1:]), h[0].double().cpu().numpy()) for i, h in enumerate(hs)]
    worst = max(errs)
    return worst <= args.tol, (f"max relative error {worst:.2e} over {len(errs)} hidden states "
                               f"(per layer: {', '.join(f'{e:.1e}' for e in errs)}), {len(ids)} identical token ids")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out", help="the OUT_DIR of scripts/repro.sh")
    ap.add_argument("--ibzoo", default="build-cuda/cli/ibzoo")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--tol", type=float, default=1e-4)
    ap.add_argument("--work", default=None, help="scratch directory (default OUT/check)")
    args = ap.parse_args()
    args.work = args.work or os.path.join(args.out, "check")
    os.makedirs(args.work, exist_ok=True)
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    device = torch.device(args.device)
    zoo = json.load(open(os.path.join(args.out, "zoo", "zoo.json")))
    docs = study_documents(args.out)
    specials = special_ids(os.path.join(args.out, "zoo", "tokenizer", "tokenizer.json"))
    where, sets = labels(docs, 4, specials)
    ids_by_set = label_ids(sets, device)
    study_text = open(os.path.join(args.out, "zoo", "text", "study.txt"), encoding="utf-8").read().split("\n\n")
    text = "\n\n".join(p.strip() for p in study_text[:2])
    results = []
    for m in zoo["models"]:
        for ckpt in pick_checkpoints(args.out, m["id"]):
            tag = f"{m['id']} {ckpt['name']}"
            hf = load_model(ckpt["path"], device)
            ok, msg = check_hidden_states(args, m["id"], ckpt, hf, device, text)
            results.append(ok)
            print(f"{'PASS' if ok else 'FAIL'} hidden states {tag}: {msg} (tol {args.tol:g})", flush=True)
            hs = hidden_states(hf, docs, device)
            w, eps = reference_points(args.out, hf.config.hidden_size)
            wt = torch.from_numpy(w).to(device)
            ours = ibzoo_metrics(args.out, m["id"], ckpt["name"])
            worst, where_worst, n = 0.0, "", 0
            starts = np.cumsum([0] + [len(d) for d in docs])
            flat = torch.tensor([starts[d] + i for d, i in where], device=device)
            for layer, per_doc in enumerate(hs):
                z = torch.cat(per_doc).index_select(0, flat)
                z = z / z.norm(dim=1, keepdim=True)
                p = torch.softmax((z @ wt.T) / eps, dim=1)
                est = estimate(p, ids_by_set, w.shape[0])
                for key, v in est.items():
                    if (layer, key) not in ours:
                        continue
                    n += 1
                    d = abs(ours[(layer, key)] - v)
                    if d > worst:
                        worst, where_worst = d, f"layer {layer} {key}: ibzoo {ours[(layer, key)]:.6f}, torch {v:.6f}"
            ok = n > 0 and worst <= args.tol
            results.append(ok)
            print(f"{'PASS' if ok else 'FAIL'} estimate {tag}: largest |ibzoo - torch| {worst:.2e} over {n} values "
                  f"({len(where)} positions, {len(hs)} layers, entropy and I for in1-4/out1-4; worst {where_worst}) "
                  f"(tol {args.tol:g})", flush=True)
            del hf
            if device.type == "cuda":
                torch.cuda.empty_cache()
    print(f"check_repro: {sum(results)} of {len(results)} checks passed")
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main())
