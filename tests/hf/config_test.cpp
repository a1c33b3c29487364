#include "hf/config.h"

#include "errors/error.h"

#include <gtest/gtest.h>

#include <cmath>
#include <fstream>

namespace ibzoo::hf {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

const fs::path kModels = fs::path(IBZOO_FIXTURES) / "models";

template <typename E, typename Fn>
void expect_error(Fn fn, std::initializer_list<std::string> words) {
  try {
    fn();
    FAIL() << "no exception";
  } catch (const E& e) {
    const std::string msg = e.what();
    for (const auto& w : words) EXPECT_NE(msg.find(w), std::string::npos) << "'" << w << "' not in: " << msg;
  }
}

TEST(HfConfigTest, ReadsGpt2AliasesAndDefaults) {
  const auto c = parse_model_config(json::parse(R"({"model_type": "gpt2", "vocab_size": 300, "n_embd": 32,
      "n_layer": 3, "n_head": 4, "n_positions": 64, "activation_function": "gelu_new", "torch_dtype": "float16"})"),
                                    "cfg");
  EXPECT_EQ(c.family, Family::Gpt2);
  EXPECT_EQ(c.hidden_size, 32);
  EXPECT_EQ(c.n_layers, 3);
  EXPECT_EQ(c.head_dim, 8);
  EXPECT_EQ(c.n_kv_heads, 4);
  EXPECT_EQ(c.intermediate_size, 128);  // n_inner absent: 4 d
  EXPECT_EQ(c.max_position_embeddings, 64);
  EXPECT_TRUE(c.tie_word_embeddings);
  EXPECT_FALSE(c.use_rope);
  EXPECT_EQ(c.activation, Activation::GeluTanh);
  EXPECT_EQ(c.dtype, "float16");
  EXPECT_DOUBLE_EQ(c.attention_scale, 1.0 / std::sqrt(8.0));
}

TEST(HfConfigTest, Llama3RopeReadsTheSameFromBothSpellings) {
  const auto v5 = parse_model_config(json::parse(R"({"model_type": "llama", "vocab_size": 10, "hidden_size": 64,
      "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2, "dtype": "bfloat16",
      "rope_parameters": {"rope_type": "llama3", "rope_theta": 500000.0, "factor": 32.0, "low_freq_factor": 1.0,
                          "high_freq_factor": 4.0, "original_max_position_embeddings": 8192}})"),
                                     "v5");
  const auto old = parse_model_config(json::parse(R"({"model_type": "llama", "vocab_size": 10, "hidden_size": 64,
      "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2, "torch_dtype": "bfloat16",
      "rope_theta": 500000.0, "rope_scaling": {"type": "llama3", "factor": 32.0, "low_freq_factor": 1.0,
                          "high_freq_factor": 4.0, "original_max_position_embeddings": 8192}})"),
                                      "old");
  EXPECT_EQ(v5, old);
  EXPECT_EQ(v5.rope.type, RopeType::Llama3);
  EXPECT_DOUBLE_EQ(v5.rope.theta, 500000.0);
  EXPECT_DOUBLE_EQ(v5.rope.factor, 32.0);
  EXPECT_EQ(v5.n_kv_heads, 2);
  EXPECT_FALSE(v5.tie_word_embeddings);
}

TEST(HfConfigTest, GptNeoxRotaryFractionFromBothSpellings) {
  const auto v5 = parse_model_config(json::parse(R"({"model_type": "gpt_neox", "vocab_size": 10, "hidden_size": 64,
      "num_hidden_layers": 2, "num_attention_heads": 4,
      "rope_parameters": {"rope_type": "default", "rope_theta": 1000.0, "partial_rotary_factor": 0.5}})"),
                                     "v5");
  const auto old = parse_model_config(json::parse(R"({"model_type": "gpt_neox", "vocab_size": 10, "hidden_size": 64,
      "num_hidden_layers": 2, "num_attention_heads": 4, "rotary_pct": 0.5, "rotary_emb_base": 1000})"),
                                      "old");
  EXPECT_EQ(v5, old);
  EXPECT_EQ(v5.rotary_dims(), 8);
  EXPECT_TRUE(v5.use_parallel_residual);
  EXPECT_EQ(v5.activation, Activation::GeluExact);
  const auto dflt = parse_model_config(json::parse(R"({"model_type": "gpt_neox", "vocab_size": 10, "hidden_size": 64,
      "num_hidden_layers": 2, "num_attention_heads": 4})"),
                                       "dflt");
  EXPECT_DOUBLE_EQ(dflt.rope.partial_rotary_factor, 0.25);
}

