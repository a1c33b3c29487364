// A run directory belongs to one study. Its identity, recorded in <run>/identity.json
// (docs/RUN_LAYOUT.md), is computed from the normalised Manifest alone:
//
//   {"format": 1, "study": NAME,
//    "settings": {what changes finished results: text sample and labels, preference data,
//                 estimator, compute dtype and device, analysis},
//    "models": {ID: {"family", "n_parameters", "tokenizer",
//                    "checkpoints": {NAME: {"step", "tokens", "path"}}}},
//    "benchmarks": [{"file", "format", "normalise"}, ...]}
//
// What only changes speed or placement (threads, batch size, ranks, memory budget,
// documents_per_shard, the opt-in outputs of storage, Slurm resources, the report
// switch) is not part of it.
//
// A run is accepted into a directory when the identities are equal, or when the new
// one only adds models, checkpoints or benchmarks (it extends the run). Another study
// name, a changed setting, or a model, checkpoint or benchmark that was changed or
// left out is refused: the finished results would be overwritten or mixed.
#pragma once

#include "io/mpi.h"
#include "io/run_lock.h"
#include "pipeline/manifest.h"

#include <nlohmann/json.hpp>

#include <filesystem>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace ibzoo::pipeline {

nlohmann::json study_identity(const Manifest& manifest);

// How a wanted identity differs from the recorded one. Each entry is one line for people,
// e.g. "estimator.bins: 100 in the run directory, 50 in the manifest".
struct IdentityDiff {
  std::string recorded_study;
  std::string wanted_study;
  std::vector<std::string> changed;    // settings, or fields of a model/checkpoint/benchmark
  std::vector<std::string> removed;    // models, checkpoints, benchmarks the manifest leaves out
  std::vector<std::string> added;      // models, checkpoints, benchmarks the manifest adds
  bool other_study() const { return recorded_study != wanted_study; }
  bool same() const { return !other_study() && changed.empty() && removed.empty() && added.empty(); }
  bool additive() const { return !other_study() && changed.empty() && removed.empty(); }
};
IdentityDiff compare_identity(const nlohmann::json& recorded, const nlohmann::json& wanted);

// The identity recorded in `run_dir`: identity.json, else (a run made before identities
// were recorded) the one of its manifest.json; nullopt when neither exists.
// Throws CorruptDataError when the file is unreadable.
std::optional<nlohmann::json> recorded_identity(const std::filesystem::path& run_dir);

// Why `manifest` may not write into its run_dir, or "" when it may (also when the
// directory is new). The refusal names the run directory, where its results are, what
// differs, and what to do (a fresh directory is suggested). Not collective.
std::string identity_problem(const Manifest& manifest, const IdentityDiff& diff);

// A directory beside `run_dir` that does not exist yet: <run_dir>-2, -3, ...
std::filesystem::path fresh_run_dir(const std::filesystem::path& run_dir);

// What holds a run directory for one `run`: the lock (on rank 0; empty elsewhere).
struct RunDirClaim {
  std::optional<io::RunLock> lock;
  std::vector<std::string> added;      // what this run adds to the study (logged)
};

struct ClaimOptions {
  std::optional<std::pair<int, int>> slice;  // --slice K/N: the slice's lock
  bool extracts = true;                      // stage all or extract
  std::string command;                       // recorded in the lock, for people
};

// Collective: every rank calls this, before anything is written to manifest.run_dir.
// Rank 0 refuses a directory that is someone else's (RunDir::foreign_directory_problem),
// takes the lock (io/run_lock.h), refuses another study or changed settings, and records
// the identity (identity.json) when the directory is new or the manifest extends it.
// Throws UsageError (exit 2) on every rank for a refused directory or identity, Error
// (exit 1) when a live process holds the lock.
RunDirClaim claim_run_dir(const Manifest& manifest, const ClaimOptions& options, io::Communicator& comm);

// Not collective (e.g. `submit`): the identity checks without the lock; with `record`,
// identity.json is written when the directory is new or the manifest extends it.
// Throws UsageError.
void check_identity(const Manifest& manifest, bool record);

}  // namespace ibzoo::pipeline
