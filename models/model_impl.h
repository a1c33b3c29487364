// Inside models/ only: what Model and DeviceAssigner hold, and the batch helpers
// that the device tables (models/device_tables.cpp) share with the forward pass.
#pragma once

#include "models/model.h"
#include "models/transformer.h"

#include <torch/torch.h>
#include <torch/version.h>

#include <span>
#include <string>
#include <vector>

// torch multiplies bfloat16 matrices into a float32 result (at::mm's out_dtype) on CUDA
// from torch 2.8.
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 8)
#define IBZOO_HAVE_MM_OUT_DTYPE 1
#else
#define IBZOO_HAVE_MM_OUT_DTYPE 0
#endif

namespace ibzoo::models {

struct Model::Impl {
  std::filesystem::path dir;
  RunOptions options;
  hf::ModelConfig config;
  Transformer module{nullptr};
};

struct DeviceAssigner::Impl {
  torch::Tensor w_scaled_t;  // float32 [d, m] on the model's device: (W / eps) transposed
  // bfloat16 [d, 3m] on CUDA with IBZOO_HAVE_MM_OUT_DTYPE, else
  // undefined: w_scaled_t = hi + mid + lo exactly (columns [0, m), [m, 2m), [2m, 3m)),
  // so that bfloat16 rows multiply by it on the tensor cores with every product exact.
  torch::Tensor w_split_t;
  std::int64_t n_bins = 0;
};

struct Batch {
  torch::Tensor ids;  // int64 [B, T], right-padded with 0
  std::vector<std::int64_t> lengths;
  torch::Tensor valid_rows;  // int64 indices into the flattened [B * T] rows; undefined if no padding
};

// One right-padded batch. Throws ModelError (naming `dir`) for an empty batch or
// sequence and for token ids outside [0, vocab).
Batch make_batch(const std::vector<std::vector<std::int32_t>>& sequences, std::int64_t vocab, const std::string& dir);

// A host tensor on `device`: through pinned memory and without blocking on CUDA
// (a copy from pageable memory would wait for all queued work first).
torch::Tensor to_device(const torch::Tensor& host, const torch::Device& device);

// int64 [rows.size()] (host): each row of the batch's concatenated unpadded tokens
// as an index into the flattened [B * T] padded batch. Throws ModelError for a row
// outside the batch.
torch::Tensor padded_rows(const Batch& batch, std::span<const std::int64_t> rows, const std::string& dir);

// w (float32 [d, k]) as three bfloat16 parts side by side, [d, 3k] = hi | mid | lo,
// with hi + mid + lo == w exactly (8 + 8 + 8 significant bits hold float32's 24);
// undefined where some value does not split exactly (subnormal parts).
torch::Tensor split_bfloat16(const torch::Tensor& w);

// z (bfloat16 [n, d]) x w in float32, given split_bfloat16(w): one bfloat16 GEMM into
// float32, whose products (8 x 8 bits) are exact and summed in float32 as a float32
// GEMM sums its rounded products; then (lo + mid) + hi. No float32 copy of z is made.
// Needs IBZOO_HAVE_MM_OUT_DTYPE and CUDA.
torch::Tensor mm_split(const torch::Tensor& z, const torch::Tensor& w_split);

}  // namespace ibzoo::models
