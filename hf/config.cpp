#include "hf/config.h"

#include "errors/check.h"
#include "errors/error.h"
#include "io/fs.h"

#include <cmath>
#include <fstream>
#include <initializer_list>
#include <sstream>

namespace ibzoo::hf {

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

struct FamilyName {
  Family family;
  std::string_view name;
  std::string_view architecture;  // the causal-LM class transformers saves
};
constexpr FamilyName kFamilies[] = {
    {Family::Gpt2, "gpt2", "GPT2LMHeadModel"},          {Family::GptNeox, "gpt_neox", "GPTNeoXForCausalLM"},
    {Family::Llama, "llama", "LlamaForCausalLM"},       {Family::Mistral, "mistral", "MistralForCausalLM"},
    {Family::Qwen2, "qwen2", "Qwen2ForCausalLM"},       {Family::Olmo2, "olmo2", "Olmo2ForCausalLM"},
    {Family::Gemma2, "gemma2", "Gemma2ForCausalLM"},
};

std::string known_families() {
  std::string s;
  for (const auto& f : kFamilies) s += (s.empty() ? "" : ", ") + std::string(f.name);
  return s;
}

// Typed access to config.json fields with aliases; messages name the file and key.
class Fields {
 public:
  Fields(const json& j, const std::string& source) : j_(j), source_(source) {}

  // The first alias present with a non-null value.
  const json* find(std::initializer_list<const char*> keys, const char** found = nullptr) const {
    for (const char* k : keys) {
      const auto it = j_.find(k);
      if (it != j_.end() && !it->is_null()) {
        if (found) *found = k;
        return &*it;
      }
    }
    return nullptr;
  }
  std::int64_t integer(std::initializer_list<const char*> keys, std::optional<std::int64_t> fallback) const {
    const char* key = nullptr;
    const json* v = find(keys, &key);
    if (!v) {
      if (fallback) return *fallback;
      fail(*keys.begin(), "is required (also accepted: " + alias_list(keys) + ")", "missing");
    }
    if (!v->is_number_integer()) fail(key, "must be an integer", v->dump());
    return v->get<std::int64_t>();
  }
  std::int64_t positive(std::initializer_list<const char*> keys, std::optional<std::int64_t> fallback) const {
    const auto n = integer(keys, fallback);
    if (n <= 0) fail(*keys.begin(), "must be a positive integer", std::to_string(n));
    return n;
  }
  double number(std::initializer_list<const char*> keys, double fallback) const {
    const char* key = nullptr;
    const json* v = find(keys, &key);
    if (!v) return fallback;
    if (!v->is_number()) fail(key, "must be a number", v->dump());
    return v->get<double>();
  }
  bool boolean(std::initializer_list<const char*> keys, bool fallback) const {
    const char* key = nullptr;
    const json* v = find(keys, &key);
    if (!v) return fallback;
    if (!v->is_boolean()) fail(key, "must be true or false", v->dump());
    return v->get<bool>();
  }
  std::string string(std::initializer_list<const char*> keys, const std::string& fallback) const {
    const char* key = nullptr;
    const json* v = find(keys, &key);
    if (!v) return fallback;
    if (!v->is_string()) fail(key, "must be a string", v->dump());
    return v->get<std::string>();
  }
  std::optional<std::int64_t> token_id(const char* key) const {
    const json* v = find({key});
    if (!v) return std::nullopt;
    if (v->is_array()) return v->empty() || !v->front().is_number_integer() ? std::nullopt
                                                                           : std::optional(v->front().get<std::int64_t>());
    if (!v->is_number_integer()) fail(key, "must be an integer or a list of integers", v->dump());
    return v->get<std::int64_t>();
  }

  [[noreturn]] void fail(const std::string& key, const std::string& expected, const std::string& found) const {
    throw CorruptDataError(source_ + ": field '" + key + "' " + expected + ", found " + found +
                           "; fix config.json (or re-save the model with transformers)");
  }
  const std::string& source() const { return source_; }