TEST(HfConfigTest, Gemma2SlidingLayersSoftcapsAndScale) {
  const auto c = read_model_config(kModels / "gemma2");
  EXPECT_EQ(c.family, Family::Gemma2);
  EXPECT_EQ(c.norm_kind(), NormKind::RmsNormOnePlus);
  EXPECT_EQ(c.layer_sliding, (std::vector<bool>{true, false}));
  EXPECT_EQ(c.sliding_window, 8);
  EXPECT_DOUBLE_EQ(c.attn_logit_softcap, 50.0);
  EXPECT_DOUBLE_EQ(c.final_logit_softcap, 30.0);
  EXPECT_DOUBLE_EQ(c.attention_scale, 0.25);  // query_pre_attn_scalar 16
  // Without layer_types, even layers slide.
  auto j = model_config_to_json(c);
  j.erase("layer_types");
  j["num_hidden_layers"] = 3;
  EXPECT_EQ(parse_model_config(j, "x").layer_sliding, (std::vector<bool>{true, false, true}));
  j["attn_logit_softcapping"] = nullptr;
  EXPECT_EQ(parse_model_config(j, "x").attn_logit_softcap, 0.0);
}

TEST(HfConfigTest, EveryFixtureConfigRoundTripsInBothSpellings) {
  for (const auto* name : {"gpt2", "gpt_neox", "llama", "smollm2", "mistral", "qwen2", "olmo2", "gemma2"}) {
    const auto c = read_model_config(kModels / name);
    for (const auto spelling : {ConfigSpelling::Transformers5, ConfigSpelling::Legacy}) {
      const auto back = parse_model_config(model_config_to_json(c, spelling), "roundtrip");
      EXPECT_EQ(back, c) << name << (spelling == ConfigSpelling::Legacy ? " legacy" : " v5");
    }
  }
}

TEST(HfConfigTest, DefaultConfigsOfEveryFamilyRoundTripThroughAFile) {
  const auto dir = fs::temp_directory_path() / ("ibzoo_hf_config_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  for (const auto f : all_families()) {
    const auto c = default_model_config(f, {});
    EXPECT_EQ(c.family, f);
    write_model_config(dir, c, ConfigSpelling::Legacy);
    EXPECT_EQ(read_model_config(dir), c) << family_name(f);
  }
  fs::remove_all(dir);
}

TEST(HfConfigTest, UnknownArchitectureNamesWhatIsSupported) {
  expect_error<ModelError>(
      [] { parse_model_config(json::parse(R"({"model_type": "bert", "architectures": ["BertModel"]})"), "m/config.json"); },
      {"m/config.json", "unknown architecture", "bert", "BertModel", "gpt_neox", "gemma2"});
}

TEST(HfConfigTest, ArchitecturesAloneIdentifyTheFamily) {
  const auto c = parse_model_config(json::parse(R"({"architectures": ["Qwen2ForCausalLM"], "vocab_size": 10,
      "hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4})"),
                                    "x");
  EXPECT_EQ(c.family, Family::Qwen2);
  EXPECT_TRUE(c.qkv_bias);
  EXPECT_FALSE(c.out_bias);
}

