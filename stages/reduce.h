// Reduce: builds the estimator state of every layer of one (model, checkpoint)
// from its items, layer by layer, in item (plan) order: a format-2 item adds its
// positions' soft assignments under their label ids, a format-1 item (tables, older
// runs) merges its tables. It turns the states into metric rows (per layer and the
// mean over layers 1..L), the preference items' states into the `pref` rows.
// The result depends only on the items' contents and the plan order, never on
// which rank computed an item or how batches were cut.
// Memory: one layer's merged tables plus 16,384 positions of one item.
// Bounded memory: with a partition communicator of P ranks, each rank keeps only
// the table rows with id % P == rank (about 1/P of the merged tables), and the
// conditional-entropy sums of the shares are added exactly (integer arithmetic),
// so the rows are bitwise identical to the unpartitioned reduce for every P.
// Throws CorruptDataError naming the item file when a state is unreadable.
#pragma once

#include "analysis/estimator_state.h"
#include "io/metrics_csv.h"
#include "io/mpi.h"
#include "io/run_dir.h"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <vector>

namespace ibzoo::stages {

struct ReduceJob {
  io::RunDir run;
  std::string model;
  std::string family;
  std::string checkpoint;
  std::int64_t step = 0;
  std::vector<std::string> item_ids;   // text items, in plan order: the merge order
  std::vector<std::string> preference_item_ids;  // preference items, in plan order (may be empty)
  std::string weighting = "frequency";
  double n_parameters = 0;             // 0: take it from the items' provenance
  int threads = 1;                     // for adding positions (by view and label set)
};

struct GroupSummary {
  std::string model, family, checkpoint;
  std::int64_t step = 0;
  double n_parameters = 0;
  std::int64_t n_positions = 0;
  double entropy = 0, complexity = 0, expressivity = 0;
  double optimality = 0, optimality_ratio_of_means = 0;
  double complexity_null = 0, expressivity_null = 0;
  double preference = 0;               // mean over layers 1..L of I(Z; pref); NaN without preference data
  nlohmann::json weights;              // file -> sha256, from provenance
};

struct ReduceResult {
  std::vector<io::MetricRow> rows;
  GroupSummary summary;
};

// partition == nullptr: not collective. Otherwise collective over `partition`:
// every rank of it calls reduce with the same job and gets the same result.
ReduceResult reduce(const ReduceJob& job, const io::Communicator* partition = nullptr);

// The sum over every rank of `comm` of each rank's conditional sums (exact).
// Collective: every rank calls this.
analysis::ConditionalSums allreduce_sums(const io::Communicator& comm, const analysis::ConditionalSums& mine);

// An upper bound of one layer's merged tables in memory, which the pipeline compares
// with the per-rank reduce memory budget: from the first item's label row counts
// (format 2), or the items' state file sizes (format 1).
std::int64_t state_bytes(const io::RunDir& run, const std::vector<std::string>& item_ids);

// results/summary.csv: one row per (model, checkpoint) with the headline measures.
void write_summary_csv(const std::filesystem::path& path, const std::vector<GroupSummary>& summaries);

}  // namespace ibzoo::stages
