#include "stages/batches.h"

#include <algorithm>

namespace ibzoo::stages::accumulate_parts {

std::vector<BatchDocs> plan_batches(const LabelledText& text, std::int64_t tokens_per_batch) {
  const auto& corpus = text.corpus;
  std::vector<std::size_t> order(static_cast<std::size_t>(corpus.n_docs()));
  for (std::size_t k = 0; k < order.size(); ++k) order[k] = k;
  const auto length = [&](std::size_t k) { return corpus.doc_offsets[k + 1] - corpus.doc_offsets[k]; };
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return length(a) > length(b); });
  std::vector<BatchDocs> batches;
  BatchDocs cur;
  for (const auto k : order) {
    // Padded size: every sequence of a batch is as long as its first (longest).
    const auto padded_len = cur.docs.empty() ? length(k) : length(cur.docs.front());
    if (!cur.docs.empty() && padded_len * static_cast<std::int64_t>(cur.docs.size() + 1) > tokens_per_batch) {
      batches.push_back(std::move(cur));
      cur = BatchDocs{};
    }
    cur.docs.push_back(k);
    cur.n_positions += text.pos_offsets[k + 1] - text.pos_offsets[k];
  }
  if (!cur.docs.empty()) batches.push_back(std::move(cur));
  return batches;
}

Batch make_batch(const LabelledText& text, const BatchDocs& docs) {
  const auto& corpus = text.corpus;
  const auto n_positions = static_cast<std::size_t>(docs.n_positions);
  Batch batch;
  batch.rows.reserve(n_positions);
  batch.doc_ids.reserve(n_positions);
  batch.label_ids.resize(text.label_sets.size());
  for (auto& ids : batch.label_ids) ids.reserve(n_positions);
  for (const auto k : docs.docs) {
    const auto t0 = corpus.doc_offsets[k];
    const auto t1 = corpus.doc_offsets[k + 1];
    auto& seq = batch.sequences.emplace_back();
    seq.reserve(static_cast<std::size_t>(t1 - t0));
    for (auto t = t0; t < t1; ++t) seq.push_back(static_cast<std::int32_t>(corpus.tokens[static_cast<std::size_t>(t)]));
    for (auto p = text.pos_offsets[k]; p < text.pos_offsets[k + 1]; ++p) {
      const auto pi = static_cast<std::size_t>(p);
      batch.rows.push_back(batch.n_tokens + text.positions.token_idx[pi] - t0);
      batch.doc_ids.push_back(corpus.doc_ids[k]);
      for (std::size_t s = 0; s < text.label_sets.size(); ++s) batch.label_ids[s].push_back(text.label_of(s, pi));
    }
    batch.doc_ids_of_sequences.push_back(corpus.doc_ids[k]);
    batch.n_tokens += t1 - t0;
  }
  return batch;
}

}  // namespace ibzoo::stages::accumulate_parts
