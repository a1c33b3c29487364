#include "pipeline/model_cache.h"

#include "errors/error.h"
#include "io/fs.h"
#include "io/log.h"
#include "pipeline/ranks.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <string>
#include <vector>

namespace ibzoo::pipeline {

namespace fs = std::filesystem;

namespace {

// The files whose hashes identify a checkpoint, in name order.
std::vector<fs::path> identity_files(const fs::path& dir) {
  std::vector<fs::path> files;
  for (const auto& entry : fs::directory_iterator(dir)) {
    const auto name = entry.path().filename().string();
    if (entry.path().extension() == ".safetensors" || name == "config.json" || name == "model.safetensors.index.json") {
      files.push_back(entry.path());
    }
  }
  std::sort(files.begin(), files.end());
  return files;
}

nlohmann::json hash_files(const fs::path& dir) {
  nlohmann::json hashes = nlohmann::json::object();
  for (const auto& f : identity_files(dir)) hashes[f.filename().string()] = io::sha256_file(f);
  return hashes;
}

// One forward pass of the study's batch shape (GPU only: a CPU has nothing to warm).
void warm_up(const models::Model& model, const WarmUp& shape) {
  if (model.options().device != models::Device::Cuda || shape.max_tokens <= 0) return;
  auto length = shape.max_tokens;
  if (model.config().max_position_embeddings > 0) length = std::min(length, model.config().max_position_embeddings);
  const auto n = std::max<std::int64_t>(1, shape.tokens_per_batch / length);
  const std::vector<std::vector<std::int32_t>> batch(static_cast<std::size_t>(n),
                                                     std::vector<std::int32_t>(static_cast<std::size_t>(length), 0));
  model.forward_only(batch);
  model.synchronize();
}

std::atomic<bool> g_gpu_logged{false};

std::string milliseconds(std::chrono::steady_clock::time_point a, std::chrono::steady_clock::time_point b) {
  return std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(b - a).count());
}

// GPU runs compute in fixed shapes (models::RunOptions::fixed_rows; docs/GPU.md), so a
// checkpoint's results do not depend on the batch size: blocks of 4096 rows unless
// IBZOO_FIXED_ROWS says otherwise (0: off, torch's and cuBLAS's choice per batch).
constexpr std::int64_t kDefaultFixedRows = 4096;

}  // namespace

std::int64_t fixed_rows_setting() {
  const char* env = std::getenv("IBZOO_FIXED_ROWS");
  if (!env || !*env) return kDefaultFixedRows;
  const std::string text = env;
  // Multiples of 128 rows keep every block's start 256-byte aligned, so that cuBLAS picks
  // one kernel for every block (it looks at the pointers' alignment too).
  const auto rows = text.size() <= 7 && text.find_first_not_of("0123456789") == std::string::npos ? std::stoll(text) : -1;
  if (rows < 0 || rows % 128 != 0 || rows > (1 << 20)) {
    throw UsageError("IBZOO_FIXED_ROWS must be a multiple of 128 rows up to 1048576 (0 for off, e.g. 4096), got '" +
                     text + "'");
  }
  return rows;
}

ModelCache::ModelCache(const Manifest& manifest, int threads)
    : manifest_(manifest), threads_(threads), fixed_rows_(fixed_rows_setting()) {}

ModelCache::~ModelCache() {
  for (auto& [path, loading] : preloads_) loading.wait();
  for (auto& [path, hashing] : hashing_) hashing.wait();
}

