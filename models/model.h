// models::Model: a Hugging Face model directory loaded natively, run forward, with
// every layer's hidden states streamed out. Torch-free header (pimpl): stages and
// pipeline include this, never torch.
//
// Hidden states follow the HF convention: index 0 = embedding output, index i =
// output of block i, index L = output after the final norm (RunOptions::final_norm
// = false: the raw output of block L instead).
#pragma once

#include "io/hf_config.h"

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
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

struct RunOptions {
  Device device = Device::Cpu;
  DType dtype = DType::Float32;
  int threads = 0;          // torch intra-op threads; 0 leaves torch's setting
  bool final_norm = true;   // index L after the final norm (HF) or the raw last block
  int cuda_device_idx = 0;  // which GPU with Device::Cuda
};

// sink(layer_idx, rows, n_rows, dim): float32 row-major [n_rows, dim], the rows of
// all sequences of the call concatenated in input order, padding removed. `rows` is
// valid only during the call.
using LayerSink = std::function<void(int layer_idx, const float* rows, std::int64_t n_rows, std::int64_t dim)>;

class Model;

// Soft assignments of one batch, as forward_assignments returns them: possibly
// still being copied from the device. Cheap to move; the memory lives as long as
// the handle.
class Assignments {
 public:
  Assignments();
  ~Assignments();
  Assignments(Assignments&&) noexcept;
  Assignments& operator=(Assignments&&) noexcept;

  // Blocks until the assignments are in host memory (returns at once on CPU).
  // Safe to call from another thread than the one that ran the forward pass.
  void wait() const;
  // After wait(): row-major [n_rows, n_bins] of the k-th requested layer, each row a
  // probability vector (non-finite values mean a zero or non-finite representation
  // row): float32 values (layer) or, when computed with float16 = true, IEEE half
  // bit patterns rounded to nearest even (layer_f16). The other accessor throws.
  const float* layer(std::size_t k) const;
  const std::uint16_t* layer_f16(std::size_t k) const;
  bool float16() const;
  // After wait(): the sum of every value of every layer, in float64 on the device
  // before any rounding to half: n_rows x layers up to rounding, NaN if any value is
  // not finite. One number to check instead of every value.
  double total() const;
  const std::vector<int>& layer_ids() const;  // the layers, in order
  std::int64_t n_rows() const;
  std::int64_t n_bins() const;

  struct Impl;
  Impl& impl() { return *impl_; }

 private:
  std::unique_ptr<Impl> impl_;
};

// Whether this build overlaps device-to-host copies with the next forward pass
// (a CUDA build of libtorch with its CUDA headers); false: forward_assignments
// returns after the copy.
bool async_device_copies();

// The estimator's per-batch kernel on the model's device (DESIGN.md section 5):
// p = softmax(cos(z, w_j) / eps) computed next to the forward pass, so that only
// [positions, m] assignments cross to the host instead of [tokens, d] rows.
// Same formula and float32 arithmetic as analysis::SoftAssigner; on CUDA the
// products round differently (results agree to ~1e-6, not bitwise).
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
  // Reads <dir>/config.json and the safetensors weights (see io::WeightStore).
  // Throws MissingInputError, CorruptDataError, ModelError (unknown architecture,
  // missing tensor, shape mismatch, CUDA requested but unavailable).
  static std::unique_ptr<Model> load(const std::filesystem::path& dir, const RunOptions& options);
  ~Model();
  Model(const Model&) = delete;
  Model& operator=(const Model&) = delete;

  const io::ModelConfig& config() const;
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

  // Logits for each sequence: float32 row-major [T_k, V] (softcapped as the model
  // does). One batch, as forward_layers.
  std::vector<std::vector<float>> logits(const std::vector<std::vector<std::int32_t>>& sequences) const;

  // Both at once: the layer sink and the logits of one forward pass.
  std::vector<std::vector<float>> forward_layers_and_logits(const std::vector<std::vector<std::int32_t>>& sequences,
                                                            const LayerSink& sink,
                                                            std::span<const int> layers = {}) const;

  // One forward pass of `sequences` (as forward_layers) that computes, for every
  // layer in `layers` (empty = all), the soft assignments of the rows `rows` (indices
  // into the batch's concatenated unpadded rows, as LayerSink numbers them) on the
  // model's device. Hidden states never leave the device; the assignments of all
  // layers come back in one copy, which on CUDA overlaps with whatever is queued
  // next: call wait() on the result before reading it. rows must be in range: else
  // ModelError. No rows: an empty result, no forward pass. float16: the values come
  // back rounded to IEEE half (half the bytes to copy and store).
  Assignments forward_assignments(const std::vector<std::vector<std::int32_t>>& sequences,
                                  std::span<const std::int64_t> rows, const DeviceAssigner& assigner,
                                  std::span<const int> layers = {}, bool float16 = false) const;

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
