#include "zoo/evaluate.h"

#include "errors/error.h"
#include "scores/benchmarks.h"
#include "io/fs.h"
#include "hf/tokenizer.h"
#include "models/model.h"

#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>

namespace fs = std::filesystem;
using namespace ibzoo::zoo;

namespace {

const fs::path kModel = fs::path(IBZOO_FIXTURES) / "models" / "gpt2";

fs::path temp_dir() {
  const auto dir = fs::temp_directory_path() /
                   ("ibzoo_evaluate_test_" + std::string(::testing::UnitTest::GetInstance()->current_test_info()->name()) +
                    "_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

// Naive reference: one sequence at a time, log-softmax in double, context tokens
// split where the context's own encoding ends.
double naive_log_likelihood(const ibzoo::models::Model& model, const ibzoo::hf::Tokenizer& tok,
                            const std::string& context, const std::string& choice) {
  const auto ctx = tok.encode(context, false);
  const auto whole = tok.encode(context + choice, false);
  const auto logits = model.logits({whole})[0];
  const auto v = static_cast<std::size_t>(model.vocab_size());
  double sum = 0.0;
  for (std::size_t j = ctx.size(); j < whole.size(); ++j) {
    const float* row = logits.data() + (j - 1) * v;
    double mx = row[0];
    for (std::size_t k = 0; k < v; ++k) mx = std::max(mx, static_cast<double>(row[k]));
    double z = 0.0;
    for (std::size_t k = 0; k < v; ++k) z += std::exp(row[k] - mx);
    sum += row[static_cast<std::size_t>(whole[j])] - mx - std::log(z);
  }
  return sum;
}

TEST(EvaluateTest, LogLikelihoodsMatchANaiveReferenceForAnyBatchSize) {
  const auto model = ibzoo::models::Model::load(kModel, {});
  const auto tok = ibzoo::hf::Tokenizer::from_file(kModel);
  const std::vector<TaskItem> items = {{"In the beginning God", {" created the heaven", " said", " and the earth was"}, 0},
                                       {"And the earth was", {" without form", " void and dark, upon the deep"}, 1}};
  const auto ll1 = choice_log_likelihoods(*model, tok, items, 1);
  const auto ll4 = choice_log_likelihoods(*model, tok, items, 4);
  // The device path (the log-softmax taken where the model runs; CUDA's) on the CPU.
  const auto dev = choice_log_likelihoods(*model, tok, items, 4, true);
  ASSERT_EQ(ll1.size(), 5u);
  ASSERT_EQ(dev.size(), 5u);
  std::size_t k = 0;
  for (const auto& it : items) {
    for (const auto& c : it.choices) {
      const double ref = naive_log_likelihood(*model, tok, it.context, c);
      EXPECT_NEAR(ll1[k], ref, 1e-4 * std::abs(ref)) << c;
      EXPECT_NEAR(ll4[k], ref, 1e-4 * std::abs(ref)) << c;
      EXPECT_NEAR(dev[k], ref, 1e-4 * std::abs(ref)) << c;
      EXPECT_LT(ll1[k], 0.0);
      ++k;
    }
  }
}

TEST(EvaluateTest, TiesGoToTheFirstChoiceAsInTheHarness) {
  EXPECT_EQ(argmax_first({1.0, 3.0, 3.0}), 1u);
  EXPECT_EQ(argmax_first({-2.0, -2.0}), 0u);
  const auto dir = temp_dir();
  write_task_file(dir / "same.jsonl", {{"And God said", {" Let there be light", " Let there be light"}, 0},
                                       {"And God said", {" Let there be light", " Let there be light"}, 1}});
  // Batch size 1: each choice runs alone, so identical choices get bit-identical
  // scores (rows of one padded batch may round differently in the BLAS).
  EvaluateJob job{kModel, {dir / "same.jsonl"}, dir / "out" / "results.json", "tiny", 0, 1, 1, "cpu", ""};
  const auto result = evaluate(job);
  ASSERT_EQ(result.tasks.size(), 1u);
  EXPECT_EQ(result.tasks[0].n_items, 2);
  EXPECT_DOUBLE_EQ(result.tasks[0].acc, 0.5);
  EXPECT_DOUBLE_EQ(result.tasks[0].acc_norm, 0.5);
  EXPECT_NEAR(result.tasks[0].acc_stderr, std::sqrt(0.5 / 2.0), 1e-12);  // sd (n-1) = sqrt(0.5), / sqrt(2)
  fs::remove_all(dir);
}

TEST(EvaluateTest, StderrIsTheSampleStandardErrorOfTheMean) {
  const std::vector<double> x = {1, 0, 0, 1, 1};
  const double mean = 0.6;
  double ss = 0.0;
  for (const auto v : x) ss += (v - mean) * (v - mean);
  EXPECT_NEAR(mean_stderr(x), std::sqrt(ss / 4.0) / std::sqrt(5.0), 1e-15);
  EXPECT_EQ(mean_stderr({1.0}), 0.0);
}

TEST(EvaluateTest, ResultsJsonIsReadByTheBenchmarkReader) {
  const auto dir = temp_dir();
  write_task_file(dir / "task_b.jsonl", {{"In the beginning", {" God created", " xq zz"}, 0},
                                         {"And the earth", {" was without form", " qq"}, 0},
                                         {"And God", {" said", " banana"}, 1}});
  write_task_file(dir / "task_a.jsonl", {{"And God saw the light", {" that it was good", " that"}, 0}});
  const EvaluateJob job{kModel, {dir}, dir / "results.json", "tiny-gpt2", 2, 2, 1, "cpu", ""};
  const auto result = evaluate(job);
  ASSERT_EQ(result.tasks.size(), 2u);
  EXPECT_EQ(result.tasks[0].task, "task_a");
  EXPECT_EQ(result.tasks[1].n_items, 2);  // --limit 2
  const auto j = nlohmann::json::parse(ibzoo::io::read_file(job.path_out));
  EXPECT_EQ(j["results"]["task_b"]["alias"], "task_b");
  EXPECT_DOUBLE_EQ(j["results"]["task_b"]["acc,none"].get<double>(), result.tasks[1].acc);
  EXPECT_TRUE(j["results"]["task_b"].contains("acc_norm_stderr,none"));
  EXPECT_EQ(j["n-shot"]["task_a"], 0);
  EXPECT_EQ(j["config"]["model"], "ibzoo");
  ibzoo::scores::BenchmarkOptions options;
  options.metric_by_task = {{"task_a", "acc_norm,none"}, {"task_b", "acc_norm,none"}};
  // Run with --limit 2: a subsample, refused as a score unless allowed.
  EXPECT_THROW(ibzoo::scores::read_lm_eval_json(job.path_out, options), ibzoo::CorruptDataError);
  options.allow_limit = true;
  const auto scores = ibzoo::scores::read_lm_eval_json(job.path_out, options);
  ASSERT_EQ(scores.size(), 2u);
  for (const auto& s : scores) {
    EXPECT_EQ(s.model, "tiny-gpt2");
    const auto& t = s.benchmark == "task_a" ? result.tasks[0] : result.tasks[1];
    EXPECT_NEAR(s.score, 100.0 * t.acc_norm, 1e-9) << s.benchmark;
  }
  fs::remove_all(dir);
}

TEST(EvaluateTest, EveryCheckpointOfAZooIsScoredAndJoinsByItsName) {
  const auto dir = temp_dir();
  fs::create_directories(dir / "tasks");
  fs::create_directories(dir / "zoo");
  write_task_file(dir / "tasks" / "t.jsonl", {{"In the beginning", {" God created", " xq zz"}, 0},
                                              {"And God", {" said", " banana"}, 0}});
  // A zoo.json as ibzoo train writes it, its checkpoints the gpt2 fixture.
  nlohmann::json zoo = {{"zoo", "z"}, {"models", nlohmann::json::array()}};
  zoo["models"].push_back({{"id", "m1"}, {"family", "gpt2"}, {"checkpoints", {
      {{"name", "step-000000"}, {"step", 0}, {"path", kModel.string()}},
      {{"name", "step-000010"}, {"step", 10}, {"path", kModel.string()}}}}});
  ibzoo::io::write_file_atomic(dir / "zoo" / "zoo.json", zoo.dump());
  EvaluateZooJob job{dir / "zoo", {dir / "tasks"}, dir / "eval", true, 0, 8, 1, "cpu"};
  const auto r = evaluate_zoo(job);
  ASSERT_EQ(r.files.size(), 2u);
  EXPECT_EQ(r.files[1], dir / "eval" / "m1" / "step-000010.json");
  const auto scores = ibzoo::scores::read_lm_eval_json(r.files[1], {});
  ASSERT_EQ(scores.size(), 1u);
  EXPECT_EQ(scores[0].model, "m1");
  EXPECT_EQ(scores[0].checkpoint, "step-000010");
  // The same scores as evaluating that checkpoint alone.
  const auto alone = evaluate({kModel, {dir / "tasks"}, dir / "alone.json", "m1", 0, 8, 1, "cpu", ""});
  EXPECT_NEAR(scores[0].score, 100.0 * alone.tasks[0].acc_norm, 1e-9);
  job.all_checkpoints = false;
  job.out_dir = dir / "final";
  EXPECT_EQ(evaluate_zoo(job).files, (std::vector<fs::path>{dir / "final" / "m1" / "step-000010.json"}));
  job.zoo_dir = dir / "nowhere";
  EXPECT_THROW(evaluate_zoo(job), ibzoo::MissingInputError);
  fs::remove_all(dir);
}

TEST(EvaluateTest, MissingTasksAreNamed) {
  const auto dir = temp_dir();
  try {
    expand_task_paths({dir / "nope.jsonl"});
    FAIL() << "no error";
  } catch (const ibzoo::MissingInputError& e) {
    EXPECT_NE(std::string(e.what()).find("nope.jsonl"), std::string::npos);
  }
  try {
    expand_task_paths({dir});
    FAIL() << "no error";
  } catch (const ibzoo::MissingInputError& e) {
    EXPECT_NE(std::string(e.what()).find("no *.jsonl task files"), std::string::npos);
  }
  fs::remove_all(dir);
}

}  // namespace