std::unique_ptr<models::Model> ModelCache::load(const Checkpoint& checkpoint) const {
  models::RunOptions options;
  options.device = models::parse_device(manifest_.compute.device);
  options.dtype = models::parse_dtype(manifest_.compute.dtype);
  options.threads = threads_;
  options.final_norm = manifest_.estimator.final_norm;
  // On the host the forward runs one sequence at a time (stages/accumulate.cpp) and is
  // batch-invariant already; blocks of thousands of rows would only pad it.
  if (options.device == models::Device::Cuda) options.fixed_rows = fixed_rows_;
  // One rank per GPU: the node's ranks take its GPUs round-robin.
  if (options.device == models::Device::Cuda && models::cuda_device_count() > 0) {
    options.cuda_device_idx = node_local_rank() % models::cuda_device_count();
    if (!g_gpu_logged.exchange(true)) {
      io::log_info("using GPU " + std::to_string(options.cuda_device_idx) + " of " +
                   std::to_string(models::cuda_device_count()) + " on this node" +
                   (fixed_rows_ > 0 ? "; fixed shapes, blocks of " + std::to_string(fixed_rows_) + " rows"
                                    : "; fixed shapes off (IBZOO_FIXED_ROWS=0): results may depend on the batch size"));
    }
  }
  return models::Model::load(checkpoint.path, options);
}

void ModelCache::start_hashing(const Checkpoint& checkpoint) {
  const auto key = checkpoint.path.string();
  if (hashes_.count(key) || hashing_.count(key)) return;
  hashing_.emplace(key, std::async(std::launch::async, hash_files, checkpoint.path).share());
}

void ModelCache::preload(const Checkpoint& checkpoint, const WarmUp& shape) {
  const auto key = checkpoint.path.string();
  if ((model_ && path_ == checkpoint.path) || preloads_.count(key)) return;
  preloads_.emplace(key, std::async(std::launch::async, [this, checkpoint, shape] {
    const auto t0 = std::chrono::steady_clock::now();
    auto model = load(checkpoint);
    const auto t1 = std::chrono::steady_clock::now();
    warm_up(*model, shape);
    io::log_info("model " + checkpoint.name + " loaded ahead in " + milliseconds(t0, t1) + " ms" +
                 (shape.max_tokens > 0 && model->options().device == models::Device::Cuda
                      ? ", one warm-up batch in " + milliseconds(t1, std::chrono::steady_clock::now()) + " ms"
                      : ""));
    return model;
  }));
}

void ModelCache::prefetch(const Checkpoint& next, const Checkpoint& current) {
  if (next.path != current.path) start_hashing(next);  // reading to hash is the prefetch
}

void ModelCache::drop_preloads_except(const std::string& key) {
  for (auto it = preloads_.begin(); it != preloads_.end();) {
    if (it->first == key) {
      ++it;
      continue;
    }
    // A guess that was wrong (this rank's first checkpoint): the model goes unused.
    try {
      (void)it->second.get();
    } catch (const std::exception& e) {
      io::log_warn("loading " + it->first + " ahead failed (" + e.what() + "); it was not needed");
    }
    it = preloads_.erase(it);
  }
}

const models::Model& ModelCache::get(const Checkpoint& checkpoint) {
  const auto key = checkpoint.path.string();
  drop_preloads_except(key);
  if (model_ && path_ == checkpoint.path) return *model_;
  if (model_) model_->synchronize();  // nothing queued still reads its weights
  model_.reset();
  path_.clear();
  if (const auto it = preloads_.find(key); it != preloads_.end()) {
    auto loading = std::move(it->second);
    preloads_.erase(it);
    model_ = loading.get();  // rethrows what the load threw
  } else {
    model_ = load(checkpoint);
  }
  path_ = checkpoint.path;
  start_hashing(checkpoint);  // from the page cache the load has just filled
  return *model_;
}

const nlohmann::json& ModelCache::weight_hashes(const Checkpoint& checkpoint) {
  const auto key = checkpoint.path.string();
  if (const auto it = hashes_.find(key); it != hashes_.end()) return it->second;
  start_hashing(checkpoint);
  auto hashing = hashing_.at(key);
  hashing_.erase(key);
  return hashes_.emplace(key, hashing.get()).first->second;
}

}  // namespace ibzoo::pipeline
