// The work plan: one item per model checkpoint (it runs over the whole sample, and
// the preference pairs when there are any), in manifest order, each item's id a hash
// of its resolved spec. Deterministic from the manifest and the corpus, so every
// rank (and every Slurm array task) builds the same plan independently.
#pragma once

#include "analysis/estimator_state.h"
#include "pipeline/manifest.h"
#include "stages/labels.h"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace ibzoo::pipeline {

struct WorkItem {
  std::string id;                    // 16 hex digits of sha256(spec.dump())
  std::size_t model_idx = 0;         // into Manifest::models
  std::size_t checkpoint_idx = 0;    // into ModelSpec::checkpoints
  nlohmann::json spec;               // everything the item's result depends on
};

struct Plan {
  std::vector<WorkItem> items;       // by (model, checkpoint) in manifest order
  std::string manifest_hash;
  std::string corpus_sha256;
  std::int64_t n_documents = 0;
  std::int64_t n_pairs = 0;          // preference pairs (0: no preference data)
  std::string pairs_sha256;
};

// Builds the plan for a corpus sample of n_documents identified by corpus_sha256,
// and, with n_pairs > 0, for n_pairs preference pairs identified by pairs_sha256.
Plan make_plan(const Manifest& manifest, std::int64_t n_documents, const std::string& corpus_sha256,
               std::int64_t n_pairs = 0, const std::string& pairs_sha256 = "");

// {"study", "manifest_hash", "corpus_sha256", "n_documents", "n_pairs", "n_items",
//  "items": [{id, model, family, checkpoint, step}]}
nlohmann::json to_json(const Plan& plan, const Manifest& manifest);

// Parses "K/N" (0 <= K < N). Throws UsageError.
std::pair<int, int> parse_slice(const std::string& text);

// Figures for `plan --estimate` (docs/SCALE.md, "Estimating a study"): tokens,
// FLOPs, GPU-hours at the manifest's stated throughput, what the run directory
// holds, and the memory of the streaming estimate per rank: the label tables of one
// layer (counted from the label pass when it has run, else bounded), how many layer
// groups (passes) the memory budget needs, and the peak per rank. Per model, from
// its first checkpoint's config.json.
struct EstimateOptions {
  std::optional<std::int64_t> n_documents;          // per checkpoint; default: the study's sample
  std::optional<std::int64_t> tokens_per_document;  // default: data.text.max_tokens
  std::optional<std::int64_t> n_pairs;      // preference pairs; default: the study's; 0 without data.preference
  std::optional<double> throughput_tokens_per_s;  // default: compute.throughput_tokens_per_s
  int n_ranks = 1;                          // ranks of the run
  std::optional<std::int64_t> memory_bytes; // per rank; default: compute.memory_budget, or 80 GiB (cuda) /
                                            // the host's available memory shared by the ranks (cpu)
  std::vector<stages::LabelSummary> labels; // the label pass's row counts (read_label_summaries), if it ran
};

struct PlanEstimate {
  struct Row {
    std::string model;
    std::int64_t n_checkpoints = 0;
    double n_parameters = 0;
    std::int64_t n_layers = 0;            // transformer blocks
    std::int64_t n_layers_estimated = 0;  // hidden-state indices the estimator sees (0..L, or estimator.layers)
    std::int64_t hidden = 0;
    std::int64_t vocab = 0;
    double tokens = 0;                    // forward-pass tokens over all checkpoints (text + preference)
    double positions = 0;                 // estimator positions over all checkpoints (text + preference)
    double flops = 0;                     // forward passes: (2 x params + 2 x layers x document x d) per token
    double gpu_hours = 0;                 // tokens x forward factor / throughput
    double weight_bytes = 0;              // read once per checkpoint
    double run_dir_bytes = 0;             // every checkpoint's state.h5 (exact sums)
    double representation_bytes = 0;      // storage.representations
    double assignment_bytes = 0;          // storage.assignments (opt-in per-position output)
    double table_rows = 0;                // label rows of every set, per checkpoint
    bool rows_counted = false;            // from the label pass (else an upper bound)
    double table_bytes_per_layer = 0;     // one layer's tables on one rank (a team's share when teams)
    double table_budget = 0;              // per rank, for one pass's tables
    std::int64_t n_passes = 1;            // row shares x layer groups (0: not even kMaxRowShares shares fit)
    std::int64_t row_shares = 1;          // passes over the label rows when one layer does not fit
    double forward_factor = 1;            // forward work relative to one pass over every layer
    double peak_rank_bytes = 0;           // weights + activations and buffers + one pass's tables
  };
  std::vector<Row> rows;
  Row total;
  bool from_configs = true;               // false: some config.json could not be read (rows left out)
  // The assumptions, for printing beside the table.
  EstimateOptions options;
  std::int64_t n_documents = 0;
  std::int64_t tokens_per_document = 0;
  std::int64_t n_pairs = 0;
  std::int64_t tokens_per_pair_document = 0;  // min(tokens_per_document, preference.max_tokens)
  double text_positions_per_document = 0;     // tokens_per_document - 2 x max order + 1
  double throughput_tokens_per_s = 0;
  std::int64_t n_label_sets = 0;              // text label sets: in/out per order, x2 with the null
  std::int64_t n_views = 0;                   // 1 + bootstrap + 4 subset levels with the sample-size curve
  std::int64_t min_count_kept = 2;            // labels with a table row: global count >= max(2, min_count)
  bool teams = false;                         // ranks share each checkpoint (fewer checkpoints than ranks)
  double memory_bytes = 0;                    // per rank, the budget the estimate used
  std::string memory_source;                  // where it came from
  double label_bytes = 0;                     // tokens/ and labels/ of the run directory (upper bound)
};
PlanEstimate estimate_plan(const Manifest& manifest, const EstimateOptions& options);

// The estimator's bins and views as the manifest sets them, before any label set: what
// every item's tables follow (pipeline/accumulate_study.cpp) and `plan --estimate` counts.
analysis::StateLayout estimator_layout(const EstimatorSpec& spec, std::int64_t n_bins);

}  // namespace ibzoo::pipeline
