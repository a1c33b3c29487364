// Benchmark ingestion against hand-made fixtures in tests/fixtures/benchmarks; the
// expected normalised values are computed in the test from the leaderboard's rule.
#include "io/benchmarks.h"

#include "analysis/error.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

namespace ibzoo::io {
namespace {

const std::filesystem::path kDir = std::filesystem::path(IBZOO_FIXTURES) / "benchmarks";

double score_of(const std::vector<BenchmarkScore>& scores, const std::string& model, const std::string& bench) {
  const auto it = std::find_if(scores.begin(), scores.end(),
                               [&](const auto& s) { return s.model == model && s.benchmark == bench; });
  if (it == scores.end()) return std::nan("");
  return it->score;
}

template <typename F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const CorruptDataError& e) {
    return e.what();
  } catch (const MissingInputError& e) {
    return e.what();
  }
  return "(no error)";
}

std::vector<std::string> benchmarks_of(const std::vector<BenchmarkScore>& scores) {
  std::vector<std::string> out;
  for (const auto& s : scores) out.push_back(s.benchmark);
  return out;
}

TEST(BenchmarksTest, LmEvalPicksLowestGroupsAndUngroupedTasksWithTheirMetric) {
  const auto s = read_lm_eval_json(kDir / "lm_eval_pythia-160m.json", {});
  EXPECT_EQ(benchmarks_of(s), (std::vector<std::string>{"arc_easy", "leaderboard_gpqa", "leaderboard_ifeval",
                                                        "leaderboard_musr"}));
  EXPECT_EQ(s.front().model, "EleutherAI/pythia-160m");
  EXPECT_NEAR(score_of(s, "EleutherAI/pythia-160m", "arc_easy"), 43.72895622895623, 1e-10);  // acc_norm,none
  EXPECT_NEAR(score_of(s, "EleutherAI/pythia-160m", "leaderboard_gpqa"), 26.51006711409396, 1e-10);  // group entry
  EXPECT_NEAR(score_of(s, "EleutherAI/pythia-160m", "leaderboard_ifeval"),
              50.0 * (0.14602587800369685 + 0.2697841726618705), 1e-10);
}

TEST(BenchmarksTest, LmEvalMetricAndTaskChoicesAreHonoured) {
  BenchmarkOptions o;
  o.metric_by_task["arc_easy"] = "acc,none";
  o.tasks = {"arc_easy", "leaderboard_musr_team_allocation"};
  const auto s = read_lm_eval_json(kDir / "lm_eval_pythia-160m.json", o);
  ASSERT_EQ(s.size(), 2u);
  EXPECT_NEAR(s[0].score, 43.64478114478115, 1e-10);
  EXPECT_NEAR(s[1].score, 30.0, 1e-10);
  o.metric_by_task["arc_easy"] = "f1,none";
  EXPECT_NE(error_of([&] { read_lm_eval_json(kDir / "lm_eval_pythia-160m.json", o); })
                .find("task 'arc_easy' has no numeric metric 'f1,none'"),
            std::string::npos);
}

TEST(BenchmarksTest, LmEvalNormalisationFollowsTheLeaderboardPerSubtask) {
  BenchmarkOptions o;
  o.normalise = true;
  o.baseline_by_task["arc_easy"] = 0.25;
  const auto s = read_lm_eval_json(kDir / "lm_eval_pythia-160m.json", o);
  auto norm = [](double raw, double base) { return std::max(0.0, (raw - base) / (1 - base)); };
  const double musr = (norm(0.52, 1.0 / 2) + norm(0.2734375, 1.0 / 5) + norm(0.3, 1.0 / 3)) / 3;
  const double gpqa = (norm(0.2474747474747475, 0.25) + norm(0.26373626373626374, 0.25) +
                       norm(0.2723214285714286, 0.25)) / 3;
  EXPECT_NEAR(score_of(s, "EleutherAI/pythia-160m", "leaderboard_musr"), 100 * musr, 1e-10);
  EXPECT_NEAR(score_of(s, "EleutherAI/pythia-160m", "leaderboard_gpqa"), 100 * gpqa, 1e-10);
  EXPECT_NEAR(score_of(s, "EleutherAI/pythia-160m", "arc_easy"), 100 * norm(0.4372895622895623, 0.25), 1e-10);
  // Generative IFEval has baseline 0: unchanged.
  EXPECT_NEAR(score_of(s, "EleutherAI/pythia-160m", "leaderboard_ifeval"),
              50.0 * (0.14602587800369685 + 0.2697841726618705), 1e-10);
}

