// The work plan: model x checkpoint x document shard, sorted, each item's id a
// hash of its resolved spec. Deterministic from the manifest and the corpus, so
// every rank (and every Slurm array task) builds the same plan independently.
#pragma once

#include "pipeline/manifest.h"

#include <nlohmann/json.hpp>

#include <cstdint>
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

// Full-scale figures for `plan --estimate`: tokens, FLOPs, GPU-hours at the
// manifest's stated throughput, storage and peak memory per rank.
struct PlanEstimate {
  struct Row {
    std::string model;
    std::int64_t n_checkpoints = 0;
    double n_parameters = 0;
    std::int64_t n_layers = 0;
    std::int64_t hidden = 0;
    double tokens = 0;                // over all checkpoints
    double flops = 0;                 // forward pass, 2 x params x tokens
    double gpu_hours = 0;
    double weight_bytes = 0;          // read once per checkpoint
    double state_bytes = 0;           // estimator state on disk
    double representation_bytes = 0;  // when storage.representations is on
    double peak_rank_bytes = 0;       // weights + activations + estimator state on one rank
  };
  std::vector<Row> rows;
  Row total;
  bool from_configs = true;           // sizes read from each checkpoint's config.json
};
PlanEstimate estimate_plan(const Manifest& manifest, std::int64_t n_documents, std::int64_t tokens_per_document);

}  // namespace ibzoo::pipeline
