// Inside stages/ only: how the accumulate stage cuts the sample into batches. The
// plan (BatchDocs: which documents, longest first) is made once per part; a batch's
// tokens, rows and label ids (Batch) are made when it runs, so no copy of the
// sample's labels outlives its batch (the memory budget counts the sample once).
// Torch-free.
#pragma once

#include "stages/labels.h"

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace ibzoo::stages::accumulate_parts {

// One batch: its documents' tokens and, for every estimator position in them, the
// row of the batch's concatenated tokens, the label ids of every set and the document.
struct Batch {
  std::vector<std::vector<std::int32_t>> sequences;
  std::vector<std::int64_t> doc_ids_of_sequences;
  std::vector<std::int64_t> rows;                      // per position
  std::vector<std::vector<std::int32_t>> label_ids;    // [set][position]
  std::vector<std::int64_t> doc_ids;                   // per position
  std::int64_t n_tokens = 0;
  std::int64_t n_positions() const { return static_cast<std::int64_t>(rows.size()); }
  std::vector<std::span<const std::int32_t>> label_spans() const {
    std::vector<std::span<const std::int32_t>> out;
    for (const auto& ids : label_ids) out.emplace_back(ids);
    return out;
  }
};

// The documents of one batch (indices into the sample's corpus) and its positions.
struct BatchDocs {
  std::vector<std::size_t> docs;
  std::int64_t n_positions = 0;
};

// The sample's documents, longest first (ties keep corpus order), packed into batches
// of at most tokens_per_batch padded tokens: a pure function of the text and the
// batch size, the same on every rank and for every team size.
std::vector<BatchDocs> plan_batches(const LabelledText& text, std::int64_t tokens_per_batch);

// The batch of `docs`: tokens, rows, label ids and documents, in the plan's order.
Batch make_batch(const LabelledText& text, const BatchDocs& docs);

}  // namespace ibzoo::stages::accumulate_parts
