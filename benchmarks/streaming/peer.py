#!/usr/bin/env python3
"""The peer of ibzoo's streaming benchmark: what a researcher would write in an afternoon
to get the same numbers with the usual tools. transformers runs every checkpoint with
output_hidden_states=True (bfloat16, sdpa); torch computes each layer's soft assignments
on the GPU and adds them with index_add_ into per-label tables (recurring labels only;
singletons folded into scalars); numpy builds the n-gram labels. It uses ibzoo's W and eps
(reference_points/d<dim>.h5 of the ibzoo run), the same documents, tokenizer, positions,
labels and shuffled nulls (the same SplitMix64 permutation), so every entropy and MI must
agree with ibzoo's within rounding.

  peer.py --corpus C --n-documents N --min-tokens A --max-tokens B --tokenizer T \
          --reference-points W.h5 --model NAME=DIR [--model ...] --out peer.csv \
          [--table-dtype float64]

Writes peer.csv (checkpoint, layer, label_set, metric, value; metrics entropy,
mutual_information, null_mutual_information) and prints its wall time. Also usable
without transformers (--self-test) to check the label and estimator code against ibzoo's
`entropy` command on random representations.
"""
import argparse
import csv
import math
import sys
import time

T_START = time.time()

import numpy as np  # noqa: E402
import torch  # noqa: E402

GAMMA = np.uint64(0x9E3779B97F4A7C15)
M1 = np.uint64(0xBF58476D1CE4E5B9)
M2 = np.uint64(0x94D049BB133111EB)


def splitmix64(x):
    """ibzoo's splitmix64(x) (analysis/reference_points.cpp) on uint64 numpy values."""
    with np.errstate(over="ignore"):
        z = x + GAMMA
        z = (z ^ (z >> np.uint64(30))) * M1
        z = (z ^ (z >> np.uint64(27))) * M2
        return z ^ (z >> np.uint64(31))


def read_documents(path, n):
    """ibzoo's paragraph split (io/corpus.cpp): blank lines separate documents."""
    docs, cur = [], []
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.rstrip("\r\n").rstrip(" \t")
            if line.strip() == "":
                if cur:
                    docs.append("\n".join(cur))
                    cur = []
            else:
                cur.append(line)
    if cur:
        docs.append("\n".join(cur))
    return docs[:n] if n > 0 else docs


def positions_of(lengths, max_order):
    """Per kept document of length L: token positions N-1 .. L-N-1 (N = max order)."""
    pos_doc, pos_tok = [], []
    for k, L in enumerate(lengths):
        idx = np.arange(max_order - 1, L - max_order, dtype=np.int64)
        pos_doc.append(np.full(idx.shape, k, dtype=np.int64))
        pos_tok.append(idx)
    return np.concatenate(pos_doc), np.concatenate(pos_tok)


def label_ids(tuples):
    """Rows of equal tuples -> (id per position: row >= 0 or -1 for a label seen once, rows' counts)."""
    _, inverse, counts = np.unique(tuples, axis=0, return_inverse=True, return_counts=True)
    inverse = inverse.reshape(-1)
    recurring = counts >= 2
    row_of_label = np.cumsum(recurring) - 1
    ids = np.where(recurring[inverse], row_of_label[inverse], -1)
    return ids.astype(np.int64), counts[recurring].astype(np.int64)


def shuffled(ids, doc_ids_of_positions, seed):
    """ibzoo's shuffle_within_documents: Fisher-Yates per document, vectorised over documents."""
    out = ids.copy()
    docs, starts, sizes = np.unique(doc_ids_of_positions, return_index=True, return_counts=True)
    state = splitmix64(np.uint64(seed)) ^ splitmix64(docs.astype(np.uint64))
    for k in range(int(sizes.max()), 1, -1):
        active = sizes >= k
        if not active.any():
            continue
        s = splitmix64(state[active])
        state[active] = s
        j = (s % np.uint64(k)).astype(np.int64)
        a = starts[active] + k - 1
        b = starts[active] + j
        out[a], out[b] = out[b].copy(), out[a].copy()
    return out


