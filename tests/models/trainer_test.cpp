#include "models/trainer.h"

#include "analysis/error.h"
#include "io/fs.h"
#include "io/safetensors.h"
#include "models/model.h"

#include <gtest/gtest.h>

#include <filesystem>

namespace fs = std::filesystem;
using namespace ibzoo::models;

namespace {

fs::path temp_dir(const std::string& tag) {
  const auto dir = fs::temp_directory_path() / ("ibzoo_trainer_test_" + tag + "_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

TrainerOptions tiny(ibzoo::io::Family family) {
  ibzoo::io::ModelSizes sizes;
  sizes.n_layers = 1;
  sizes.hidden_size = 16;
  sizes.n_heads = 2;
  sizes.vocab_size = 32;
  sizes.max_position_embeddings = 64;
  TrainerOptions o;
  o.config = ibzoo::io::default_model_config(family, sizes);
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
  for (const auto family : {ibzoo::io::Family::Gpt2, ibzoo::io::Family::Llama, ibzoo::io::Family::GptNeox}) {
    const auto out = dir / std::string(ibzoo::io::family_name(family));
    const auto r = train_model(tiny(family), tokens, {0, 10, 40}, [&](std::int64_t s) { return out / std::to_string(s); },
                               dir / "tok");
    ASSERT_EQ(r.log.size(), 40u);
    EXPECT_GT(r.log.front().loss, 3.0) << "initial loss should be near log(32) = 3.47";
    EXPECT_LT(r.log.back().loss, 1.5) << ibzoo::io::family_name(family);
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
  auto o = tiny(ibzoo::io::Family::Llama);
  o.steps = 8;
  for (const auto* run : {"a", "b"}) {
    train_model(o, tokens, {8}, [&](std::int64_t) { return dir / run; }, dir / "no_tokenizer");
  }
  EXPECT_EQ(ibzoo::io::sha256_file(dir / "a" / "model.safetensors"), ibzoo::io::sha256_file(dir / "b" / "model.safetensors"));
  o.seed = 2;
  train_model(o, tokens, {8}, [&](std::int64_t) { return dir / "c"; }, dir / "no_tokenizer");
  EXPECT_NE(ibzoo::io::sha256_file(dir / "a" / "model.safetensors"), ibzoo::io::sha256_file(dir / "c" / "model.safetensors"));
  fs::remove_all(dir);
}

TEST(TrainerTest, BadInputsAreUsageErrors) {
  const auto dir = temp_dir("bad");
  const auto o = tiny(ibzoo::io::Family::Gpt2);
  const auto at = [&](std::int64_t) { return dir / "x"; };
  try {
    train_model(o, std::vector<std::int32_t>(100, 40), {}, at, dir);
    FAIL() << "no error";
  } catch (const ibzoo::UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("token id 40 is outside the model vocabulary of 32"), std::string::npos) << e.what();
  }
  try {
    train_model(o, std::vector<std::int32_t>(10, 1), {}, at, dir);
    FAIL() << "no error";
  } catch (const ibzoo::UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("fewer than context + 2"), std::string::npos) << e.what();
  }
  EXPECT_THROW(train_model(o, periodic_tokens(), {41}, at, dir), ibzoo::UsageError);
  EXPECT_THROW(parse_lr_schedule("wavy"), ibzoo::UsageError);
  fs::remove_all(dir);
}

}  // namespace