 private:
  static std::string alias_list(std::initializer_list<const char*> keys) {
    std::string s;
    for (const char* k : keys) s += (s.empty() ? "" : ", ") + std::string(k);
    return s;
  }
  const json& j_;
  const std::string& source_;
};

Family detect_family(const json& j, const std::string& source) {
  std::string model_type = j.contains("model_type") && j["model_type"].is_string() ? j["model_type"].get<std::string>() : "";
  std::string arch;
  if (j.contains("architectures") && j["architectures"].is_array() && !j["architectures"].empty() &&
      j["architectures"][0].is_string()) {
    arch = j["architectures"][0].get<std::string>();
  }
  if (const auto f = parse_family(model_type)) return *f;
  if (model_type.empty()) {
    for (const auto& f : kFamilies) {
      if (arch == f.architecture) return f.family;
    }
  }
  throw ModelError(source + ": unknown architecture (model_type \"" + model_type + "\", architectures[0] \"" + arch +
                   "\"); ibzoo implements " + known_families() + ". Use a model of one of these families.");
}

Activation parse_activation(const std::string& name, const Fields& f, const char* key) {
  if (name == "gelu_new" || name == "gelu_pytorch_tanh" || name == "gelu_fast" || name == "gelu_tanh") {
    return Activation::GeluTanh;
  }
  if (name == "gelu") return Activation::GeluExact;
  if (name == "silu" || name == "swish") return Activation::Silu;
  throw ModelError(f.source() + ": field '" + key + "' = \"" + name +
                   "\" is an activation ibzoo does not implement (known: gelu_new, gelu_pytorch_tanh, gelu, silu)");
}

// rope_parameters (transformers 5) or rope_scaling (older), possibly one dict per
// layer type; top-level rope_theta / rotary_emb_base / rotary_pct are the older spelling.
RopeConfig parse_rope(const json& j, const Fields& f, Family family) {
  RopeConfig r;
  const json* dict = f.find({"rope_parameters", "rope_scaling"});
  if (dict && dict->is_object() && dict->contains("full_attention") && (*dict)["full_attention"].is_object()) {
    dict = &(*dict)["full_attention"];
  }
  if (dict && !dict->is_object()) f.fail("rope_parameters", "must be an object", dict->dump());
  const json empty = json::object();
  const Fields rf(dict ? *dict : empty, f.source());
  const double default_partial = family == Family::GptNeox ? 0.25 : 1.0;
  r.theta = rf.number({"rope_theta"}, f.number({"rope_theta", "rotary_emb_base"}, 10000.0));
  r.partial_rotary_factor =
      rf.number({"partial_rotary_factor"}, f.number({"partial_rotary_factor", "rotary_pct"}, default_partial));
  if (r.theta <= 0) f.fail("rope_theta", "must be positive", std::to_string(r.theta));
  if (r.partial_rotary_factor <= 0 || r.partial_rotary_factor > 1) {
    f.fail("partial_rotary_factor", "must be in (0, 1]", std::to_string(r.partial_rotary_factor));
  }
  const std::string type = rf.string({"rope_type", "type"}, "default");
  if (type == "default") {
    r.type = RopeType::Default;
  } else if (type == "linear") {
    r.type = RopeType::Linear;
    r.factor = rf.number({"factor"}, 1.0);
  } else if (type == "llama3") {
    r.type = RopeType::Llama3;
    r.factor = rf.number({"factor"}, 8.0);
    r.low_freq_factor = rf.number({"low_freq_factor"}, 1.0);
    r.high_freq_factor = rf.number({"high_freq_factor"}, 4.0);
    r.original_max_position_embeddings = rf.positive({"original_max_position_embeddings"}, 8192);
    if (r.high_freq_factor <= r.low_freq_factor) {
      f.fail("rope_parameters.high_freq_factor", "must exceed low_freq_factor", std::to_string(r.high_freq_factor));
    }
  } else {
    throw ModelError(f.source() + ": rope type \"" + type +
                     "\" is not implemented (known: default, linear, llama3)");
  }
  if (r.factor <= 0) f.fail("rope_parameters.factor", "must be positive", std::to_string(r.factor));
  (void)j;
  return r;
}

std::vector<bool> parse_layer_sliding(const json& j, const Fields& f, ModelConfig& c) {
  std::vector<bool> sliding(static_cast<std::size_t>(c.n_layers), false);
  if (!c.sliding_window) return sliding;
  if (const json* types = f.find({"layer_types"})) {
    if (!types->is_array() || types->size() != sliding.size()) {
      f.fail("layer_types", "must be a list of " + std::to_string(c.n_layers) + " layer types", types->dump());
    }
    for (std::size_t i = 0; i < sliding.size(); ++i) {
      const auto& t = (*types)[i];
      if (!t.is_string() || (t != "sliding_attention" && t != "full_attention")) {
        f.fail("layer_types", "must hold \"sliding_attention\" or \"full_attention\"", t.dump());
      }
      sliding[i] = t == "sliding_attention";
    }
    return sliding;
  }
  for (std::size_t i = 0; i < sliding.size(); ++i) {
    if (c.family == Family::Gemma2) sliding[i] = i % 2 == 0;
    if (c.family == Family::Mistral) sliding[i] = true;
    if (c.family == Family::Qwen2) {
      sliding[i] = static_cast<std::int64_t>(i) >= f.integer({"max_window_layers"}, 28);
    }
  }
  (void)j;
  return sliding;
}

void parse_sizes(const Fields& f, ModelConfig& c) {
  const bool gpt2 = c.family == Family::Gpt2;
  c.vocab_size = f.positive({"vocab_size"}, std::nullopt);
  c.hidden_size = f.positive({"hidden_size", "n_embd", "d_model"}, std::nullopt);
  c.n_layers = f.positive({"num_hidden_layers", "n_layer", "num_layers"}, std::nullopt);
  c.n_heads = f.positive({"num_attention_heads", "n_head"}, std::nullopt);
  c.n_kv_heads = f.positive({"num_key_value_heads"}, c.n_heads);
  if (c.family == Family::Gpt2 || c.family == Family::GptNeox) c.n_kv_heads = c.n_heads;
  const bool explicit_head_dim = !gpt2 && c.family != Family::GptNeox;
  c.head_dim = explicit_head_dim ? f.positive({"head_dim"}, c.hidden_size / c.n_heads) : c.hidden_size / c.n_heads;
  if (!explicit_head_dim || !f.find({"head_dim"})) {
    if (c.hidden_size % c.n_heads != 0) {
      f.fail("num_attention_heads", "must divide hidden_size " + std::to_string(c.hidden_size), std::to_string(c.n_heads));
    }
  }
  if (c.n_heads % c.n_kv_heads != 0) {
    f.fail("num_key_value_heads", "must divide num_attention_heads " + std::to_string(c.n_heads),
           std::to_string(c.n_kv_heads));
  }
  c.intermediate_size = f.positive({"intermediate_size", "n_inner"}, 4 * c.hidden_size);
  c.max_position_embeddings = f.positive({"max_position_embeddings", "n_positions", "n_ctx"}, gpt2 ? 1024 : 2048);
}

// A key written as null means "off" (no softcap, no window), not "default".
bool explicitly_null(const json& j, const char* key) { return j.contains(key) && j[key].is_null(); }

void parse_family_switches(const json& j, const Fields& f, ModelConfig& c) {
  switch (c.family) {
    case Family::Gpt2:
      c.norm_eps = f.number({"layer_norm_epsilon", "layer_norm_eps"}, 1e-5);
      c.activation_name = f.string({"activation_function"}, "gelu_new");
      c.activation = parse_activation(c.activation_name, f, "activation_function");
      c.qkv_bias = c.out_bias = c.mlp_bias = true;
      c.use_rope = false;
      if (f.boolean({"scale_attn_by_inverse_layer_idx"}, false) || f.boolean({"reorder_and_upcast_attn"}, false)) {
        throw ModelError(f.source() + ": scale_attn_by_inverse_layer_idx / reorder_and_upcast_attn are not implemented");
      }
      c.attention_scale = f.boolean({"scale_attn_weights"}, true) ? 1.0 / std::sqrt(double(c.head_dim)) : 1.0;
      c.tie_word_embeddings = f.boolean({"tie_word_embeddings"}, true);
      return;
    case Family::GptNeox:
      c.norm_eps = f.number({"layer_norm_eps"}, 1e-5);
      c.activation_name = f.string({"hidden_act"}, "gelu");
      c.activation = parse_activation(c.activation_name, f, "hidden_act");
      c.use_parallel_residual = f.boolean({"use_parallel_residual"}, true);
      c.qkv_bias = c.out_bias = f.boolean({"attention_bias"}, true);
      c.mlp_bias = true;
      c.tie_word_embeddings = f.boolean({"tie_word_embeddings"}, false);
      break;
    case Family::Gemma2:
      c.norm_eps = f.number({"rms_norm_eps"}, 1e-6);
      c.activation_name = f.string({"hidden_activation", "hidden_act"}, "gelu_pytorch_tanh");
      c.activation = parse_activation(c.activation_name, f, "hidden_activation");
      c.qkv_bias = c.out_bias = f.boolean({"attention_bias"}, false);
      c.query_pre_attn_scalar = f.number({"query_pre_attn_scalar"}, 256.0);
      c.attn_logit_softcap = explicitly_null(j, "attn_logit_softcapping") ? 0.0 : f.number({"attn_logit_softcapping"}, 50.0);
      c.final_logit_softcap = explicitly_null(j, "final_logit_softcapping") ? 0.0 : f.number({"final_logit_softcapping"}, 30.0);
      if (!explicitly_null(j, "sliding_window")) c.sliding_window = f.positive({"sliding_window"}, 4096);
      c.tie_word_embeddings = f.boolean({"tie_word_embeddings"}, true);
      // transformers 5 writes null (causal); true makes an encoder, which ibzoo does not run.
      if (!explicitly_null(j, "use_bidirectional_attention") && f.boolean({"use_bidirectional_attention"}, false)) {
        throw ModelError(f.source() + ": use_bidirectional_attention: true (an encoder) is not implemented; ibzoo "
                         "runs causal language models");
      }
      break;
    default:  // llama, mistral, qwen2, olmo2
      c.norm_eps = f.number({"rms_norm_eps"}, c.family == Family::Olmo2 ? 1e-5 : 1e-6);
      c.activation_name = f.string({"hidden_act"}, "silu");
      c.activation = parse_activation(c.activation_name, f, "hidden_act");
      c.qkv_bias = c.out_bias = f.boolean({"attention_bias"}, false);
      if (c.family == Family::Qwen2) {
        c.qkv_bias = true;
        c.out_bias = false;
      }
      c.mlp_bias = c.family == Family::Llama && f.boolean({"mlp_bias"}, false);
      c.tie_word_embeddings = f.boolean({"tie_word_embeddings"}, false);
      if (c.family == Family::Mistral && f.find({"sliding_window"})) c.sliding_window = f.positive({"sliding_window"}, 4096);
      if (c.family == Family::Qwen2 && f.boolean({"use_sliding_window"}, false) && f.find({"sliding_window"})) {
        c.sliding_window = f.positive({"sliding_window"}, 4096);
      }
      break;
  }
  c.rope = parse_rope(j, f, c.family);
  c.attention_scale = c.family == Family::Gemma2 ? 1.0 / std::sqrt(c.query_pre_attn_scalar)
                                                 : 1.0 / std::sqrt(double(c.head_dim));
}

}  // namespace

