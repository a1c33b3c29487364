#include "models/trainer.h"

#include "errors/error.h"
#include "io/fs.h"
#include "hf/safetensors.h"
#include "models/model.h"

#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <set>

#include <nlohmann/json.hpp>

namespace fs = std::filesystem;
using namespace ibzoo::models;

namespace {

fs::path temp_dir(const std::string& tag) {
  const auto dir = fs::temp_directory_path() / ("ibzoo_trainer_test_" + tag + "_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

TrainerOptions tiny(ibzoo::hf::Family family) {
  ibzoo::hf::ModelSizes sizes;
  sizes.n_layers = 1;
  sizes.hidden_size = 16;
  sizes.n_heads = 2;
  sizes.vocab_size = 32;
  sizes.max_position_embeddings = 64;
  TrainerOptions o;
  o.config = ibzoo::hf::default_model_config(family, sizes);
  o.steps = 40;
  o.batch_size = 4;
  o.context = 16;
  o.lr = 1e-2;
  o.warmup_steps = 4;
  o.threads = 2;
  return o;
}

// A periodic stream: a model that learns anything drives the loss well below log(32).
std::vector<std::int32_t> periodic_tokens() {
  std::vector<std::int32_t> t;
  for (int i = 0; i < 2000; ++i) t.push_back((i * 7) % 13);
  return t;
}

TEST(TrainerTest, LossFallsAndCheckpointsLoadNatively) {
  const auto dir = temp_dir("loss");
  fs::create_directories(dir / "tok");
  ibzoo::io::write_file_atomic(dir / "tok" / "tokenizer.json", "{}");
  const auto tokens = periodic_tokens();
  for (const auto family : {ibzoo::hf::Family::Gpt2, ibzoo::hf::Family::Llama, ibzoo::hf::Family::GptNeox}) {
    const auto out = dir / std::string(ibzoo::hf::family_name(family));
    const std::vector<std::int32_t> heldout(tokens.begin(), tokens.begin() + 200);
    const auto r = train_model(tiny(family), tokens, heldout, {0, 10, 40},
                               [&](std::int64_t s) { return out / std::to_string(s); }, dir / "tok");
    ASSERT_EQ(r.log.size(), 40u);
    EXPECT_EQ(r.device, "cpu");
    EXPECT_EQ(r.precision, "float32");
    ASSERT_EQ(r.checkpoints.size(), 3u);
    EXPECT_TRUE(std::isnan(r.checkpoints[0].train_loss));
    EXPECT_GT(r.checkpoints[0].heldout_loss, 3.0);
    EXPECT_LT(r.checkpoints[2].heldout_loss, 1.5) << "the held-out stream is the same periodic text";
    EXPECT_EQ(r.checkpoints[2].heldout_tokens, 12 * 16) << "consecutive windows of 17 tokens over 200 tokens, 16 predicted each";
    const auto state = nlohmann::json::parse(ibzoo::io::read_file(out / "40" / "trainer_state.json"));
    EXPECT_EQ(state["global_step"], 40);
    ASSERT_EQ(state["log_history"].size(), 2u);
    EXPECT_DOUBLE_EQ(state["log_history"][1]["eval_loss"].get<double>(), r.checkpoints[2].heldout_loss);
    double mean = 0.0;
    for (std::size_t i = 10; i < 40; ++i) mean += r.log[i].loss / 30.0;
    EXPECT_NEAR(state["log_history"][0]["loss"].get<double>(), mean, 1e-9);
    EXPECT_GT(r.log.front().loss, 3.0) << "initial loss should be near log(32) = 3.47";
    EXPECT_LT(r.log.back().loss, 1.5) << ibzoo::hf::family_name(family);
    for (const auto* step : {"0", "10", "40"}) {
      EXPECT_TRUE(fs::exists(out / step / "tokenizer.json"));
      const auto model = Model::load(out / step, {});
      EXPECT_EQ(model->n_parameters(), r.n_parameters);
      const auto logits = model->logits({{1, 2, 3}});
      EXPECT_EQ(logits[0].size(), 3u * 32u);
    }
    EXPECT_FALSE(fs::exists(out / "0.init"));
  }
  fs::remove_all(dir);
}

TEST(TrainerTest, SameSeedAndThreadsGiveIdenticalBytes) {
  const auto dir = temp_dir("repro");
  const auto tokens = periodic_tokens();
  auto o = tiny(ibzoo::hf::Family::Llama);
  o.steps = 8;
  for (const auto* run : {"a", "b"}) {
    train_model(o, tokens, {}, {8}, [&](std::int64_t) { return dir / run; }, dir / "no_tokenizer");
  }
  EXPECT_EQ(ibzoo::io::sha256_file(dir / "a" / "model.safetensors"), ibzoo::io::sha256_file(dir / "b" / "model.safetensors"));
  o.seed = 2;
  train_model(o, tokens, {}, {8}, [&](std::int64_t) { return dir / "c"; }, dir / "no_tokenizer");
  EXPECT_NE(ibzoo::io::sha256_file(dir / "a" / "model.safetensors"), ibzoo::io::sha256_file(dir / "c" / "model.safetensors"));
  fs::remove_all(dir);
}

TEST(TrainerTest, BadInputsAreUsageErrors) {
  const auto dir = temp_dir("bad");
  const auto o = tiny(ibzoo::hf::Family::Gpt2);
  const auto at = [&](std::int64_t) { return dir / "x"; };
  try {
    train_model(o, std::vector<std::int32_t>(100, 40), {}, {}, at, dir);
    FAIL() << "no error";
  } catch (const ibzoo::UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("token id 40 is outside the model vocabulary of 32"), std::string::npos) << e.what();
  }
  try {
    train_model(o, std::vector<std::int32_t>(10, 1), {}, {}, at, dir);
    FAIL() << "no error";
  } catch (const ibzoo::UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("fewer than context + 2"), std::string::npos) << e.what();
  }
  EXPECT_THROW(train_model(o, periodic_tokens(), {}, {41}, at, dir), ibzoo::UsageError);
  EXPECT_THROW(parse_lr_schedule("wavy"), ibzoo::UsageError);
  // A held-out stream outside the vocabulary, bfloat16 or CUDA on this CPU-only build.
  EXPECT_THROW(train_model(o, periodic_tokens(), std::vector<std::int32_t>(50, 99), {}, at, dir), ibzoo::UsageError);
  auto bf16 = o;
  bf16.precision = Precision::BFloat16;
  try {
    train_model(bf16, periodic_tokens(), {}, {}, at, dir);
    FAIL() << "no error";
  } catch (const ibzoo::UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("needs a CUDA device"), std::string::npos) << e.what();
  }
  if (!cuda_available()) {
    auto cuda = o;
    cuda.device = Device::Cuda;
    EXPECT_THROW(train_model(cuda, periodic_tokens(), {}, {}, at, dir), ibzoo::UsageError);
  }
  EXPECT_EQ(resolve_precision(Precision::Auto, Device::Cpu), Precision::Float32);
  EXPECT_EQ(resolve_precision(Precision::Auto, Device::Cuda), autocast_available() ? Precision::BFloat16 : Precision::Tf32);
  EXPECT_THROW(parse_precision("fp8"), ibzoo::UsageError);
  fs::remove_all(dir);
}