def build_labels(docs_tokens, doc_ids, orders, seed):
    """Label sets in ibzoo's order: in1..inN, out1..outN, then their nulls."""
    max_order = max(orders)
    lengths = [len(t) for t in docs_tokens]
    pos_doc, pos_tok = positions_of(lengths, max_order)
    flat = np.concatenate([np.asarray(t, dtype=np.int64) for t in docs_tokens])
    offsets = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
    flat_idx = offsets[pos_doc] + pos_tok
    sets = []
    for direction in ("in", "out"):
        for n in orders:
            first = 1 - n if direction == "in" else 1
            tuples = np.stack([flat[flat_idx + first + k] for k in range(n)], axis=1)
            ids, counts = label_ids(tuples)
            sets.append((f"{direction}{n}", ids, counts))
    pos_doc_ids = np.asarray(doc_ids, dtype=np.int64)[pos_doc]
    nulls = [(name + ".null", shuffled(ids, pos_doc_ids, seed), counts) for name, ids, counts in sets]
    return sets + nulls, pos_doc, pos_tok, pos_doc_ids


class Tables:
    """One checkpoint's per-label tables on the device: every layer, every set."""

    def __init__(self, sets, n_layers, m, device, dtype=torch.float32):
        self.sets = sets
        self.m = m
        self.device = device
        self.total = torch.zeros(n_layers, m, dtype=torch.float64, device=device)
        self.n = 0
        self.tables = [[torch.zeros(len(counts), m, dtype=dtype, device=device) for _, _, counts in sets]
                       for _ in range(n_layers)]
        self.single_h = torch.zeros(n_layers, len(sets), dtype=torch.float64, device=device)
        self.ids = [torch.as_tensor(ids, device=device) for _, ids, _ in sets]
        self.counts = [torch.as_tensor(counts, dtype=torch.float64, device=device) for _, _, counts in sets]
        self.n_single = [int((ids < 0).sum()) for _, ids, _ in sets]

    def add(self, layer, p, positions):
        """p: float32 [n, m] soft assignments of the global positions `positions` (device tensor)."""
        self.total[layer] += p.sum(0, dtype=torch.float64)
        if layer == 0:
            self.n += p.shape[0]
        p64 = p.double()
        q = p64 / p64.sum(1, keepdim=True)
        h = -(q * torch.log(q.clamp_min(1e-9))).sum(1)
        for s, ids in enumerate(self.ids):
            lab = ids[positions]
            keep = lab >= 0
            self.tables[layer][s].index_add_(0, lab[keep], p[keep].to(self.tables[layer][s].dtype))
            self.single_h[layer, s] += h[~keep].sum()

    def estimates(self):
        log_m = math.log(self.m)
        out = []
        for layer, tables in enumerate(self.tables):
            t = self.total[layer]
            q = t / t.sum()
            h_z = float(-(q * torch.log(q.clamp_min(1e-9))).sum()) / log_m
            mi = {}
            for s, (name, _, _) in enumerate(self.sets):
                rows = tables[s].double()
                qr = rows / rows.sum(1, keepdim=True)
                h_rows = -(qr * torch.log(qr.clamp_min(1e-9))).sum(1)
                weighted = float((self.counts[s] * h_rows).sum()) + float(self.single_h[layer, s])
                cond = weighted / (float(self.counts[s].sum()) + self.n_single[s])
                mi[name] = h_z - cond / log_m
            out.append((h_z, mi))
        return out


def soft_assign(z, w_t):
    """softmax(cos(z, w) / eps): w_t is (W / eps) transposed, float32 on the device."""
    z = z.float()
    scores = (z @ w_t) / z.norm(dim=1, keepdim=True)
    return torch.softmax(scores, dim=-1)