std::string_view family_name(Family family) {
  for (const auto& f : kFamilies) {
    if (f.family == family) return f.name;
  }
  IBZOO_CHECK(false, "unknown family enum " << static_cast<int>(family));
}

std::optional<Family> parse_family(std::string_view name) {
  for (const auto& f : kFamilies) {
    if (f.name == name) return f.family;
  }
  if (name == "gptneox" || name == "pythia") return Family::GptNeox;
  return std::nullopt;
}

const std::vector<Family>& all_families() {
  static const std::vector<Family> families = [] {
    std::vector<Family> v;
    for (const auto& f : kFamilies) v.push_back(f.family);
    return v;
  }();
  return families;
}

NormKind ModelConfig::norm_kind() const {
  if (family == Family::Gpt2 || family == Family::GptNeox) return NormKind::LayerNorm;
  return family == Family::Gemma2 ? NormKind::RmsNormOnePlus : NormKind::RmsNorm;
}

std::int64_t ModelConfig::rotary_dims() const {
  if (!use_rope) return 0;
  const auto n = static_cast<std::int64_t>(static_cast<double>(head_dim) * rope.partial_rotary_factor);
  return n - n % 2;
}

ModelConfig parse_model_config(const json& j, const std::string& source) {
  if (!j.is_object()) throw CorruptDataError(source + ": config must be a JSON object, got " + std::string(j.type_name()));
  const Fields f(j, source);
  ModelConfig c;
  c.family = detect_family(j, source);
  c.model_type = f.string({"model_type"}, std::string(family_name(c.family)));
  if (const json* a = f.find({"architectures"}); a && a->is_array() && !a->empty() && (*a)[0].is_string()) {
    c.architecture = (*a)[0].get<std::string>();
  }
  parse_sizes(f, c);
  parse_family_switches(j, f, c);
  c.layer_sliding = parse_layer_sliding(j, f, c);
  c.dtype = f.string({"dtype", "torch_dtype"}, "float32");
  if (c.dtype != "float32" && c.dtype != "bfloat16" && c.dtype != "float16") {
    f.fail("dtype", "must be float32, bfloat16 or float16", "\"" + c.dtype + "\"");
  }
  c.bos_token_id = f.token_id("bos_token_id");
  c.eos_token_id = f.token_id("eos_token_id");
  c.pad_token_id = f.token_id("pad_token_id");
  return c;
}

