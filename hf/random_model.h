// Random-weight models in the Hugging Face layout, for tests, demos and benchmarks.
// Torch-free: weights come from a portable generator (splitmix64 + Box-Muller), so
// the same seed gives the same bytes on every machine and build.
#pragma once

#include "hf/config.h"

#include <cstdint>
#include <filesystem>

namespace ibzoo::hf {

struct RandomModelOptions {
  hf::ModelConfig config;       // e.g. hf::default_model_config(family, sizes)
  std::uint64_t seed = 1;
  double init_std = 0.02;       // normal(0, init_std) for weights, embeddings and biases
};

// Writes <out_dir>/config.json and <out_dir>/model.safetensors (float32, the
// tensor names transformers' *ForCausalLM saves, see hf_layout.h). Norm weights are
// drawn from uniform(0.6, 1.4) so that every parameter matters. Each tensor's
// values depend only on (seed, tensor name). Creates out_dir; overwrites both files
// atomically. Throws WriteError.
void make_random_model(const RandomModelOptions& options, const std::filesystem::path& out_dir);

// n_parameters of the model make_random_model writes (tied head counted once).
std::int64_t count_parameters(const hf::ModelConfig& config);

}  // namespace ibzoo::hf
