#include "pipeline/model_cache.h"

#include "io/fs.h"
#include "io/log.h"
#include "pipeline/ranks.h"

#include <algorithm>
#include <atomic>
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

}  // namespace

ModelCache::ModelCache(const Manifest& manifest, int threads) : manifest_(manifest), threads_(threads) {}

ModelCache::~ModelCache() {
  if (preload_.valid()) preload_.wait();
  for (auto& [path, hashing] : hashing_) hashing.wait();
}

std::unique_ptr<models::Model> ModelCache::load(const Checkpoint& checkpoint) const {
  models::RunOptions options;
  options.device = models::parse_device(manifest_.compute.device);
  options.dtype = models::parse_dtype(manifest_.compute.dtype);
  options.threads = threads_;
  options.final_norm = manifest_.estimator.final_norm;
  // One rank per GPU: the node's ranks take its GPUs round-robin.
  if (options.device == models::Device::Cuda && models::cuda_device_count() > 0) {
    options.cuda_device_idx = node_local_rank() % models::cuda_device_count();
    if (!g_gpu_logged.exchange(true)) {
      io::log_info("using GPU " + std::to_string(options.cuda_device_idx) + " of " +
                   std::to_string(models::cuda_device_count()) + " on this node");
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
  if (preload_.valid()) preload_.wait();
  preload_path_ = checkpoint.path;
  preload_ = std::async(std::launch::async, [this, checkpoint, shape] {
    auto model = load(checkpoint);
    warm_up(*model, shape);
    return model;
  });
}

void ModelCache::prefetch(const Checkpoint& next, const Checkpoint& current) {
  if (next.path != current.path) start_hashing(next);  // reading to hash is the prefetch
}

const models::Model& ModelCache::get(const Checkpoint& checkpoint) {
  if (preload_.valid() && preload_path_ == checkpoint.path) {
    model_.reset();
    path_.clear();
    model_ = preload_.get();  // rethrows what the load threw
    path_ = checkpoint.path;
  } else if (preload_.valid()) {
    // The guess of this rank's first checkpoint was wrong: that model goes unused.
    try {
      (void)preload_.get();
    } catch (const std::exception& e) {
      io::log_warn("loading " + preload_path_.string() + " ahead failed (" + e.what() + "); it was not needed");
    }
  }
  if (!model_ || path_ != checkpoint.path) {
    model_.reset();
    model_ = load(checkpoint);
    path_ = checkpoint.path;
  }
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
