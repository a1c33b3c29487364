// models::Model: a Hugging Face model directory loaded natively, run forward, with
// every layer's hidden states streamed out. Torch-free header (pimpl): stages and
// pipeline include this, never torch.
//
// Hidden states follow the HF convention: index 0 = embedding output, index i =
// output of block i, index L = output after the final norm (RunOptions::final_norm
// = false: the raw output of block L instead).
#pragma once

#include "hf/config.h"

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace ibzoo::models {

enum class Device { Cpu, Cuda };
enum class DType { Float32, BFloat16, Float16 };

// "cpu"/"cuda", "float32"/"bfloat16"/"float16". parse_* throw UsageError.
std::string device_name(Device device);
std::string dtype_name(DType dtype);
Device parse_device(const std::string& name);
DType parse_dtype(const std::string& name);

// Whether torch sees a CUDA device (false for CPU-only builds).
bool cuda_available();

// float16 matrix products and norms on CPU need torch >= 2 (Debian ships 1.13).
bool dtype_supported(Device device, DType dtype);

// How many CUDA devices torch sees (0 for CPU-only builds).
int cuda_device_count();

// Free and total bytes of the model's GPU after torch's cache of unused blocks is
// returned to the device, and the peak torch allocated there since the last reset;
// nullopt on CPU (or a build without the CUDA headers).
struct DeviceMemory {
  std::int64_t free = 0;
  std::int64_t total = 0;
  std::int64_t peak_allocated = 0;
};
class Model;
std::optional<DeviceMemory> device_memory(const Model& model);
// Starts a new peak for device_memory().peak_allocated (no-op on CPU).
void reset_peak_device_memory(const Model& model);

struct RunOptions {
  Device device = Device::Cpu;
  DType dtype = DType::Float32;
  int threads = 0;          // torch intra-op threads; 0 leaves torch's setting
  bool final_norm = true;   // index L after the final norm (HF) or the raw last block
  int cuda_device_idx = 0;  // which GPU with Device::Cuda
  // > 0: fixed shapes (docs/GPU.md, "Does a result depend on anything but the study?"),
  // so that the kernels a position goes through do not depend on the batch it sits in:
  // every projection and the device tables' soft assignments run in blocks of exactly
  // this many rows (the last padded with zeros), and attention gets no padding mask and,
  // on a GPU, torch's memory-efficient kernel (flash attention splits a small batch's keys
  // by a heuristic), or with logit soft-capping (Gemma 2) one sequence at a time.
  // Valid rows are unchanged in exact arithmetic. The pipeline sets 4096 for GPU runs
  // (pipeline/model_cache.cpp; IBZOO_FIXED_ROWS: another multiple of 128, or 0 for off).
  std::int64_t fixed_rows = 0;
};

// sink(layer_idx, rows, n_rows, dim): float32 row-major [n_rows, dim], the rows of
// all sequences of the call concatenated in input order, padding removed. `rows` is
// valid only during the call.
using LayerSink = std::function<void(int layer_idx, const float* rows, std::int64_t n_rows, std::int64_t dim)>;


// W / eps on the model's device, for the estimator's per-batch kernel there
// (models/device_tables.h): p = softmax(cos(z, w_j) / eps), the same formula and
// float32 arithmetic as analysis::SoftAssigner (the products round differently:
// results agree to ~1e-6, not bitwise).
class DeviceAssigner {
 public:
  // w: [n_bins, dim] row-major unit rows (analysis::ReferencePoints::w); eps > 0.
  // Throws UsageError if dim differs from the model's hidden size.
  DeviceAssigner(const Model& model, std::span<const float> w, std::int64_t n_bins, std::int64_t dim, double eps);
  ~DeviceAssigner();
  DeviceAssigner(const DeviceAssigner&) = delete;
  DeviceAssigner& operator=(const DeviceAssigner&) = delete;
  std::int64_t n_bins() const;

  struct Impl;
  const Impl& impl() const { return *impl_; }

 private:
  std::unique_ptr<Impl> impl_;
};

class Model {
 public:
  // Reads <dir>/config.json and the safetensors weights (see hf::WeightStore).
  // Throws MissingInputError, CorruptDataError, ModelError (unknown architecture,
  // missing tensor, shape mismatch, CUDA requested but unavailable).
  static std::unique_ptr<Model> load(const std::filesystem::path& dir, const RunOptions& options);
  ~Model();
  Model(const Model&) = delete;
  Model& operator=(const Model&) = delete;

  const hf::ModelConfig& config() const;
  const RunOptions& options() const;
  const std::filesystem::path& dir() const;
  int n_layers() const;
  std::int64_t hidden_size() const;
  std::int64_t vocab_size() const;
  std::int64_t n_parameters() const;

  // Runs all `sequences` as one right-padded batch (the caller chooses the batch
  // size) under an inference-mode guard and calls sink for layers 0..L in order,
  // only for the layers in `layers` (empty = all). Holds one layer's output at a
  // time on the host. Token ids must be in [0, vocab_size): else ModelError.
  void forward_layers(const std::vector<std::vector<std::int32_t>>& sequences, const LayerSink& sink,
                      std::span<const int> layers = {}) const;

  // forward_layers resumed from hidden state from_layer (0 < from_layer < n_layers(), a
  // residual stream): `start` holds its rows as the sink gave them ([tokens of every
  // sequence, in order] x hidden_size, float32); only the blocks after it run, and the
  // sink sees only later layers, with the bits the whole pass gives. ModelError when
  // the layer or the size does not fit.
  void forward_layers_from(const std::vector<std::vector<std::int32_t>>& sequences, int from_layer,
                           std::span<const float> start, const LayerSink& sink, std::span<const int> layers = {}) const;

  // Logits for each sequence: float32 row-major [T_k, V] (softcapped as the model
  // does). One batch, as forward_layers.
  std::vector<std::vector<float>> logits(const std::vector<std::vector<std::int32_t>>& sequences) const;

  // For each sequence, log p(ids[t] | ids[< t]) for t = 1 .. T-1: the log-softmax of
  // the logits (float32) taken on the model's device, where only these T-1 values per
  // sequence are gathered and copied back (not the [T, V] logits). One batch, as logits().
  std::vector<std::vector<float>> next_token_log_probs(const std::vector<std::vector<std::int32_t>>& sequences) const;

  // Both at once: the layer sink and the logits of one forward pass.
  std::vector<std::vector<float>> forward_layers_and_logits(const std::vector<std::vector<std::int32_t>>& sequences,
                                                            const LayerSink& sink,
                                                            std::span<const int> layers = {}) const;

  // The forward pass alone, up to hidden state `last_layer` (all: -1), nothing read
  // out: what the estimator's overhead is measured against (benchmarks).
  void forward_only(const std::vector<std::vector<std::int32_t>>& sequences, int last_layer = -1) const;

  // Waits until the device has finished all queued work (timing; no-op on CPU).
  void synchronize() const;

  struct Impl;
  // For code inside models/ (the trainer): the torch module.
  Impl& impl() const { return *impl_; }

 private:
  explicit Model(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// In-place log-softmax of each row of a row-major [n_rows, n_cols] float buffer
// (max-shifted, accumulated in double).
void log_softmax_rows(std::span<float> values, std::int64_t n_cols);

}  // namespace ibzoo::models