TEST(HfConfigTest, BadFieldsAreNamed) {
  expect_error<CorruptDataError>(
      [] { parse_model_config(json::parse(R"({"model_type": "llama", "vocab_size": 10, "num_hidden_layers": 2,
                                              "num_attention_heads": 4})"), "c.json"); },
      {"c.json", "'hidden_size'", "required", "n_embd"});
  expect_error<CorruptDataError>(
      [] { parse_model_config(json::parse(R"({"model_type": "gpt2", "vocab_size": 10, "n_embd": "64",
                                              "n_layer": 2, "n_head": 4})"), "c.json"); },
      {"c.json", "'n_embd'", "integer", "\"64\""});
  expect_error<CorruptDataError>(
      [] { parse_model_config(json::parse(R"({"model_type": "gpt2", "vocab_size": 10, "n_embd": 64,
                                              "n_layer": 2, "n_head": 5})"), "c.json"); },
      {"'num_attention_heads'", "divide"});
  expect_error<CorruptDataError>(
      [] { parse_model_config(json::parse(R"({"model_type": "llama", "vocab_size": 10, "hidden_size": 64,
                                              "num_hidden_layers": 2, "num_attention_heads": 4, "dtype": "int8"})"), "c.json"); },
      {"'dtype'", "int8"});
  expect_error<ModelError>(
      [] { parse_model_config(json::parse(R"({"model_type": "llama", "vocab_size": 10, "hidden_size": 64,
                                              "num_hidden_layers": 2, "num_attention_heads": 4,
                                              "rope_scaling": {"rope_type": "yarn", "factor": 4}})"), "c.json"); },
      {"c.json", "yarn", "not implemented"});
  expect_error<ModelError>(
      [] { parse_model_config(json::parse(R"({"model_type": "llama", "vocab_size": 10, "hidden_size": 64,
                                              "num_hidden_layers": 2, "num_attention_heads": 4, "hidden_act": "relu2"})"), "c.json"); },
      {"'hidden_act'", "relu2"});
}

// Variants the block does not compute are refused, never run as the plain model.
TEST(HfConfigTest, UnimplementedAttentionVariantsAreRefused) {
  const auto gpt2 = [](const char* extra) {
    auto j = json::parse(R"({"model_type": "gpt2", "vocab_size": 10, "n_embd": 64, "n_layer": 2, "n_head": 4})");
    j[extra] = true;
    return j;
  };
  for (const char* key : {"scale_attn_by_inverse_layer_idx", "reorder_and_upcast_attn"}) {
    expect_error<ModelError>([&] { parse_model_config(gpt2(key), "c.json"); }, {"c.json", key, "not implemented"});
  }
  auto gemma = json::parse(R"({"model_type": "gemma2", "vocab_size": 10, "hidden_size": 64, "num_hidden_layers": 2,
                               "num_attention_heads": 4, "use_bidirectional_attention": null})");
  EXPECT_NO_THROW(parse_model_config(gemma, "c.json"));
  gemma["use_bidirectional_attention"] = true;
  expect_error<ModelError>([&] { parse_model_config(gemma, "c.json"); },
                           {"c.json", "use_bidirectional_attention", "not implemented"});
}

TEST(HfConfigTest, MissingAndInvalidFilesAreReported) {
  const auto dir = fs::temp_directory_path() / ("ibzoo_hf_config_bad_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  expect_error<MissingInputError>([&] { read_model_config(dir); }, {"config.json", "no config.json"});
  std::ofstream(dir / "config.json") << "{\"model_type\": ";
  expect_error<CorruptDataError>([&] { read_model_config(dir); }, {"config.json", "not valid JSON"});
  fs::remove_all(dir);
}

TEST(HfConfigTest, TrainerStateGivesTheLossesLoggedAtTheCheckpoint) {
  const auto dir = fs::temp_directory_path() / ("ibzoo_trainer_state_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  EXPECT_FALSE(read_trainer_state(dir).has_value());
  // As the Hugging Face Trainer writes it: evaluations every 50 steps, training logs every
  // 10, and entries past the checkpoint's step (a state copied from a later one) ignored.
  std::ofstream(dir / "trainer_state.json") << R"({"global_step": 100, "best_metric": null, "log_history": [
    {"epoch": 0.1, "learning_rate": 0.001, "loss": 3.5, "step": 50},
    {"epoch": 0.1, "eval_loss": 3.7, "eval_runtime": 1.0, "step": 50},
    {"epoch": 0.2, "learning_rate": 0.001, "loss": 3.1, "step": 90},
    {"epoch": 0.2, "eval_loss": 3.4, "step": 100},
    {"epoch": 0.3, "loss": 2.0, "step": 150}]})";
  const auto s = read_trainer_state(dir);
  ASSERT_TRUE(s.has_value());
  EXPECT_EQ(s->global_step, 100);
  EXPECT_EQ(s->train_loss, 3.1);
  EXPECT_EQ(s->eval_loss, 3.4);
  EXPECT_EQ(s->eval_step, 100);
  std::ofstream(dir / "trainer_state.json") << R"({"global_step": 7})";
  EXPECT_FALSE(read_trainer_state(dir)->eval_loss.has_value());
  std::ofstream(dir / "trainer_state.json") << R"({"log_history": []})";
  expect_error<CorruptDataError>([&] { read_trainer_state(dir); }, {"trainer_state.json", "global_step"});
  std::ofstream(dir / "trainer_state.json") << "{";
  expect_error<CorruptDataError>([&] { read_trainer_state(dir); }, {"trainer_state.json", "not valid JSON"});
  fs::remove_all(dir);
}

}  // namespace
}  // namespace ibzoo::hf