// What transformers needs to load a checkpoint the trainer writes (the demo zoo's), checked
// against what transformers 5.17 itself saved for the same architecture: the committed
// fixtures tests/fixtures/models/<family>/ (save_pretrained on the CUDA machine,
// docs/FIXTURES.md). For every family: the safetensors tensors (names, dtypes, shapes) are
// exactly transformers' set, and every config.json key transformers wrote that shapes the
// forward pass is present with the same value. Keys that only matter to training or
// generation (dropouts, token ids, initialiser, cache) may be absent: transformers' defaults
// then apply, and they do not change the hidden states or logits of a model in eval mode.
bool forward_irrelevant_key(const std::string& key) {
  static const std::set<std::string> k{"transformers_version", "bos_token_id", "eos_token_id", "pad_token_id",
                                       "initializer_range", "use_cache", "add_cross_attention", "is_decoder",
                                       "classifier_dropout", "summary_type", "summary_use_proj", "summary_activation",
                                       "summary_proj_to_labels", "summary_first_dropout"};
  return k.contains(key) || key.ends_with("dropout") || key.ends_with("pdrop");
}

// Numbers compare by value (transformers writes 10000.0 where ibzoo may write 10000).
bool same_json(const nlohmann::json& a, const nlohmann::json& b) {
  if (a.is_number() && b.is_number()) return a.get<double>() == b.get<double>();
  if (a.is_object() && b.is_object()) {
    if (a.size() != b.size()) return false;
    for (const auto& [k, v] : a.items()) {
      if (!b.contains(k) || !same_json(v, b.at(k))) return false;
    }
    return true;
  }
  if (a.is_array() && b.is_array()) {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i) {
      if (!same_json(a[i], b[i])) return false;
    }
    return true;
  }
  return a == b;
}