def write_rows(writer, checkpoint, estimates):
    for layer, (h_z, mi) in enumerate(estimates):
        writer.writerow([checkpoint, layer, "", "entropy", repr(h_z)])
        for name, v in mi.items():
            if name.endswith(".null"):
                writer.writerow([checkpoint, layer, name[:-5], "null_mutual_information", repr(v)])
            else:
                writer.writerow([checkpoint, layer, name, "mutual_information", repr(v)])


def run_models(a):
    import h5py
    import transformers
    from tokenizers import Tokenizer
    docs = read_documents(a.corpus, a.n_documents)
    tok = Tokenizer.from_file(a.tokenizer)
    encs = tok.encode_batch(docs, add_special_tokens=False)
    tokens, doc_ids = [], []
    for k, e in enumerate(encs):
        ids = e.ids[:a.max_tokens]
        if len(ids) >= a.min_tokens:
            tokens.append(ids)
            doc_ids.append(k)
    sets, pos_doc, pos_tok, _ = build_labels(tokens, doc_ids, a.orders, a.seed)
    t_labels = time.time()
    with h5py.File(a.reference_points, "r") as f:
        w = torch.as_tensor(f["/w"][...], dtype=torch.float32)
        eps = float(f["/w"].attrs["eps"])
    device = torch.device("cuda")
    w_t = (w.double() / eps).float().t().contiguous().to(device)
    # Documents longest first (little padding), batches of about --batch-tokens tokens.
    order = sorted(range(len(tokens)), key=lambda k: -len(tokens[k]))
    first_pos = np.searchsorted(pos_doc, np.arange(len(tokens)))
    n_pos = np.bincount(pos_doc, minlength=len(tokens))
    out = open(a.out, "w", newline="")
    writer = csv.writer(out)
    writer.writerow(["checkpoint", "layer", "label_set", "metric", "value"])
    peak = 0
    for spec in a.model:
        name, path = spec.split("=", 1)
        t0 = time.time()
        model = transformers.AutoModel.from_pretrained(path, dtype=torch.bfloat16, attn_implementation="sdpa").to(device)
        model.eval()
        tables = None
        with torch.inference_mode():
            for b0 in range(0, len(order), max(1, a.batch_tokens // a.max_tokens)):
                batch = order[b0:b0 + max(1, a.batch_tokens // a.max_tokens)]
                width = len(tokens[batch[0]])
                ids = torch.zeros(len(batch), width, dtype=torch.long)
                mask = torch.zeros(len(batch), width, dtype=torch.long)
                rows, positions = [], []
                for r, k in enumerate(batch):
                    ids[r, :len(tokens[k])] = torch.as_tensor(tokens[k])
                    mask[r, :len(tokens[k])] = 1
                    p0, n = int(first_pos[k]), int(n_pos[k])
                    rows.append(r * width + pos_tok[p0:p0 + n])
                    positions.append(np.arange(p0, p0 + n))
                rows = torch.as_tensor(np.concatenate(rows), device=device)
                positions = torch.as_tensor(np.concatenate(positions), device=device)
                hs = model(input_ids=ids.to(device), attention_mask=mask.to(device), output_hidden_states=True).hidden_states
                if tables is None:
                    tables = Tables(sets, len(hs), w.shape[0], device, getattr(torch, a.table_dtype))
                for layer, h in enumerate(hs):
                    z = h.reshape(-1, h.shape[-1]).index_select(0, rows)
                    tables.add(layer, soft_assign(z, w_t), positions)
        write_rows(writer, name, tables.estimates())
        peak = max(peak, torch.cuda.max_memory_allocated())
        print(f"peer: {name}: {tables.n} positions in {time.time() - t0:.1f} s", flush=True)
        del model, tables
        torch.cuda.empty_cache()
    out.close()
    wall = time.time() - T_START
    print(f"peer: labels {t_labels - T_START:.1f} s; wall {wall:.1f} s; peak GPU memory {peak / 2**30:.2f} GiB", flush=True)
    print(f"PEER wall_s={wall:.3f} peak_bytes={peak} positions_per_checkpoint={len(pos_doc)}", flush=True)


def self_test(a):
    """Labels, nulls and estimator against `ibzoo entropy` on random representations."""
    import h5py
    import json
    import subprocess
    rng = np.random.default_rng(0)
    docs_tokens = [list(rng.integers(0, 40, size=int(rng.integers(20, 60)))) for _ in range(30)]
    doc_ids = list(range(3, 33))
    sets, pos_doc, pos_tok, pos_doc_ids = build_labels(docs_tokens, doc_ids, [1, 2], 7)
    n, d, m = len(pos_doc), 16, 12
    z = rng.normal(size=(n, d)).astype(np.float32)
    for i in range(n):  # make the representations depend on the token
        z[i, docs_tokens[pos_doc[i]][pos_tok[i]] % d] += 2.0
    w = rng.normal(size=(m, d))
    w /= np.linalg.norm(w, axis=1, keepdims=True)
    eps = 0.3
    with h5py.File(a.self_test + "/in.h5", "w") as f:
        f["z"] = z
        f["w"] = w.astype(np.float32)
        f["docs"] = pos_doc_ids
        flat = [np.asarray(t) for t in docs_tokens]
        for name, order, first in (("in1", 1, 0), ("in2", 2, -1), ("out1", 1, 1), ("out2", 2, 1)):
            f[name] = np.stack([np.array([flat[pos_doc[i]][pos_tok[i] + first + k] for i in range(n)]) for k in range(order)], 1)
    cmd = [a.ibzoo, "entropy", "--input", a.self_test + "/in.h5", "--z", "/z", "--reference-points",
           a.self_test + "/in.h5:/w", "--eps", str(eps), "--null", "--groups", "/docs", "--seed", "7", "--json", "-"]
    for name in ("in1", "in2", "out1", "out2"):
        cmd += ["--label", f"{name}=/{name}"]
    got = json.loads(subprocess.run(cmd, capture_output=True, text=True, check=True).stdout)
    w_t = torch.as_tensor(w / eps, dtype=torch.float32).t().contiguous()
    tables = Tables(sets, 1, m, torch.device("cpu"))
    tables.add(0, soft_assign(torch.as_tensor(z), w_t), torch.arange(n))
    h_z, mi = tables.estimates()[0]
    worst = abs(h_z - got["entropy"])
    for name in ("in1", "in2", "out1", "out2"):
        worst = max(worst, abs(mi[name] - got["mutual_information"][name]), abs(mi[name + ".null"] - got["null"][name]))
    print(f"self-test: {n} positions, largest difference to ibzoo entropy {worst:.2e}")
    return 0 if worst < 1e-5 else 1


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--corpus")
    ap.add_argument("--n-documents", type=int, default=0)
    ap.add_argument("--min-tokens", type=int, default=8)
    ap.add_argument("--max-tokens", type=int, default=512)
    ap.add_argument("--tokenizer")
    ap.add_argument("--reference-points")
    ap.add_argument("--model", action="append", default=[])
    ap.add_argument("--orders", type=int, nargs="+", default=[1, 2, 3, 4])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--batch-tokens", type=int, default=16384)
    ap.add_argument("--out")
    ap.add_argument("--table-dtype", choices=["float32", "float64"], default="float32",
                    help="the label tables' sums (float32: what one writes first; float64: to see its rounding)")
    ap.add_argument("--self-test", help="a directory: check against ibzoo entropy (needs --ibzoo)")
    ap.add_argument("--ibzoo")
    a = ap.parse_args()
    if a.self_test:
        sys.exit(self_test(a))
    run_models(a)


if __name__ == "__main__":
    main()
