// The checkpoints of the accumulate stage, one loaded at a time, with what surrounds a
// checkpoint's forward passes done beside them instead of before them:
// - preload: the first checkpoint loads in the background while the label pass runs,
//   and on a GPU runs one batch of the study's shape, so that CUDA's lazily loaded
//   kernels and cuBLAS are ready before the first item's clock starts;
// - prefetch: the next checkpoint's files are read into the page cache, and hashed on
//   the way, while the current one computes;
// - a checkpoint loaded without a prefetch is hashed in the background: its item needs
//   the hashes (provenance.json) only when it ends.
// Runs a model: part of ibzoo-torch (pipeline/accumulate_study.h).
#pragma once

#include "models/model.h"
#include "pipeline/manifest.h"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <filesystem>
#include <future>
#include <map>
#include <memory>
#include <string>

namespace ibzoo::pipeline {

// One batch of the study's shape, for the warm-up: `tokens_per_batch` tokens in
// sequences of `max_tokens`.
struct WarmUp {
  std::int64_t tokens_per_batch = 0;
  std::int64_t max_tokens = 0;
};

// The block of the fixed shapes a GPU run computes in (models::RunOptions::fixed_rows;
// docs/GPU.md): 4096 rows, or IBZOO_FIXED_ROWS (a multiple of 128 up to 2^20; 0: off).
// A bad value is a UsageError naming the variable.
std::int64_t fixed_rows_setting();

class ModelCache {
 public:
  ModelCache(const Manifest& manifest, int threads);
  ~ModelCache();
  ModelCache(const ModelCache&) = delete;
  ModelCache& operator=(const ModelCache&) = delete;

  // Starts loading `checkpoint` in the background (nothing when it is loaded or loading);
  // get() takes it over and rethrows what the load threw. A zero WarmUp skips the batch.
  void preload(const Checkpoint& checkpoint, const WarmUp& warm_up = {});
  // Reads and hashes `next`'s files in the background unless it is `current`.
  void prefetch(const Checkpoint& next, const Checkpoint& current);
  // The loaded checkpoint; loads it (dropping the one held, and any other preload) when
  // it is another.
  const models::Model& get(const Checkpoint& checkpoint);
  // sha256 of the checkpoint's config.json, safetensors index and weight files, by file
  // name; waits for the background hash. Throws what hashing threw.
  const nlohmann::json& weight_hashes(const Checkpoint& checkpoint);

 private:
  std::unique_ptr<models::Model> load(const Checkpoint& checkpoint) const;
  void start_hashing(const Checkpoint& checkpoint);
  void drop_preloads_except(const std::string& key);

  const Manifest& manifest_;
  int threads_;
  std::int64_t fixed_rows_;  // IBZOO_FIXED_ROWS (models::RunOptions::fixed_rows)
  std::filesystem::path path_;
  std::unique_ptr<models::Model> model_;
  std::map<std::string, std::future<std::unique_ptr<models::Model>>> preloads_;
  std::map<std::string, std::shared_future<nlohmann::json>> hashing_;
  std::map<std::string, nlohmann::json> hashes_;
};

}  // namespace ibzoo::pipeline
