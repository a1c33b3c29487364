#include "stages/pass_plan.h"

#include "errors/error.h"

#include <algorithm>
#include <string>

namespace ibzoo::stages {

analysis::StateLayout with_labels(analysis::StateLayout layout, const LabelledText& text) {
  layout.label_sets = text.label_names();
  layout.label_rows = text.label_rows();
  return layout;
}

bool host_tables(bool cuda, bool stores_representations) { return !cuda || stores_representations; }

analysis::RowCounts table_row_counts(const LabelledText& text, bool cuda, bool stores_representations) {
  return host_tables(cuda, stores_representations) ? text.row_counts() : analysis::RowCounts{};
}

std::int64_t layer_table_bytes(const analysis::StateLayout& layout, const analysis::RowCounts& row_counts, int team_size) {
  // Without row counts the first part has the most rows, and every row is wide.
  const int parts = row_counts.empty() ? 1 : team_size;
  std::int64_t most = 0;
  for (int part = 0; part < parts; ++part) {
    most = std::max(most, analysis::EstimatorState::table_bytes(layout, analysis::RowShare{team_size, part}, row_counts));
  }
  return most;
}

std::int64_t pass_bytes_per_layer(bool host, std::int64_t tokens_per_batch, std::int64_t n_bins, int team_size) {
  if (!host) return 0;
  const std::int64_t copies = team_size > 1 ? team_size + 2 : 1;
  return tokens_per_batch * n_bins * static_cast<std::int64_t>(sizeof(float)) * copies;
}

PassPlan plan_passes(const std::vector<int>& layers, const analysis::StateLayout& layout,
                     const analysis::RowCounts& row_counts, int team_size, std::int64_t budget_bytes,
                     std::int64_t extra_per_layer) {
  PassPlan plan;
  plan.bytes_per_layer = layer_table_bytes(layout, row_counts, team_size);
  if (layers.empty()) return plan;
  if (budget_bytes <= 0) {
    plan.layer_groups = {layers};
    return plan;
  }
  // What the tables may take once a layer's other buffers are set aside; a budget
  // too small for those buffers plans as a budget of one byte (kMaxRowShares' error).
  const auto whole_budget = budget_bytes;
  budget_bytes = std::max<std::int64_t>(1, budget_bytes - extra_per_layer);
  if (plan.bytes_per_layer > budget_bytes) {
    // The parts of S shares hold all of a layer's tables, so the largest holds at least
    // 1/S of them: no fewer than bytes / budget shares can fit.
    const auto whole = layer_table_bytes(layout, row_counts, 1);
    const auto fewest = whole / (static_cast<std::int64_t>(team_size) * budget_bytes);
    plan.row_shares = std::clamp<std::int64_t>(fewest - 1, 1, analysis::kMaxRowShares);
  }
  while (plan.bytes_per_layer > budget_bytes) {
    if (++plan.row_shares > analysis::kMaxRowShares) {
      throw UsageError("the label tables of one layer take " + std::to_string(layer_table_bytes(layout, row_counts, team_size) >> 20) +
                       " MiB per rank, more than " + std::to_string(analysis::kMaxRowShares) + " passes over the sample can hold in the " +
                       std::to_string(budget_bytes >> 20) + " MiB left of the memory budget (compute.memory_budget); raise "
                       "the budget, run more ranks per checkpoint, or use fewer documents, orders or bootstrap replicates");
    }
    plan.bytes_per_layer = layer_table_bytes(layout, row_counts, static_cast<int>(team_size * plan.row_shares));
  }
  const auto per_pass = std::max<std::int64_t>(1, whole_budget / std::max<std::int64_t>(1, plan.bytes_per_layer + extra_per_layer));
  const auto n = static_cast<std::int64_t>(layers.size());
  const auto n_groups = (n + per_pass - 1) / per_pass;
  // Even groups (the last pass is no longer than the others), in layer order.
  for (std::int64_t g = 0; g < n_groups; ++g) {
    plan.layer_groups.emplace_back(layers.begin() + n * g / n_groups, layers.begin() + n * (g + 1) / n_groups);
  }
  return plan;
}

}  // namespace ibzoo::stages
