// Inside models/ only: what Model and DeviceAssigner hold, and the batch helpers
// that the device tables (models/device_tables.cpp) share with the forward pass.
#pragma once

#include "models/model.h"
#include "models/transformer.h"

#include <torch/torch.h>

#include <span>
#include <string>
#include <vector>

namespace ibzoo::models {

struct Model::Impl {
  std::filesystem::path dir;
  RunOptions options;
  hf::ModelConfig config;
  Transformer module{nullptr};
};

struct DeviceAssigner::Impl {
  torch::Tensor w_scaled_t;  // float32 [d, m] on the model's device: (W / eps) transposed
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

}  // namespace ibzoo::models
