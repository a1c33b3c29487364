// The transformer's weights in the Hugging Face layout (hf/layout.h): loading a
// checkpoint's tensors into the internal layout, and writing them back.
#include "models/transformer.h"
#include "models/transformer_ops.h"

#include "errors/check.h"
#include "errors/error.h"
#include "hf/layout.h"
#include "io/log.h"

#include <cstdint>
#include <functional>
#include <sstream>

namespace ibzoo::models {

using hf::Family;
using torch::indexing::Slice;

namespace {

torch::ScalarType scalar_type(hf::DType d) {
  switch (d) {
    case hf::DType::F64: return torch::kDouble;
    case hf::DType::F32: return torch::kFloat;
    case hf::DType::F16: return torch::kHalf;
    case hf::DType::BF16: return torch::kBFloat16;
    case hf::DType::I64: return torch::kLong;
    case hf::DType::I32: return torch::kInt;
    case hf::DType::I16: return torch::kShort;
    case hf::DType::I8: return torch::kChar;
    case hf::DType::U8: return torch::kByte;
    case hf::DType::BOOL: return torch::kBool;
  }
  IBZOO_CHECK(false, "unknown dtype");
}

std::string shape_str(const std::vector<std::int64_t>& s) {
  std::ostringstream os;
  os << "[";
  for (std::size_t i = 0; i < s.size(); ++i) os << (i ? ", " : "") << s[i];
  os << "]";
  return os.str();
}

// Reads HF tensors by name (tolerating a checkpoint saved without the base-model
// prefix, as GPT2Model.save_pretrained does) and checks their shapes.
class HfReader {
 public:
  HfReader(const hf::WeightStore& w, const hf::ModelConfig& c) : weights_(w) {
    for (const auto& spec : hf::hf_param_specs(c)) expected_[spec.name] = spec.shape;
    prefix_ = hf::hf_prefix(c.family);
    const auto first = hf::hf_param_specs(c).front().name;
    strip_prefix_ = !w.find(first) && w.find(first.substr(prefix_.size()));
  }
  torch::Tensor operator()(const std::string& name) const {
    const std::string stored = strip_prefix_ && name.starts_with(prefix_) ? name.substr(prefix_.size()) : name;
    const auto& view = weights_.at(stored);
    const auto& want = expected_.at(name);
    if (view.shape != want) {
      throw ModelError(weights_.file_of(stored).string() + ": tensor \"" + stored + "\" has shape " + shape_str(view.shape) +
                       ", expected " + shape_str(want) + " from config.json (config and weights disagree)");
    }
    if (view.dtype != hf::DType::F32 && view.dtype != hf::DType::F16 && view.dtype != hf::DType::BF16) {
      throw ModelError(weights_.file_of(stored).string() + ": tensor \"" + stored + "\" has dtype " +
                       std::string(hf::dtype_name(view.dtype)) + ", expected F32, F16 or BF16");
    }
    // A view of the mapped file when the bytes are aligned for their type (no copy on the
    // host: the caller copies it to the parameter's device, read only); else a copy.
    const auto type = scalar_type(view.dtype);
    const auto options = torch::TensorOptions().dtype(type);
    if (reinterpret_cast<std::uintptr_t>(view.data.data()) % torch::elementSize(type) == 0) {
      return torch::from_blob(const_cast<std::byte*>(view.data.data()), want, options);
    }
    auto out = torch::empty(want, options);
    std::memcpy(out.data_ptr(), view.data.data(), view.data.size());
    return out;
  }

