#include "hf/layout.h"

namespace ibzoo::hf {

using hf::Family;

std::string hf_prefix(Family family) {
  if (family == Family::Gpt2) return "transformer.";
  if (family == Family::GptNeox) return "gpt_neox.";
  return "model.";
}

std::string hf_lm_head_name(Family family) {
  return family == Family::GptNeox ? "embed_out.weight" : "lm_head.weight";
}

namespace {

using Shape = std::vector<std::int64_t>;

void add_norm(std::vector<ParamSpec>& out, const std::string& name, std::int64_t dim, bool with_bias) {
  out.push_back({name + ".weight", {dim}, ParamInit::NormWeight});
  if (with_bias) out.push_back({name + ".bias", {dim}, ParamInit::NormBias});
}

void add_linear(std::vector<ParamSpec>& out, const std::string& name, Shape weight_shape, std::int64_t bias_dim,
                bool with_bias) {
  out.push_back({name + ".weight", std::move(weight_shape), ParamInit::Normal});
  if (with_bias) out.push_back({name + ".bias", {bias_dim}, ParamInit::Normal});
}

void gpt2_layer(std::vector<ParamSpec>& out, const hf::ModelConfig& c, const std::string& p) {
  const auto d = c.hidden_size;
  const auto ff = c.intermediate_size;
  add_norm(out, p + "ln_1", d, true);
  add_linear(out, p + "attn.c_attn", {d, 3 * d}, 3 * d, true);  // Conv1D: [in, out]
  add_linear(out, p + "attn.c_proj", {d, d}, d, true);
  add_norm(out, p + "ln_2", d, true);
  add_linear(out, p + "mlp.c_fc", {d, ff}, ff, true);
  add_linear(out, p + "mlp.c_proj", {ff, d}, d, true);
}

void neox_layer(std::vector<ParamSpec>& out, const hf::ModelConfig& c, const std::string& p) {
  const auto d = c.hidden_size;
  const auto ff = c.intermediate_size;
  add_norm(out, p + "input_layernorm", d, true);
  add_norm(out, p + "post_attention_layernorm", d, true);
  add_linear(out, p + "attention.query_key_value", {3 * d, d}, 3 * d, c.qkv_bias);
  add_linear(out, p + "attention.dense", {d, d}, d, c.out_bias);
  add_linear(out, p + "mlp.dense_h_to_4h", {ff, d}, ff, c.mlp_bias);
  add_linear(out, p + "mlp.dense_4h_to_h", {d, ff}, d, c.mlp_bias);
}

// Llama, Mistral, Qwen2, OLMo2, Gemma2: separate q/k/v/o and a gated MLP.
void llama_layer(std::vector<ParamSpec>& out, const hf::ModelConfig& c, const std::string& p) {
  const auto d = c.hidden_size;
  const auto ff = c.intermediate_size;
  const auto q_dim = c.n_heads * c.head_dim;
  const auto kv_dim = c.n_kv_heads * c.head_dim;
  if (c.family != Family::Olmo2) add_norm(out, p + "input_layernorm", d, false);
  add_linear(out, p + "self_attn.q_proj", {q_dim, d}, q_dim, c.qkv_bias);
  add_linear(out, p + "self_attn.k_proj", {kv_dim, d}, kv_dim, c.qkv_bias);
  add_linear(out, p + "self_attn.v_proj", {kv_dim, d}, kv_dim, c.qkv_bias);
  add_linear(out, p + "self_attn.o_proj", {d, q_dim}, d, c.out_bias);
  if (c.family == Family::Olmo2) {
    add_norm(out, p + "self_attn.q_norm", q_dim, false);
    add_norm(out, p + "self_attn.k_norm", kv_dim, false);
  }
  add_norm(out, p + "post_attention_layernorm", d, false);
  if (c.family == Family::Gemma2) add_norm(out, p + "pre_feedforward_layernorm", d, false);
  if (c.family == Family::Gemma2 || c.family == Family::Olmo2) add_norm(out, p + "post_feedforward_layernorm", d, false);
  add_linear(out, p + "mlp.gate_proj", {ff, d}, ff, c.mlp_bias);
  add_linear(out, p + "mlp.up_proj", {ff, d}, ff, c.mlp_bias);
  add_linear(out, p + "mlp.down_proj", {d, ff}, d, c.mlp_bias);
}

}  // namespace

std::vector<ParamSpec> hf_param_specs(const hf::ModelConfig& c) {
  std::vector<ParamSpec> out;
  const std::string pre = hf_prefix(c.family);
  const auto d = c.hidden_size;
  const bool layer_norm = c.norm_kind() == hf::NormKind::LayerNorm;
  switch (c.family) {
    case Family::Gpt2:
      out.push_back({pre + "wte.weight", {c.vocab_size, d}, ParamInit::Normal});
      out.push_back({pre + "wpe.weight", {c.max_position_embeddings, d}, ParamInit::Normal});
      break;
    case Family::GptNeox:
      out.push_back({pre + "embed_in.weight", {c.vocab_size, d}, ParamInit::Normal});
      break;
    default:
      out.push_back({pre + "embed_tokens.weight", {c.vocab_size, d}, ParamInit::Normal});
      break;
  }
  for (std::int64_t i = 0; i < c.n_layers; ++i) {
    const std::string idx = std::to_string(i);
    if (c.family == Family::Gpt2) {
      gpt2_layer(out, c, pre + "h." + idx + ".");
    } else if (c.family == Family::GptNeox) {
      neox_layer(out, c, pre + "layers." + idx + ".");
    } else {
      llama_layer(out, c, pre + "layers." + idx + ".");
    }
  }
  const std::string final_norm = c.family == Family::Gpt2 ? "ln_f" : c.family == Family::GptNeox ? "final_layer_norm" : "norm";
  add_norm(out, pre + final_norm, d, layer_norm);
  if (!c.tie_word_embeddings) out.push_back({hf_lm_head_name(c.family), {c.vocab_size, d}, ParamInit::Normal});
  return out;
}

}  // namespace ibzoo::hf
