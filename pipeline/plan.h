// The work plan: model x checkpoint x document shard, sorted, each item's id a
// hash of its resolved spec. Deterministic from the manifest and the corpus, so
// every rank (and every Slurm array task) builds the same plan independently.
#pragma once

#include "pipeline/manifest.h"

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
  std::int64_t shard_idx = 0;
  std::int64_t doc_begin = 0;        // documents [doc_begin, doc_end) of the corpus sample
  std::int64_t doc_end = 0;          // (preference items: pairs [doc_begin, doc_end) of the pair list)
  bool preference = false;           // a shard of the preference pairs, not of the text sample
  nlohmann::json spec;               // everything the item's result depends on
};

struct Plan {
  std::vector<WorkItem> items;       // sorted by (model, checkpoint, shard); a checkpoint's
                                     // preference shards follow its text shards
  std::string manifest_hash;
  std::string corpus_sha256;
  std::int64_t n_documents = 0;
  std::int64_t n_shards = 0;         // text shards per checkpoint
  std::int64_t n_pairs = 0;          // preference pairs (0: no preference data)
  std::string pairs_sha256;
  std::int64_t n_preference_shards = 0;  // per checkpoint, documents_per_shard pairs each
};

// Builds the plan for a corpus sample of n_documents identified by corpus_sha256,
// and, with n_pairs > 0, for n_pairs preference pairs identified by pairs_sha256.
Plan make_plan(const Manifest& manifest, std::int64_t n_documents, const std::string& corpus_sha256,
               std::int64_t n_pairs = 0, const std::string& pairs_sha256 = "");

// {"manifest_hash", "corpus_sha256", "n_documents", "n_items", "items": [{id, model, family,
// checkpoint, step, shard, doc_begin, doc_end}]}
nlohmann::json to_json(const Plan& plan, const Manifest& manifest);

// Parses "K/N" (0 <= K < N). Throws UsageError.
std::pair<int, int> parse_slice(const std::string& text);

// The per-rank reduce memory budget of `run --reduce-memory-mb` (and `plan --estimate`).
inline constexpr std::int64_t kDefaultReduceMemoryBytes = std::int64_t{4} << 30;

// Full-scale figures for `plan --estimate` (docs/SCALE.md, "Estimating a study"):
// tokens, FLOPs, GPU-hours at the manifest's stated throughput, storage and peak
// memory per rank, for every model, from each model's first checkpoint's config.json.
struct EstimateOptions {
  std::int64_t n_documents = 10000;         // text documents per checkpoint
  std::int64_t tokens_per_document = 512;   // every document this long
  std::optional<std::int64_t> n_pairs;      // preference pairs; default: data.preference.n_pairs, or
                                            // n_documents when that is 0 (all); 0 without data.preference
  std::optional<double> throughput_tokens_per_s;  // default: compute.throughput_tokens_per_s
  int n_ranks = 1;                          // ranks of the run (the reduce partitions over them)
  std::int64_t reduce_memory_bytes = kDefaultReduceMemoryBytes;  // the run's --reduce-memory-mb
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
    double flops = 0;                     // forward pass: (2 x params + 2 x layers x document x d) per token
    double gpu_hours = 0;                 // tokens / throughput
    double weight_bytes = 0;              // read once per checkpoint
    double state_bytes = 0;               // items' state.h5 over all checkpoints
    double representation_bytes = 0;      // when storage.representations is on
    std::vector<double> labels_per_order; // per checkpoint, orders 1..N: upper bound on labels with a table row
    double reduce_table_bytes = 0;        // one (checkpoint, layer)'s merged tables, all label sets and views
    bool reduce_partitioned = false;      // the run's rule: a checkpoint's state over the budget, ranks > 1
    double extract_peak_bytes = 0;        // one rank: weights + activations + one item's state + sample labels
    double reduce_peak_bytes = 0;         // one rank: its share of one layer's tables + one item's layer read
    double peak_rank_bytes = 0;           // max of the two
  };
  std::vector<Row> rows;
  Row total;
  bool from_configs = true;               // false: some config.json could not be read (rows left out)
  // The assumptions, for printing beside the table.
  EstimateOptions options;
  std::int64_t n_pairs = 0;
  std::int64_t tokens_per_pair_document = 0;  // min(tokens_per_document, preference.max_tokens)
  double text_positions_per_document = 0;     // tokens_per_document - 2 x max order + 1
  double throughput_tokens_per_s = 0;
  std::int64_t n_label_sets = 0;              // text label sets: in/out per order, x2 with the null
  std::int64_t n_views = 0;                   // 1 + bootstrap + 4 subset levels with the sample-size curve
  std::int64_t min_count_kept = 2;            // labels with a table row: global count >= max(2, min_count)
};
PlanEstimate estimate_plan(const Manifest& manifest, const EstimateOptions& options);

}  // namespace ibzoo::pipeline
