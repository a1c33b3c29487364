#!/usr/bin/env python3
"""Ways to add one layer's soft assignments into the streaming estimator's label tables on
the GPU, timed on the benchmark's real labels (issue 17: the tables cost 15-18% over the
forward pass per checkpoint). Same labels as peer.py (orders 1-4 in and out, shuffled nulls:
16 sets), exact int64 sums in units of 2^-36 as models/device_tables.cpp, random p.

  table_kernels.py --corpus C --tokenizer T [--n-documents 3020] [--batch-tokens 16384]

Prints, per strategy, milliseconds per (batch, layer) and the tables' equality to the first.
"""
import argparse
import time

import numpy as np
import torch

import peer

M = 100
SCALE = float(2 ** 36)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--corpus", required=True)
    ap.add_argument("--tokenizer", required=True)
    ap.add_argument("--n-documents", type=int, default=3020)
    ap.add_argument("--batch-tokens", type=int, default=16384)
    ap.add_argument("--batches", type=int, default=40)
    a = ap.parse_args()
    from tokenizers import Tokenizer
    docs = peer.read_documents(a.corpus, a.n_documents)
    encs = Tokenizer.from_file(a.tokenizer).encode_batch(docs, add_special_tokens=False)
    tokens, doc_ids = [], []
    for k, e in enumerate(encs):
        if len(e.ids) >= 512:
            tokens.append(e.ids[:512])
            doc_ids.append(k)
    sets, pos_doc, _, _ = peer.build_labels(tokens, doc_ids, [1, 2, 3, 4], 0)
    n_all = len(pos_doc)
    dev = torch.device("cuda")
    rows_per_set = [len(c) for _, _, c in sets]
    offsets = np.concatenate([[0], np.cumsum(rows_per_set)[:-1]])
    n_rows = int(sum(rows_per_set))
    spare = 1024
    print(f"{n_all} positions, {len(sets)} sets, {n_rows} rows; recurring fraction per set:")
    print("  " + " ".join(f"{name}={float((ids >= 0).mean()):.2f}" for name, ids, _ in sets))

    # Batches of the natural position order, ~batch_tokens positions each.
    bounds = list(range(0, n_all, a.batch_tokens))[: a.batches]
    prepared = []
    for b0 in bounds:
        n = min(a.batch_tokens, n_all - b0)
        ids = np.stack([s[1][b0:b0 + n] for s in sets])  # [S, n]
        full = np.where(ids >= 0, ids + offsets[:, None], n_rows + np.arange(n)[None, :] % spare)
        keep_pos, keep_row = [], []
        for s in range(len(sets)):
            k = np.nonzero(ids[s] >= 0)[0]
            keep_pos.append(k)
            keep_row.append(ids[s][k] + offsets[s])
        kp, kr = np.concatenate(keep_pos), np.concatenate(keep_row)
        order = np.argsort(kr, kind="stable")
        sp, sr = kp[order], kr[order]
        last = np.nonzero(np.r_[sr[1:] != sr[:-1], True])[0]
        prepared.append(dict(
            n=n,
            full=torch.as_tensor(full, device=dev),
            per_set=[(torch.as_tensor(p, device=dev), torch.as_tensor(r, device=dev)) for p, r in zip(keep_pos, keep_row)],
            flat=(torch.as_tensor(kp, device=dev), torch.as_tensor(kr, device=dev)),
            sorted=(torch.as_tensor(sp, device=dev), torch.as_tensor(last, device=dev),
                    torch.as_tensor(sr[last], device=dev)),
        ))
    kept = sum(len(p["flat"][0]) for p in prepared) / sum(p["n"] * len(sets) for p in prepared)
    print(f"positions x sets kept (recurring): {kept:.2f}")
    gen = torch.Generator(device=dev).manual_seed(0)
    ps = [torch.softmax(torch.randn(p["n"], M, device=dev, generator=gen) * 3, -1) for p in prepared]

    def fixed(p):
        return (p * SCALE).round_().to(torch.long)

    def a_full(table, p, b):
        pm = fixed(p)
        for s in range(len(sets)):
            table.index_add_(0, b["full"][s], pm)

    def b_per_set(table, p, b):
        pm = fixed(p)
        for pos, rows in b["per_set"]:
            table.index_add_(0, rows, pm.index_select(0, pos))

    def c_flat(table, p, b):
        pos, rows = b["flat"]
        table.index_add_(0, rows, fixed(p).index_select(0, pos))

    def d_sorted(table, p, b):
        pos, last, urows = b["sorted"]
        c = fixed(p).index_select(0, pos).cumsum_(0).index_select(0, last)
        c[1:] -= c[:-1].clone()
        table.index_add_(0, urows, c)

    def e_flat_f32gather(table, p, b):  # gather in float32, convert the kept rows only
        pos, rows = b["flat"]
        table.index_add_(0, rows, fixed(p.index_select(0, pos)))

    def entropy_only(table, p, b):  # each position's entropy (float64), as add_layer does
        q = p.double()
        q = q / q.sum(1, keepdim=True)
        (-(q * torch.log(q.clamp_min(1e-9))).sum(1) * 2.0 ** 32).round_().to(torch.long).sum()

    def fixed_row_sum(t):  # models/device_tables.cpp: pairwise halves, then the odd column
        while t.shape[1] > 1:
            cols, half = t.shape[1], t.shape[1] // 2
            s = t[:, :half] + t[:, half:2 * half]
            if cols % 2:
                s[:, :1] += t[:, 2 * half:]
            t = s
        return t[:, 0]

    def row_entropy(mass):
        m64 = mass.double()
        q = m64 / fixed_row_sum(m64).unsqueeze(1)
        return -fixed_row_sum(q * torch.log(q.clamp_min(1e-9)))

    def whole_layer(table, p, b):  # add_layer of one view as device_tables.cpp has it
        pm = fixed(p)
        h_units = (row_entropy(p) * 2.0 ** 32).round_().to(torch.long)
        for s in range(len(sets)):
            table.index_add_(0, b["full"][s], pm)
        pm.sum(0)
        single = b["single"]
        (single * h_units.unsqueeze(0)).sum(1)
        (single * h_units.unsqueeze(0)).sum(1)

    def entropy_fixed(table, p, b):
        (row_entropy(p) * 2.0 ** 32).round_().to(torch.long)

    def padded_sum(t):  # halves of a power-of-two width: one add per level
        width = 1 << (t.shape[1] - 1).bit_length()
        t = torch.nn.functional.pad(t, (0, width - t.shape[1]))
        while t.shape[1] > 1:
            half = t.shape[1] // 2
            t = t[:, :half] + t[:, half:]
        return t[:, 0]

    def entropy_padded(table, p, b):
        q = p.double()
        q = q / padded_sum(q).unsqueeze(1)
        (-padded_sum(q * torch.log(q.clamp_min(1e-9))) * 2.0 ** 32).round_().to(torch.long)

    for b in prepared:
        b["single"] = (b["full"] >= n_rows).long()

    results = {}
    for name, fn in (("whole add_layer (now)", whole_layer), ("(its row entropy alone)", entropy_fixed),
                     ("(row entropy, padded halves)", entropy_padded),
                     ("A full rows + spares (now)", a_full), ("B per set, kept rows", b_per_set),
                     ("C one index_add_, kept rows", c_flat), ("D sorted segments", d_sorted),
                     ("E as C, gather float32 first", e_flat_f32gather), ("(per-position entropy)", entropy_only)):
        table = torch.zeros(n_rows + spare, M, dtype=torch.long, device=dev)
        for p, b in zip(ps[:3], prepared[:3]):
            fn(table, p, b)
        table.zero_()
        torch.cuda.synchronize()
        t0 = time.time()
        for p, b in zip(ps, prepared):
            fn(table, p, b)
        torch.cuda.synchronize()
        ms = (time.time() - t0) * 1000 / len(prepared)
        graph_ms = float("nan")
        try:  # the same work replayed from a CUDA graph: the GPU's time without the launches
            g = torch.cuda.CUDAGraph()
            s = torch.cuda.Stream()
            s.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(s):
                fn(table, ps[0], prepared[0])
                with torch.cuda.graph(g, stream=s):
                    fn(table, ps[0], prepared[0])
            torch.cuda.current_stream().wait_stream(s)
            torch.cuda.synchronize()
            t0 = time.time()
            for _ in range(len(prepared)):
                g.replay()
            torch.cuda.synchronize()
            graph_ms = (time.time() - t0) * 1000 / len(prepared)
        except Exception as e:  # noqa: BLE001
            print(f"  (no graph for {name}: {str(e)[:80]})")
        if name.startswith("whole") or name.startswith("("):
            print(f"{name:32s} {ms:7.3f} ms per batch-layer, {graph_ms:7.3f} from a CUDA graph")
            continue
        table.zero_()
        for p, b in zip(ps, prepared):
            fn(table, p, b)
        results[name] = table[:n_rows].clone()
        first = next(iter(results.values()))
        same = "equal" if torch.equal(first, results[name]) else "DIFFERENT"
        print(f"{name:32s} {ms:7.3f} ms per batch-layer, {graph_ms:7.3f} from a CUDA graph ({same})")


if __name__ == "__main__":
    main()