ModelConfig read_model_config(const fs::path& path) {
  const fs::path file = fs::is_directory(path) ? path / "config.json" : path;
  std::error_code ec;
  if (!fs::is_regular_file(file, ec)) {
    throw MissingInputError(file.string() + ": no config.json (expected a Hugging Face model directory)");
  }
  // A real config.json is a few KB; the limit keeps a wrong or hostile file from being read whole.
  constexpr std::uintmax_t kMaxConfigBytes = 16u << 20;
  const auto size = fs::file_size(file, ec);
  if (!ec && size > kMaxConfigBytes) {
    throw CorruptDataError(file.string() + ": config.json is " + std::to_string(size) + " bytes, over the limit of " +
                           std::to_string(kMaxConfigBytes) + " bytes; is this the right file?");
  }
  std::ifstream in(file, std::ios::binary);
  if (!in) throw MissingInputError(file.string() + ": cannot read config.json");
  std::ostringstream ss;
  ss << in.rdbuf();
  json j;
  try {
    j = json::parse(ss.str());
  } catch (const json::exception& e) {
    throw CorruptDataError(file.string() + ": not valid JSON (" + e.what() + ")");
  }
  return parse_model_config(j, file.string());
}

namespace {

json rope_json(const ModelConfig& c, bool v5) {
  json r = json::object();
  r["rope_type"] = c.rope.type == RopeType::Llama3 ? "llama3" : c.rope.type == RopeType::Linear ? "linear" : "default";
  if (v5) r["rope_theta"] = c.rope.theta;
  if (c.rope.type != RopeType::Default) r["factor"] = c.rope.factor;
  if (c.rope.type == RopeType::Llama3) {
    r["low_freq_factor"] = c.rope.low_freq_factor;
    r["high_freq_factor"] = c.rope.high_freq_factor;
    r["original_max_position_embeddings"] = c.rope.original_max_position_embeddings;
  }
  return r;
}

json layer_types_json(const ModelConfig& c) {
  json t = json::array();
  for (const bool s : c.layer_sliding) t.push_back(s ? "sliding_attention" : "full_attention");
  return t;
}

}  // namespace

