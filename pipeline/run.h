// The study, start to finish: the only place that knows the order of the stages.
//
//   manifest -> plan -> labels (once per tokenizer) -> accumulate (forward pass +
//   label tables, per checkpoint, across ranks) -> merge (exact sums of a team) ->
//   metrics (rank 0) -> analysis and report (rank 0)
//
// Collective: every rank of `comm` calls run_study with the same options.
#pragma once

#include "io/corpus.h"
#include "io/mpi.h"
#include "pipeline/manifest.h"
#include "pipeline/plan.h"

#include <filesystem>
#include <optional>
#include <string>
#include <utility>

namespace ibzoo::pipeline {

// --stage: all, accumulate (labels + accumulate + merge), metrics, analyze.
// "extract" and "reduce" are accepted for accumulate and metrics (earlier names).
enum class Stage { kAll, kAccumulate, kMetrics, kAnalyze };
Stage parse_stage(const std::string& text);

struct RunOptions {
  std::filesystem::path path_manifest;
  std::optional<std::filesystem::path> run_dir;     // overrides the manifest's run_dir
  Stage stage = Stage::kAll;
  std::optional<std::pair<int, int>> slice;         // K/N of the plan (accumulate)
  std::optional<std::int64_t> tokens_per_batch;     // overrides compute.tokens_per_batch
  std::optional<std::string> memory_budget;         // overrides compute.memory_budget
};

struct RunSummary {
  std::int64_t n_items = 0;
  std::int64_t n_done_before = 0;  // skipped: finished by an earlier run
  std::int64_t n_computed = 0;     // computed now (all ranks)
  std::int64_t n_failed = 0;       // failed now (all ranks); recorded in error.json
  bool interrupted = false;        // a signal asked us to stop after the current item
};

// Collective. Rank 0 validates the manifest and broadcasts it (ManifestError on
// every rank if it is invalid). Throws Error on failures outside single items;
// a failing item is recorded and the others go on (see RunSummary::n_failed).
RunSummary run_study(const RunOptions& options, io::Communicator& comm);

// Collective: rank 0 loads and validates, every rank gets the same Manifest.
Manifest load_manifest_collective(const std::filesystem::path& path, io::Communicator& comm);

// The manifest with --run-dir applied, its corpus sample and plan (every rank alike).
struct Study {
  Manifest manifest;
  std::int64_t n_documents = 0;
  std::vector<std::string> documents;
  std::string corpus_sha256;
  std::vector<io::PreferencePair> pairs;   // data.preference (empty without it)
  std::string pairs_sha256;
  Plan plan;
};
// The manifest (validated on rank 0, every rank gets it) with --run-dir and
// --memory-budget applied.
Manifest load_run_manifest(const RunOptions& options, io::Communicator& comm);
// Reads the manifest's corpus sample (and preference pairs) and plans the items.
Study load_study(Manifest manifest);
Study load_study(const RunOptions& options, io::Communicator& comm);  // both of the above

}  // namespace ibzoo::pipeline
