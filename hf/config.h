// config.json of a Hugging Face model directory -> one normalised ModelConfig.
// Accepts the older key spellings (rope_theta + rope_scaling, rotary_pct,
// rotary_emb_base, torch_dtype) and the transformers-5 ones (rope_parameters,
// partial_rotary_factor inside it, dtype), and the per-family aliases
// (n_embd / hidden_size, n_layer / num_hidden_layers, ...). Keys a family leaves
// out take that family's transformers default.
//
// Errors: MissingInputError (no config.json), CorruptDataError (bad JSON, a field
// of the wrong type or out of range), ModelError (an architecture ibzoo does not
// implement, an unsupported rope type). Messages name the file and the field.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ibzoo::hf {

enum class Family { Gpt2, GptNeox, Llama, Mistral, Qwen2, Olmo2, Gemma2 };

// "gpt2", "gpt_neox", "llama", "mistral", "qwen2", "olmo2", "gemma2" (the HF model_type).
std::string_view family_name(Family family);
// Accepts the model_type spellings above. nullopt if unknown.
std::optional<Family> parse_family(std::string_view name);
// Every family ibzoo implements, in the order above.
const std::vector<Family>& all_families();

enum class RopeType { Default, Linear, Llama3 };

struct RopeConfig {
  RopeType type = RopeType::Default;
  double theta = 10000.0;
  double partial_rotary_factor = 1.0;  // fraction of each head's dims that rotate
  double factor = 1.0;                  // linear and llama3
  double low_freq_factor = 1.0;         // llama3
  double high_freq_factor = 4.0;        // llama3
  std::int64_t original_max_position_embeddings = 8192;  // llama3
  bool operator==(const RopeConfig&) const = default;
};

enum class NormKind { LayerNorm, RmsNorm, RmsNormOnePlus };
enum class Activation { GeluTanh, GeluExact, Silu };

struct ModelConfig {
  Family family = Family::Gpt2;
  std::string model_type;    // as written in the file (e.g. "gpt2")
  std::string architecture;  // architectures[0] if present, else ""
  std::int64_t vocab_size = 0;
  std::int64_t hidden_size = 0;
  std::int64_t n_layers = 0;
  std::int64_t n_heads = 0;
  std::int64_t n_kv_heads = 0;
  std::int64_t head_dim = 0;
  std::int64_t intermediate_size = 0;
  std::int64_t max_position_embeddings = 0;
  double norm_eps = 1e-5;
  Activation activation = Activation::GeluTanh;
  std::string activation_name;  // as written (gelu_new, silu, ...)
  bool tie_word_embeddings = true;
  bool qkv_bias = false;   // bias on the q, k, v projections
  bool out_bias = false;   // bias on the attention output projection
  bool mlp_bias = false;   // bias on the MLP projections
  bool use_parallel_residual = false;  // gpt_neox
  bool use_rope = true;                // false: learned absolute positions (gpt2)
  RopeConfig rope;
  std::optional<std::int64_t> sliding_window;  // window in tokens, for the layers that slide
  std::vector<bool> layer_sliding;             // [n_layers]: does layer i use the sliding window
  double attn_logit_softcap = 0.0;   // 0: none
  double final_logit_softcap = 0.0;  // 0: none
  double attention_scale = 0.0;      // multiplier on q.k (1/sqrt(head_dim), or query_pre_attn_scalar^-0.5)
  double query_pre_attn_scalar = 0.0;  // gemma2, 0 otherwise
  std::string dtype = "float32";     // torch_dtype / dtype: float32, bfloat16, float16
  std::optional<std::int64_t> bos_token_id;
  std::optional<std::int64_t> eos_token_id;
  std::optional<std::int64_t> pad_token_id;

  NormKind norm_kind() const;
  bool gated_mlp() const { return family != Family::Gpt2 && family != Family::GptNeox; }
  std::int64_t rotary_dims() const;  // per head; 0 without rope
  bool operator==(const ModelConfig&) const = default;
};

// `source` names the file in messages.
ModelConfig parse_model_config(const nlohmann::json& j, const std::string& source);
// Reads <dir>/config.json, or the file itself if `path` is a file.
ModelConfig read_model_config(const std::filesystem::path& path);

enum class ConfigSpelling { Transformers5, Legacy };
// The config.json text transformers would load into the same model. Legacy writes
// rope_theta/rope_scaling (rotary_pct/rotary_emb_base for gpt_neox) and torch_dtype.
nlohmann::json model_config_to_json(const ModelConfig& config, ConfigSpelling spelling = ConfigSpelling::Transformers5);
// Writes <dir>/config.json atomically (temp + rename). Throws WriteError.
void write_model_config(const std::filesystem::path& dir, const ModelConfig& config,
                        ConfigSpelling spelling = ConfigSpelling::Transformers5);

// A config with the family's structure (norms, biases, activation, rope style,
// softcaps) and the given sizes; the rest take small-model defaults. Used by
// make-model and the tests.
struct ModelSizes {
  std::int64_t n_layers = 2;
  std::int64_t hidden_size = 64;
  std::int64_t n_heads = 4;
  std::int64_t n_kv_heads = 0;          // 0: n_heads (gemma2/mistral get n_heads/2 if even)
  std::int64_t intermediate_size = 0;   // 0: 4 x hidden
  std::int64_t vocab_size = 256;
  std::int64_t max_position_embeddings = 1024;
};
ModelConfig default_model_config(Family family, const ModelSizes& sizes);

// <dir>/trainer_state.json, which the Hugging Face Trainer (and `ibzoo train`) writes
// into every checkpoint: its global_step and, from its log_history, the last "loss"
// (training) and the last "eval_loss" logged at or before that step.
struct TrainerState {
  std::int64_t global_step = 0;
  std::optional<double> train_loss;
  std::optional<double> eval_loss;
  std::int64_t eval_step = 0;  // the step the eval_loss was logged at
  bool operator==(const TrainerState&) const = default;
};
// nullopt when the checkpoint has no trainer_state.json. Throws CorruptDataError naming
// the file when it is not JSON or global_step is missing.
std::optional<TrainerState> read_trainer_state(const std::filesystem::path& dir);

}  // namespace ibzoo::hf