 private:
  const hf::WeightStore& weights_;
  std::map<std::string, std::vector<std::int64_t>> expected_;
  std::string prefix_;
  bool strip_prefix_ = false;
};

void assign(torch::Tensor& param, const torch::Tensor& value) {
  IBZOO_CHECK(param.sizes() == value.sizes(), param.sizes() << " vs " << value.sizes());
  param.copy_(value);
}

// The parameter as the stored parts stacked along rows (q, k, v; gate, up), each part
// copied into its rows: no concatenated copy on the host.
void assign_rows(torch::Tensor& param, std::initializer_list<torch::Tensor> parts) {
  std::int64_t row = 0;
  for (const auto& part : parts) {
    param.narrow(0, row, part.size(0)).copy_(part);
    row += part.size(0);
  }
  IBZOO_CHECK(row == param.size(0), "parts have " << row << " rows, the parameter " << param.size(0));
}

// GPT-NeoX fuses q, k, v per head ([H, 3, hd] rows); ours is [3, H, hd].
torch::Tensor neox_to_qkv(const torch::Tensor& w, std::int64_t n_heads, std::int64_t head_dim) {
  const auto rest = w.dim() == 2 ? w.size(1) : 1;
  return w.reshape({n_heads, 3, head_dim, rest}).permute({1, 0, 2, 3}).reshape(w.sizes()).contiguous();
}
torch::Tensor qkv_to_neox(const torch::Tensor& w, std::int64_t n_heads, std::int64_t head_dim) {
  const auto rest = w.dim() == 2 ? w.size(1) : 1;
  return w.reshape({3, n_heads, head_dim, rest}).permute({1, 0, 2, 3}).reshape(w.sizes()).contiguous();
}

// Stored tensors that need reshaping are moved to the parameters' device first: the
// transpose or permutation then runs there, not as a copy on the host.
torch::Tensor on_device(const HfReader& get, const std::string& name, const LayerWeights& lw) {
  return get(name).to(lw.wqkv.device());
}

void load_gpt2_layer(LayerWeights& lw, const HfReader& get, const std::string& p) {
  assign(lw.norm_attn_w, get(p + "ln_1.weight"));
  assign(lw.norm_attn_b, get(p + "ln_1.bias"));
  assign(lw.wqkv, on_device(get, p + "attn.c_attn.weight", lw).t());
  assign(lw.bqkv, get(p + "attn.c_attn.bias"));
  assign(lw.wo, on_device(get, p + "attn.c_proj.weight", lw).t());
  assign(lw.bo, get(p + "attn.c_proj.bias"));
  assign(lw.norm_mlp_w, get(p + "ln_2.weight"));
  assign(lw.norm_mlp_b, get(p + "ln_2.bias"));
  assign(lw.w_in, on_device(get, p + "mlp.c_fc.weight", lw).t());
  assign(lw.b_in, get(p + "mlp.c_fc.bias"));
  assign(lw.w_out, on_device(get, p + "mlp.c_proj.weight", lw).t());
  assign(lw.b_out, get(p + "mlp.c_proj.bias"));
}

void load_neox_layer(LayerWeights& lw, const HfReader& get, const hf::ModelConfig& c, const std::string& p) {
  assign(lw.norm_attn_w, get(p + "input_layernorm.weight"));
  assign(lw.norm_attn_b, get(p + "input_layernorm.bias"));
  assign(lw.norm_mlp_w, get(p + "post_attention_layernorm.weight"));
  assign(lw.norm_mlp_b, get(p + "post_attention_layernorm.bias"));
  assign(lw.wqkv, neox_to_qkv(on_device(get, p + "attention.query_key_value.weight", lw), c.n_heads, c.head_dim));
  if (c.qkv_bias) assign(lw.bqkv, neox_to_qkv(on_device(get, p + "attention.query_key_value.bias", lw), c.n_heads, c.head_dim));
  assign(lw.wo, get(p + "attention.dense.weight"));
  if (c.out_bias) assign(lw.bo, get(p + "attention.dense.bias"));
  assign(lw.w_in, get(p + "mlp.dense_h_to_4h.weight"));
  assign(lw.b_in, get(p + "mlp.dense_h_to_4h.bias"));
  assign(lw.w_out, get(p + "mlp.dense_4h_to_h.weight"));
  assign(lw.b_out, get(p + "mlp.dense_4h_to_h.bias"));
}

// Llama, Mistral, Qwen2, OLMo-2, Gemma-2: separate q/k/v and gate/up projections.
void load_llama_like_layer(LayerWeights& lw, const HfReader& get, const hf::ModelConfig& c, const std::string& p) {
  const std::string a = p + "self_attn.";
  assign_rows(lw.wqkv, {get(a + "q_proj.weight"), get(a + "k_proj.weight"), get(a + "v_proj.weight")});
  if (c.qkv_bias) assign_rows(lw.bqkv, {get(a + "q_proj.bias"), get(a + "k_proj.bias"), get(a + "v_proj.bias")});
  assign(lw.wo, get(a + "o_proj.weight"));
  if (c.out_bias) assign(lw.bo, get(a + "o_proj.bias"));
  const std::string m = p + "mlp.";
  assign_rows(lw.w_in, {get(m + "gate_proj.weight"), get(m + "up_proj.weight")});
  if (c.mlp_bias) assign_rows(lw.b_in, {get(m + "gate_proj.bias"), get(m + "up_proj.bias")});
  assign(lw.w_out, get(m + "down_proj.weight"));
  if (c.mlp_bias) assign(lw.b_out, get(m + "down_proj.bias"));
  if (c.family == Family::Olmo2) {
    assign(lw.q_norm_w, get(a + "q_norm.weight"));
    assign(lw.k_norm_w, get(a + "k_norm.weight"));
    assign(lw.norm_post_attn_w, get(p + "post_attention_layernorm.weight"));
    assign(lw.norm_post_mlp_w, get(p + "post_feedforward_layernorm.weight"));
    return;
  }
  assign(lw.norm_attn_w, get(p + "input_layernorm.weight"));
  if (c.family == Family::Gemma2) {
    assign(lw.norm_post_attn_w, get(p + "post_attention_layernorm.weight"));
    assign(lw.norm_mlp_w, get(p + "pre_feedforward_layernorm.weight"));
    assign(lw.norm_post_mlp_w, get(p + "post_feedforward_layernorm.weight"));
    return;
  }
  assign(lw.norm_mlp_w, get(p + "post_attention_layernorm.weight"));
}

void load_layer(LayerWeights& lw, const HfReader& get, const hf::ModelConfig& c, const std::string& p) {
  if (c.family == Family::Gpt2) return load_gpt2_layer(lw, get, p);
  if (c.family == Family::GptNeox) return load_neox_layer(lw, get, c, p);
  load_llama_like_layer(lw, get, c, p);
}

std::string layer_prefix(const hf::ModelConfig& c, std::size_t i) {
  return hf::hf_prefix(c.family) + (c.family == Family::Gpt2 ? "h." : "layers.") + std::to_string(i) + ".";
}

std::string final_norm_name(Family f) {
  return hf::hf_prefix(f) + (f == Family::Gpt2 ? "ln_f" : f == Family::GptNeox ? "final_layer_norm" : "norm");
}

std::string embed_name(Family f) {
  return hf::hf_prefix(f) + (f == Family::Gpt2 ? "wte" : f == Family::GptNeox ? "embed_in" : "embed_tokens") + ".weight";
}

}  // namespace

Transformer load_transformer(const hf::WeightStore& weights, const hf::ModelConfig& c, torch::Dtype dtype,
                             torch::Device device) {
  Transformer model(c, dtype, device);
  torch::NoGradGuard no_grad;
  const HfReader get(weights, c);
  assign(model->embed, get(embed_name(c.family)));
  if (c.family == Family::Gpt2) assign(model->pos_embed, get(hf::hf_prefix(c.family) + "wpe.weight"));
  for (std::size_t i = 0; i < model->layers.size(); ++i) load_layer(model->layers[i], get, c, layer_prefix(c, i));
  assign(model->final_norm_w, get(final_norm_name(c.family) + ".weight"));
  if (model->final_norm_b.defined()) assign(model->final_norm_b, get(final_norm_name(c.family) + ".bias"));
  if (model->lm_head.defined()) assign(model->lm_head, get(hf::hf_lm_head_name(c.family)));
  model->fold_for_inference();
  return model;
}

namespace {

// Hands one tensor, under its Hugging Face name, to the checkpoint being written.
using PutTensor = std::function<void(const std::string& name, const torch::Tensor& t)>;

void put_gpt2_layer(const PutTensor& put, const std::string& p, const LayerWeights& lw) {
  put(p + "ln_1.weight", lw.norm_attn_w);
  put(p + "ln_1.bias", lw.norm_attn_b);
  put(p + "attn.c_attn.weight", lw.wqkv.t());
  put(p + "attn.c_attn.bias", lw.bqkv);
  put(p + "attn.c_proj.weight", lw.wo.t());
  put(p + "attn.c_proj.bias", lw.bo);
  put(p + "ln_2.weight", lw.norm_mlp_w);
  put(p + "ln_2.bias", lw.norm_mlp_b);
  put(p + "mlp.c_fc.weight", lw.w_in.t());
  put(p + "mlp.c_fc.bias", lw.b_in);
  put(p + "mlp.c_proj.weight", lw.w_out.t());
  put(p + "mlp.c_proj.bias", lw.b_out);
}

void put_neox_layer(const PutTensor& put, const std::string& p, const LayerWeights& lw, const hf::ModelConfig& c) {
  put(p + "input_layernorm.weight", lw.norm_attn_w);
  put(p + "input_layernorm.bias", lw.norm_attn_b);
  put(p + "post_attention_layernorm.weight", lw.norm_mlp_w);
  put(p + "post_attention_layernorm.bias", lw.norm_mlp_b);
  put(p + "attention.query_key_value.weight", qkv_to_neox(lw.wqkv, c.n_heads, c.head_dim));
  if (c.qkv_bias) put(p + "attention.query_key_value.bias", qkv_to_neox(lw.bqkv, c.n_heads, c.head_dim));
  put(p + "attention.dense.weight", lw.wo);
  if (c.out_bias) put(p + "attention.dense.bias", lw.bo);
  put(p + "mlp.dense_h_to_4h.weight", lw.w_in);
  put(p + "mlp.dense_h_to_4h.bias", lw.b_in);
  put(p + "mlp.dense_4h_to_h.weight", lw.w_out);
  put(p + "mlp.dense_4h_to_h.bias", lw.b_out);
}

// Llama, Mistral, Qwen2, OLMo-2, Gemma-2: separate q/k/v and gate/up projections.
void put_llama_like_layer(const PutTensor& put, const std::string& p, const LayerWeights& lw, const hf::ModelConfig& c) {
  const auto qd = c.n_heads * c.head_dim;
  const auto kvd = c.n_kv_heads * c.head_dim;
  const auto ff = c.intermediate_size;
  const std::string a = p + "self_attn.";
  put(a + "q_proj.weight", lw.wqkv.narrow(0, 0, qd));
  put(a + "k_proj.weight", lw.wqkv.narrow(0, qd, kvd));
  put(a + "v_proj.weight", lw.wqkv.narrow(0, qd + kvd, kvd));
  if (c.qkv_bias) {
    put(a + "q_proj.bias", lw.bqkv.narrow(0, 0, qd));
    put(a + "k_proj.bias", lw.bqkv.narrow(0, qd, kvd));
    put(a + "v_proj.bias", lw.bqkv.narrow(0, qd + kvd, kvd));
  }
  put(a + "o_proj.weight", lw.wo);
  if (c.out_bias) put(a + "o_proj.bias", lw.bo);
  put(p + "mlp.gate_proj.weight", lw.w_in.narrow(0, 0, ff));
  put(p + "mlp.up_proj.weight", lw.w_in.narrow(0, ff, ff));
  if (c.mlp_bias) {
    put(p + "mlp.gate_proj.bias", lw.b_in.narrow(0, 0, ff));
    put(p + "mlp.up_proj.bias", lw.b_in.narrow(0, ff, ff));
  }
  put(p + "mlp.down_proj.weight", lw.w_out);
  if (c.mlp_bias) put(p + "mlp.down_proj.bias", lw.b_out);
  if (c.family == Family::Olmo2) {
    put(a + "q_norm.weight", lw.q_norm_w);
    put(a + "k_norm.weight", lw.k_norm_w);
    put(p + "post_attention_layernorm.weight", lw.norm_post_attn_w);
    put(p + "post_feedforward_layernorm.weight", lw.norm_post_mlp_w);
    return;
  }
  put(p + "input_layernorm.weight", lw.norm_attn_w);
  if (c.family == Family::Gemma2) {
    put(p + "post_attention_layernorm.weight", lw.norm_post_attn_w);
    put(p + "pre_feedforward_layernorm.weight", lw.norm_mlp_w);
    put(p + "post_feedforward_layernorm.weight", lw.norm_post_mlp_w);
  } else {
    put(p + "post_attention_layernorm.weight", lw.norm_mlp_w);
  }
}

}  // namespace

std::vector<std::pair<std::string, torch::Tensor>> to_hf_tensors(const TransformerImpl& model) {
  const auto& c = model.config();
  std::map<std::string, torch::Tensor> out;
  const PutTensor put = [&](const std::string& name, const torch::Tensor& t) {
    out[name] = t.detach().to(torch::kCPU, torch::kFloat).contiguous();
  };
  put(embed_name(c.family), model.embed);
  if (model.pos_embed.defined()) put(hf::hf_prefix(c.family) + "wpe.weight", model.pos_embed);
  for (std::size_t i = 0; i < model.layers.size(); ++i) {
    const std::string p = layer_prefix(c, i);
    if (c.family == Family::Gpt2) {
      put_gpt2_layer(put, p, model.layers[i]);
    } else if (c.family == Family::GptNeox) {
      put_neox_layer(put, p, model.layers[i], c);
    } else {
      put_llama_like_layer(put, p, model.layers[i], c);
    }
  }
  put(final_norm_name(c.family) + ".weight", model.final_norm_w);
  if (model.final_norm_b.defined()) put(final_norm_name(c.family) + ".bias", model.final_norm_b);
  if (model.lm_head.defined()) put(hf::hf_lm_head_name(c.family), model.lm_head);
  std::vector<std::pair<std::string, torch::Tensor>> ordered;
  for (const auto& spec : hf::hf_param_specs(c)) {
    IBZOO_CHECK(out.count(spec.name), "no tensor for " << spec.name);
    ordered.emplace_back(spec.name, out.at(spec.name));
  }
  return ordered;
}

}  // namespace ibzoo::models