namespace {

// GPT-2's own names for the sizes, and how its attention is scaled.
void gpt2_fields(json& j, const ModelConfig& c) {
  j["n_embd"] = c.hidden_size;
  j["n_layer"] = c.n_layers;
  j["n_head"] = c.n_heads;
  j["n_inner"] = c.intermediate_size;
  j["n_positions"] = c.max_position_embeddings;
  j["activation_function"] = c.activation_name;
  j["layer_norm_epsilon"] = c.norm_eps;
  // Written although they are transformers' defaults, so that the file says how
  // attention is scaled (the reader refuses the two variants it does not implement).
  j["scale_attn_weights"] = c.attention_scale != 1.0;
  j["scale_attn_by_inverse_layer_idx"] = false;
  j["reorder_and_upcast_attn"] = false;
}

// GPT-NeoX: LayerNorm, the parallel residual and a partial rotary embedding.
void gpt_neox_fields(json& j, const ModelConfig& c, bool v5) {
  j["layer_norm_eps"] = c.norm_eps;
  j["use_parallel_residual"] = c.use_parallel_residual;
  j["attention_bias"] = c.qkv_bias;
  if (v5) {
    j["rope_parameters"] = {{"rope_type", "default"}, {"rope_theta", c.rope.theta},
                            {"partial_rotary_factor", c.rope.partial_rotary_factor}};
  } else {
    j["rotary_pct"] = c.rope.partial_rotary_factor;
    j["rotary_emb_base"] = c.rope.theta;
  }
}

// The sliding windows of Mistral, Qwen2 and Gemma2, and Gemma2's soft caps.
void sliding_window_fields(json& j, const ModelConfig& c, bool v5) {
  const json window = c.sliding_window ? json(*c.sliding_window) : json(nullptr);
  if (c.family == Family::Mistral) j["sliding_window"] = window;
  if (c.family == Family::Qwen2) {
    j["use_sliding_window"] = c.sliding_window.has_value();
    j["sliding_window"] = window;
    std::int64_t first = c.n_layers;
    for (std::size_t i = c.layer_sliding.size(); i-- > 0;) {
      if (c.layer_sliding[i]) first = static_cast<std::int64_t>(i);
    }
    j["max_window_layers"] = first;
    if (v5) j["layer_types"] = layer_types_json(c);
  }
  if (c.family == Family::Gemma2) {
    j["sliding_window"] = window;
    j["query_pre_attn_scalar"] = c.query_pre_attn_scalar;
    j["attn_logit_softcapping"] = c.attn_logit_softcap > 0 ? json(c.attn_logit_softcap) : json(nullptr);
    j["final_logit_softcapping"] = c.final_logit_softcap > 0 ? json(c.final_logit_softcap) : json(nullptr);
    j["use_bidirectional_attention"] = nullptr;
    if (v5) j["layer_types"] = layer_types_json(c);
  }
}

// The Llama-like families: grouped-query attention, RMSNorm, rotary scaling, windows.
void llama_like_fields(json& j, const ModelConfig& c, bool v5) {
  j["num_key_value_heads"] = c.n_kv_heads;
  j["head_dim"] = c.head_dim;
  j["rms_norm_eps"] = c.norm_eps;
  if (c.family != Family::Qwen2) j["attention_bias"] = c.qkv_bias;
  if (c.family == Family::Llama) {
    j["mlp_bias"] = c.mlp_bias;
    j["pretraining_tp"] = 1;  // what transformers saves; the projections are never split
  }
  if (v5) {
    j["rope_parameters"] = rope_json(c, true);
  } else {
    j["rope_theta"] = c.rope.theta;
    j["rope_scaling"] = c.rope.type == RopeType::Default ? json(nullptr) : rope_json(c, false);
  }
  sliding_window_fields(j, c, v5);
}

}  // namespace

