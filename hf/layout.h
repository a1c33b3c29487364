// The tensor names and shapes that transformers' *ForCausalLM classes save for
// each family (save_pretrained, safetensors). Torch-free: the loader and the
// random-model writer both follow this one table.
#pragma once

#include "hf/config.h"

#include <cstdint>
#include <string>
#include <vector>

namespace ibzoo::hf {

// How make_random_model fills a tensor.
enum class ParamInit {
  Normal,      // normal(0, init_std): projection weights, embeddings, biases
  NormWeight,  // uniform(0.6, 1.4) (for Gemma's 1 + w: uniform(-0.4, 0.4))
  NormBias,    // normal(0, init_std)
};

struct ParamSpec {
  std::string name;  // full HF name, e.g. "model.layers.0.self_attn.q_proj.weight"
  std::vector<std::int64_t> shape;
  ParamInit init = ParamInit::Normal;
};

// "transformer." (gpt2), "gpt_neox." (gpt_neox), "model." (the rest).
std::string hf_prefix(hf::Family family);
// The LM head's name when untied: "lm_head.weight" or "embed_out.weight" (gpt_neox).
std::string hf_lm_head_name(hf::Family family);

// Every tensor, in save order (embeddings, layers, final norm, head if untied).
std::vector<ParamSpec> hf_param_specs(const hf::ModelConfig& config);

}  // namespace ibzoo::hf