TEST(BenchmarksTest, LmEvalNormalisationWithoutAKnownBaselineSaysWhatToGive) {
  BenchmarkOptions o;
  o.normalise = true;
  const auto msg = error_of([&] { read_lm_eval_json(kDir / "lm_eval_pythia-160m.json", o); });
  EXPECT_NE(msg.find("cannot normalise multiple-choice task 'arc_easy'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("--baseline arc_easy=FRACTION"), std::string::npos) << msg;
}

TEST(BenchmarksTest, LmEvalOlderFilesTakeTheModelFromModelArgs) {
  const auto s = read_lm_eval_json(kDir / "lm_eval_pythia-410m_old.json", {});
  ASSERT_EQ(s.size(), 2u);
  EXPECT_EQ(s[0].model, "EleutherAI/pythia-410m");
  EXPECT_NEAR(score_of(s, "EleutherAI/pythia-410m", "lambada_openai"), 51.63, 1e-10);  // acc,none, not perplexity
}

TEST(BenchmarksTest, LmEvalBadFilesGetClearErrors) {
  EXPECT_NE(error_of([] { read_lm_eval_json(kDir / "lm_eval_no_model.json", {}); })
                .find("cannot tell which model was evaluated"),
            std::string::npos);
  BenchmarkOptions o;
  o.model = "pythia-1b";
  EXPECT_EQ(read_lm_eval_json(kDir / "lm_eval_no_model.json", o).at(0).model, "pythia-1b");
  EXPECT_NE(error_of([] { read_lm_eval_json(kDir / "lm_eval_truncated.json", {}); }).find("not valid JSON"),
            std::string::npos);
  EXPECT_NE(error_of([] { read_lm_eval_json(kDir / "absent.json", {}); }).find("absent.json"), std::string::npos);
}

TEST(BenchmarksTest, LeaderboardCsvReadsNormalisedOrRawColumns) {
  BenchmarkOptions norm;
  norm.normalise = true;
  const auto n = read_leaderboard_csv(kDir / "leaderboard_excerpt.csv", norm);
  EXPECT_NEAR(score_of(n, "EleutherAI/pythia-160m", "MUSR"), 10.0521, 1e-12);
  EXPECT_NEAR(score_of(n, "Qwen/Qwen2.5-0.5B", "MMLU-PRO"), 10.0657, 1e-12);
  EXPECT_TRUE(std::isnan(score_of(n, "EleutherAI/pythia-410m", "MATH Lvl 5")));  // empty cell
  EXPECT_EQ(n.size(), 4u * 6u - 1u);
  const auto r = read_leaderboard_csv(kDir / "leaderboard_excerpt.csv", {});
  EXPECT_NEAR(score_of(r, "EleutherAI/pythia-160m", "MUSR"), 41.79, 1e-10);  // raw 0.4179 in percent
}

TEST(BenchmarksTest, LongCsvSkipsMissingScores) {
  const auto s = read_long_csv(kDir / "scores_long.csv");
  EXPECT_EQ(s.size(), 4u);
  EXPECT_NEAR(score_of(s, "pythia-410m", "hellaswag"), 40.54, 1e-12);
  EXPECT_EQ(s[1].source, (kDir / "scores_long.csv").string() + ":3");
  EXPECT_NE(error_of([] { read_long_csv(kDir / "long_bad_score.csv"); })
                .find("long_bad_score.csv:2: 'score' must be a number"),
            std::string::npos);
}

TEST(BenchmarksTest, FormatIsDetectedFromTheContent) {
  EXPECT_EQ(read_benchmarks(kDir / "scores_long.csv", {}).size(), 4u);
  EXPECT_EQ(read_benchmarks(kDir / "leaderboard_excerpt.csv", {}).front().benchmark, "IFEval");
  EXPECT_EQ(read_benchmarks(kDir / "lm_eval_pythia-410m_old.json", {}).size(), 2u);
  const auto msg = error_of([] { read_benchmarks(kDir / "unknown_format.csv", {}); });
  EXPECT_NE(msg.find("unknown benchmark file format"), std::string::npos) << msg;
  EXPECT_NE(msg.find("columns found: name, task, value"), std::string::npos) << msg;
}

TEST(BenchmarksTest, JoinMatchesIdsExactlyOrByTheNameAfterTheLastSlash) {
  const std::vector<BenchmarkScore> scores = {{"EleutherAI/pythia-160m", "BBH", 2.1, "a:2"},
                                              {"pythia-410m", "BBH", 2.7, "a:3"},
                                              {"pythia-410m", "MUSR", 3.0, "a:4"}};
  const auto t = join_scores(scores, {"pythia-160m", "pythia-410m", "smollm2-135m"});
  EXPECT_EQ(t.benchmarks, (std::vector<std::string>{"BBH", "MUSR"}));
  EXPECT_DOUBLE_EQ(t.scores[0][0], 2.1);
  EXPECT_TRUE(std::isnan(t.scores[0][1]));
  EXPECT_DOUBLE_EQ(t.scores[1][1], 3.0);
  EXPECT_EQ(t.models_without_scores, (std::vector<std::string>{"smollm2-135m"}));
}

TEST(BenchmarksTest, JoinRejectsUnknownModelsListingTheNearestIds) {
  const std::vector<BenchmarkScore> scores = {{"EleutherAI/pythia-16m", "BBH", 2.1, "lb.csv:2"}};
  const auto msg = error_of([&] { join_scores(scores, {"pythia-160m", "qwen2.5-0.5b", "pythia-1b"}); });
  EXPECT_NE(msg.find("'EleutherAI/pythia-16m' (from lb.csv:2; nearest ids: pythia-160m, pythia-1b"),
            std::string::npos) << msg;
  EXPECT_NE(msg.find("--ignore-unknown-models"), std::string::npos);
  const auto t = join_scores(scores, {"pythia-160m"}, true);
  EXPECT_EQ(t.ignored_score_models, (std::vector<std::string>{"EleutherAI/pythia-16m"}));
}

TEST(BenchmarksTest, JoinRejectsConflictingScoresButAcceptsRepeats) {
  const std::vector<BenchmarkScore> same = {{"m", "BBH", 2.0, "a:2"}, {"m", "BBH", 2.0, "b:2"}};
  EXPECT_DOUBLE_EQ(join_scores(same, {"m"}).scores[0][0], 2.0);
  const std::vector<BenchmarkScore> clash = {{"m", "BBH", 2.0, "a:2"}, {"m", "BBH", 3.0, "b:7"}};
  const auto msg = error_of([&] { join_scores(clash, {"m"}); });
  EXPECT_NE(msg.find("conflicting scores for model 'm', benchmark 'BBH'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("b:7"), std::string::npos) << msg;
}

TEST(BenchmarksTest, EditDistanceCountsInsertionsDeletionsAndSubstitutions) {
  EXPECT_EQ(edit_distance("kitten", "sitting"), 3u);
  EXPECT_EQ(edit_distance("", "abc"), 3u);
  EXPECT_EQ(edit_distance("same", "same"), 0u);
}

}  // namespace
}  // namespace ibzoo::io