json model_config_to_json(const ModelConfig& c, ConfigSpelling spelling) {
  const bool v5 = spelling == ConfigSpelling::Transformers5;
  json j;
  j["model_type"] = family_name(c.family);
  for (const auto& f : kFamilies) {
    if (f.family == c.family) j["architectures"] = {c.architecture.empty() ? std::string(f.architecture) : c.architecture};
  }
  j["vocab_size"] = c.vocab_size;
  j["tie_word_embeddings"] = c.tie_word_embeddings;
  j[v5 ? "dtype" : "torch_dtype"] = c.dtype;
  if (c.bos_token_id) j["bos_token_id"] = *c.bos_token_id;
  if (c.eos_token_id) j["eos_token_id"] = *c.eos_token_id;
  if (c.pad_token_id) j["pad_token_id"] = *c.pad_token_id;
  if (c.family == Family::Gpt2) {
    gpt2_fields(j, c);
    return j;
  }
  j["hidden_size"] = c.hidden_size;
  j["num_hidden_layers"] = c.n_layers;
  j["num_attention_heads"] = c.n_heads;
  j["intermediate_size"] = c.intermediate_size;
  j["max_position_embeddings"] = c.max_position_embeddings;
  j[c.family == Family::Gemma2 ? "hidden_activation" : "hidden_act"] = c.activation_name;
  if (c.family == Family::GptNeox) {
    gpt_neox_fields(j, c, v5);
  } else {
    llama_like_fields(j, c, v5);
  }
  return j;
}