TEST(TrainerTest, CheckpointsHaveTheLayoutTransformersSaves) {
  const auto dir = temp_dir("hf_layout");
  const fs::path fixtures = fs::path(IBZOO_FIXTURES) / "models";
  for (const auto family : ibzoo::hf::all_families()) {
    const std::string name(ibzoo::hf::family_name(family));
    SCOPED_TRACE(name);
    const auto theirs_dir = fixtures / name;
    TrainerOptions o;
    o.config = ibzoo::hf::read_model_config(theirs_dir);
    o.steps = 1;
    o.batch_size = 2;
    o.context = 8;
    o.warmup_steps = 1;
    std::vector<std::int32_t> tokens;
    for (int i = 0; i < 64; ++i) tokens.push_back((i * 13) % 97);
    const auto ours_dir = dir / name;
    train_model(o, tokens, {}, {1}, [&](std::int64_t) { return ours_dir; }, theirs_dir);

    const auto theirs = ibzoo::hf::WeightStore::open_dir(theirs_dir);
    const auto ours = ibzoo::hf::WeightStore::open_dir(ours_dir);
    EXPECT_EQ(ours.names(), theirs.names());
    for (const auto& t : theirs.names()) {
      if (ours.size() != theirs.size()) break;
      EXPECT_EQ(ours.at(t).shape, theirs.at(t).shape) << t;
      EXPECT_EQ(ours.at(t).dtype, theirs.at(t).dtype) << t;
    }

    const auto want = nlohmann::json::parse(ibzoo::io::read_file(theirs_dir / "config.json"));
    const auto got = nlohmann::json::parse(ibzoo::io::read_file(ours_dir / "config.json"));
    std::size_t compared = 0;
    for (const auto& [key, value] : want.items()) {
      if (forward_irrelevant_key(key)) continue;
      // Qwen2's max_window_layers only acts with use_sliding_window: true (transformers
      // writes its default, 28, for any model without a window).
      if (key == "max_window_layers" && want.value("use_sliding_window", true) == false) continue;
      ++compared;
      if (!got.contains(key)) {
        ADD_FAILURE() << "config.json lacks '" << key << "' (transformers wrote " << value.dump() << ")";
      } else if (!same_json(got.at(key), value)) {
        ADD_FAILURE() << "config.json '" << key << "': ours " << got.at(key).dump() << ", transformers " << value.dump();
      }
    }
    EXPECT_GE(compared, 8u);
    // And the checkpoint reads back into the config it was trained with.
    EXPECT_EQ(ibzoo::hf::read_model_config(ours_dir), o.config);
  }
  fs::remove_all(dir);
}

}  // namespace
