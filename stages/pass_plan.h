// How one item's label tables are planned: their bytes per layer and rank, and the
// passes over the sample (row shares x layer groups) that keep them inside a budget
// (docs/SCALE.md, "Memory"). Pure arithmetic over the label pass's counts: no model.
#pragma once

#include "analysis/estimator_state.h"
#include "analysis/labels.h"
#include "stages/labels.h"

#include <cstdint>
#include <vector>

namespace ibzoo::stages {

// `layout` with the label sets of `text` and their rows: the tables of one part.
analysis::StateLayout with_labels(analysis::StateLayout layout, const LabelledText& text);

// Whether an item's tables are on the host: always on the CPU, and on the GPU when the
// representations are stored (their passes run there); else on the device.
bool host_tables(bool cuda, bool stores_representations);

// The row counts an item's tables are planned and built with: the text's for host
// tables (narrow cells for small rows), none for device tables (8-byte cells).
analysis::RowCounts table_row_counts(const LabelledText& text, bool cuda, bool stores_representations);

// Bytes of one layer's tables for this text on the rank of a team of `team_size` that
// holds the most (analysis::EstimatorState::table_bytes). row_counts: the text's
// (LabelledText::row_counts) for host tables, whose small rows take narrow cells;
// empty for device tables (8-byte cells).
std::int64_t layer_table_bytes(const analysis::StateLayout& layout, const analysis::RowCounts& row_counts, int team_size);

// The passes of one rank over the sample: every row share with every layer group.
// On a team of P ranks, rank r's pass of share s keeps the rows with
// id % (P x row_shares) == r + P x s.
struct PassPlan {
  std::int64_t row_shares = 1;
  std::vector<std::vector<int>> layer_groups;  // in layer order
  std::int64_t bytes_per_layer = 0;            // one layer's tables in one pass on one rank
  std::int64_t size() const { return row_shares * static_cast<std::int64_t>(layer_groups.size()); }
};

// Bytes a pass holds per estimated layer beside its tables: on the host, a batch's
// assignments p (float32 [positions, m]) of each layer of the pass, and in a team of P
// ranks also the P gathered from the team and one unpacked (stages/accumulate.cpp,
// run_round); nothing per layer on the device. tokens_per_batch bounds the positions.
std::int64_t pass_bytes_per_layer(bool host, std::int64_t tokens_per_batch, std::int64_t n_bins, int team_size);

// The fewest row shares whose one layer (its tables and `extra_per_layer`, from
// pass_bytes_per_layer) fits `budget_bytes`, then the fewest even layer groups (budget
// 0: one pass). Throws UsageError naming the bytes when a layer's tables need more
// than analysis::kMaxRowShares shares.
PassPlan plan_passes(const std::vector<int>& layers, const analysis::StateLayout& layout,
                     const analysis::RowCounts& row_counts, int team_size, std::int64_t budget_bytes,
                     std::int64_t extra_per_layer = 0);

}  // namespace ibzoo::stages