void write_model_config(const fs::path& dir, const ModelConfig& config, ConfigSpelling spelling) {
  io::write_file_atomic(dir / "config.json", model_config_to_json(config, spelling).dump(2) + "\n");
}

ModelConfig default_model_config(Family family, const ModelSizes& s) {
  json j;
  j["model_type"] = family_name(family);
  for (const auto& f : kFamilies) {
    if (f.family == family) j["architectures"] = {f.architecture};
  }
  j["vocab_size"] = s.vocab_size;
  j["hidden_size"] = s.hidden_size;
  j["num_hidden_layers"] = s.n_layers;
  j["num_attention_heads"] = s.n_heads;
  std::int64_t kv = s.n_kv_heads;
  if (kv == 0) kv = (family == Family::Mistral || family == Family::Gemma2 || family == Family::Llama) && s.n_heads % 2 == 0
                        ? s.n_heads / 2
                        : s.n_heads;
  j["num_key_value_heads"] = kv;
  j["intermediate_size"] = s.intermediate_size > 0 ? s.intermediate_size : 4 * s.hidden_size;
  j["max_position_embeddings"] = s.max_position_embeddings;
  j["dtype"] = "float32";
  if (family == Family::Gemma2) {
    j["head_dim"] = s.hidden_size / s.n_heads;
    j["query_pre_attn_scalar"] = s.hidden_size / s.n_heads;
    j["sliding_window"] = 4;
  }
  if (family == Family::Mistral) j["sliding_window"] = 4;
  if (family == Family::GptNeox) j["rotary_pct"] = 0.5;
  if (family == Family::Gpt2) {
    j["n_inner"] = j["intermediate_size"];
    j.erase("intermediate_size");
  }
  return parse_model_config(j, "default config for " + std::string(family_name(family)));
}

std::optional<TrainerState> read_trainer_state(const std::filesystem::path& dir) {
  const auto path = dir / "trainer_state.json";
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) return std::nullopt;
  json j;
  try {
    j = json::parse(io::read_file(path, 64 << 20));
  } catch (const json::exception& e) {
    throw CorruptDataError(path.string() + ": not valid JSON (" + e.what() + "); delete or repair the file");
  }
  if (!j.is_object() || !j.contains("global_step") || !j["global_step"].is_number_integer()) {
    throw CorruptDataError(path.string() + ": expected an object with an integer \"global_step\" (the Hugging Face "
                           "Trainer's trainer_state.json)");
  }
  TrainerState s;
  s.global_step = j["global_step"].get<std::int64_t>();
  const auto history = j.value("log_history", json::array());
  if (!history.is_array()) return s;
  for (const auto& entry : history) {
    if (!entry.is_object()) continue;
    const auto step = entry.value("step", s.global_step);
    if (step > s.global_step) continue;
    if (entry.contains("loss") && entry["loss"].is_number()) s.train_loss = entry["loss"].get<double>();
    if (entry.contains("eval_loss") && entry["eval_loss"].is_number()) {
      s.eval_loss = entry["eval_loss"].get<double>();
      s.eval_step = step;
    }
  }
  return s;
}

}  // namespace ibzoo::hf
