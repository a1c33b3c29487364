// Benchmark ingestion against hand-made fixtures in tests/fixtures/benchmarks; the
// expected normalised values are computed in the test from the leaderboard's rule.
#include "scores/benchmarks.h"
#include "io/text.h"

#include "errors/error.h"
#include "io/csv.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

namespace ibzoo::scores {
namespace {

using io::edit_distance;
using io::read_csv;

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

BenchmarkScore make(const std::string& model, const std::string& bench, double value, const std::string& source,
                    const std::string& checkpoint = "") {
  BenchmarkScore s;
  s.model = model;
  s.benchmark = bench;
  s.score = value;
  s.source = source;
  s.checkpoint = checkpoint;
  return s;
}

const BenchmarkScore* find(const std::vector<BenchmarkScore>& scores, const std::string& bench,
                           const std::string& checkpoint = "") {
  for (const auto& s : scores) {
    if (s.benchmark == bench && (checkpoint.empty() || s.checkpoint == checkpoint)) return &s;
  }
  return nullptr;
}

// Reads a file and returns its scores and what was logged (stderr).
std::pair<std::vector<BenchmarkScore>, std::string> read_logged(const std::filesystem::path& path,
                                                                const BenchmarkOptions& options = {}) {
  testing::internal::CaptureStderr();
  std::vector<BenchmarkScore> scores;
  try {
    scores = read_benchmark_file(path, options);
  } catch (...) {
    testing::internal::GetCapturedStderr();
    throw;
  }
  return {scores, testing::internal::GetCapturedStderr()};
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
  // A number past double's range is JSON nlohmann refuses with out_of_range, not
  // parse_error (found by scripts/fuzz.sh's benchmarks target).
  EXPECT_NE(error_of([] { read_lm_eval_json(kDir / "lm_eval_number_overflow.json", {}); }).find("not valid JSON"),
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
  const std::vector<BenchmarkScore> scores = {make("EleutherAI/pythia-160m", "BBH", 2.1, "a:2"),
                                              make("pythia-410m", "BBH", 2.7, "a:3"),
                                              make("pythia-410m", "MUSR", 3.0, "a:4")};
  const auto t = join_scores(scores, {"pythia-160m", "pythia-410m", "smollm2-135m"});
  EXPECT_EQ(t.benchmarks, (std::vector<std::string>{"BBH", "MUSR"}));
  EXPECT_DOUBLE_EQ(t.scores[0][0], 2.1);
  EXPECT_TRUE(std::isnan(t.scores[0][1]));
  EXPECT_DOUBLE_EQ(t.scores[1][1], 3.0);
  EXPECT_EQ(t.models_without_scores, (std::vector<std::string>{"smollm2-135m"}));
}

TEST(BenchmarksTest, JoinRejectsUnknownModelsListingTheNearestIds) {
  const std::vector<BenchmarkScore> scores = {make("EleutherAI/pythia-16m", "BBH", 2.1, "lb.csv:2")};
  const auto msg = error_of([&] { join_scores(scores, {"pythia-160m", "qwen2.5-0.5b", "pythia-1b"}); });
  EXPECT_NE(msg.find("'EleutherAI/pythia-16m' (from lb.csv:2; nearest ids: pythia-160m, pythia-1b"),
            std::string::npos) << msg;
  EXPECT_NE(msg.find("--ignore-unknown-models"), std::string::npos);
  const auto t = join_scores(scores, {"pythia-160m"}, true);
  EXPECT_EQ(t.ignored_score_models, (std::vector<std::string>{"EleutherAI/pythia-16m"}));
}

TEST(BenchmarksTest, JoinRejectsConflictingScoresButAcceptsRepeats) {
  const std::vector<BenchmarkScore> same = {make("m", "BBH", 2.0, "a:2"), make("m", "BBH", 2.0, "b:2")};
  EXPECT_DOUBLE_EQ(join_scores(same, {"m"}).scores[0][0], 2.0);
  const std::vector<BenchmarkScore> clash = {make("m", "BBH", 2.0, "a:2"), make("m", "BBH", 3.0, "b:7")};
  const auto msg = error_of([&] { join_scores(clash, {"m"}); });
  EXPECT_NE(msg.find("conflicting scores for model 'm', benchmark 'BBH'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("b:7"), std::string::npos) << msg;
}

// ---- Files as their projects publish them (fixtures built from each format's documentation) ----

TEST(BenchmarksTest, HarnessV04TakesMmluAsOneGroupAndLogsEveryChoice) {
  const auto path = kDir / "lm_eval_v04_pythia-160m_step143000.json";
  const auto [s, log] = read_logged(path);
  EXPECT_EQ(benchmarks_of(s), (std::vector<std::string>{"gsm8k", "lambada_openai", "mmlu"}));  // wikitext: perplexity only
  const auto* mmlu = find(s, "mmlu");
  ASSERT_NE(mmlu, nullptr);
  // The harness's own size-weighted group entry, not four category benchmarks.
  const double expected = 100.0 * ((0.26 * 126 + 0.23 * 311 + 0.28 * 135 + 0.21 * 152 + 0.29 * 201 + 0.25 * 166) / 1091.0);
  EXPECT_NEAR(mmlu->score, expected, 1e-9);
  EXPECT_EQ(mmlu->metric, "acc,none");
  EXPECT_EQ(mmlu->aggregation, "harness group entry over 6 subtasks");
  EXPECT_EQ(mmlu->checkpoint, "step143000");
  EXPECT_EQ(mmlu->source, path.string() + ":mmlu");
  const auto* gsm = find(s, "gsm8k");
  ASSERT_NE(gsm, nullptr);
  EXPECT_EQ(gsm->metric, "exact_match,strict-match");  // no "none" filter: strict-match, as documented
  EXPECT_NEAR(gsm->score, 1.9, 1e-9);
  EXPECT_NE(log.find(path.string() + ":mmlu: mmlu = "), std::string::npos) << log;
  EXPECT_NE(log.find("metric acc,none, harness group entry over 6 subtasks"), std::string::npos) << log;
  EXPECT_NE(log.find("task 'wikitext' skipped"), std::string::npos) << log;
  EXPECT_NE(log.find("format lm-eval (detected)"), std::string::npos) << log;
}

TEST(BenchmarksTest, HarnessV04FilterAndMetricFromTheEntryAreHonoured) {
  BenchmarkOptions o;
  o.tasks = {"gsm8k"};
  o.metric = "exact_match";
  o.filter = "flexible-extract";
  const auto [s, log] = read_logged(kDir / "lm_eval_v04_pythia-160m_step73000.json", o);
  ASSERT_EQ(s.size(), 1u);
  EXPECT_EQ(s[0].metric, "exact_match,flexible-extract");
  EXPECT_NEAR(s[0].score, 2.2, 1e-9);
  o.filter = "strict";
  EXPECT_NE(error_of([&] { read_benchmark_file(kDir / "lm_eval_v04_pythia-160m_step73000.json", o); })
                .find("no numeric metric 'exact_match' with filter 'strict'"),
            std::string::npos);
}

TEST(BenchmarksTest, HarnessRunWithLimitIsRefusedUnlessAllowed) {
  const auto msg = error_of([] { read_benchmark_file(kDir / "lm_eval_v04_limit.json", {}); });
  EXPECT_NE(msg.find("ran with limit=10.0"), std::string::npos) << msg;
  EXPECT_NE(msg.find("allow_limit: true"), std::string::npos) << msg;
  BenchmarkOptions o;
  o.allow_limit = true;
  const auto [s, log] = read_logged(kDir / "lm_eval_v04_limit.json", o);
  EXPECT_FALSE(s.empty());
  EXPECT_NE(log.find("accepted because the entry sets allow_limit"), std::string::npos) << log;
}

TEST(BenchmarksTest, HarnessV03AsPythiaPublishesItReadsPlainMetricKeys) {
  const auto path = kDir / "lm_eval_v03_pythia-160m_step143000.json";
  const auto [s, log] = read_logged(path);
  // crows_pairs has no default metric (likelihood_difference, pct_stereotype): skipped, said so.
  EXPECT_EQ(benchmarks_of(s), (std::vector<std::string>{"lambada_openai", "mmlu", "piqa", "winogrande"}));
  EXPECT_NEAR(find(s, "piqa")->score, 61.75, 1e-9);  // acc_norm
  EXPECT_EQ(find(s, "piqa")->metric, "acc_norm");
  EXPECT_NEAR(find(s, "lambada_openai")->score, 34.66, 1e-9);  // acc, not perplexity
  const auto* mmlu = find(s, "mmlu");  // hendrycksTest-* subjects, unweighted as the leaderboard v1
  EXPECT_NEAR(mmlu->score, 100.0 * (0.267 + 0.259 + 0.313) / 3, 1e-9);
  EXPECT_EQ(mmlu->aggregation, "unweighted mean of 3 subtasks");
  EXPECT_EQ(mmlu->model, "EleutherAI/pythia-160m");
  EXPECT_EQ(mmlu->checkpoint, "step143000");
  EXPECT_NE(log.find(path.string() + ":piqa: piqa = 61.75 (metric acc_norm, task"), std::string::npos) << log;
  EXPECT_NE(log.find("task 'crows_pairs_english_gender' skipped"), std::string::npos) << log;
}

TEST(BenchmarksTest, HarnessResultsOfTwoRevisionsJoinAsTwoCheckpointsWithoutConflict) {
  auto a = read_benchmark_file(kDir / "lm_eval_v04_pythia-160m_step73000.json", {});
  const auto b = read_benchmark_file(kDir / "lm_eval_v04_pythia-160m_step143000.json", {});
  a.insert(a.end(), b.begin(), b.end());
  JoinOptions o;
  o.checkpoints["pythia-160m"] = {{"step73000", 73000}, {"final", 143000}};
  const std::vector<Observation> obs = {{"pythia-160m", "step73000"}, {"pythia-160m", "final"}};
  testing::internal::CaptureStderr();
  const auto t = join_scores(a, obs, o);
  const auto log = testing::internal::GetCapturedStderr();
  EXPECT_NE(log.find((kDir / "lm_eval_v04_pythia-160m_step143000.json").string() +
                     ":mmlu: mmlu (checkpoint 'step143000' matched by its step 143000)"),
            std::string::npos) << log;
  EXPECT_EQ(find(a, "mmlu", "step73000")->source, (kDir / "lm_eval_v04_pythia-160m_step73000.json").string() + ":mmlu");
  const auto mmlu = static_cast<std::size_t>(std::find(t.benchmarks.begin(), t.benchmarks.end(), "mmlu") - t.benchmarks.begin());
  EXPECT_NEAR(t.scores[0][mmlu], find(a, "mmlu", "step73000")->score, 1e-12);
  EXPECT_NEAR(t.scores[1][mmlu], find(a, "mmlu", "step143000")->score, 1e-12);  // matched by its step
  EXPECT_LT(t.scores[0][mmlu], t.scores[1][mmlu]);
  // Per model only (the final checkpoint), the earlier revision is listed as not used, not a conflict.
  const auto f = join_scores(a, {{"pythia-160m", "final"}}, o);
  const auto unused = std::count_if(f.uses.begin(), f.uses.end(), [](const auto& u) { return u.status != "used"; });
  EXPECT_EQ(unused, 3);
}

TEST(BenchmarksTest, LeaderboardV2DuplicatesFollowTheStatedPolicy) {
  const auto path = kDir / "leaderboard_v2_duplicates.csv";
  const auto [latest, log] = read_logged(path);
  EXPECT_NEAR(score_of(latest, "EleutherAI/pythia-160m", "IFEval"), 19.0, 1e-12);  // the 2024-08-01 resubmission
  EXPECT_EQ(std::count_if(latest.begin(), latest.end(), [](const auto& s) { return s.benchmark == "IFEval"; }), 2);
  EXPECT_NE(log.find("model 'EleutherAI/pythia-160m' has 2 rows (" + path.string() + ":2, " + path.string() +
                     ":4); kept " + path.string() + ":4 (policy 'latest': the latest 'Submission Date')"),
            std::string::npos) << log;
  EXPECT_EQ(find(latest, "IFEval")->source, path.string() + ":3");  // pythia-410m's row comes first in file order
  BenchmarkOptions first;
  first.duplicates = "first";
  EXPECT_NEAR(score_of(read_benchmark_file(path, first), "EleutherAI/pythia-160m", "IFEval"), 18.16, 1e-12);
  BenchmarkOptions strict;
  strict.duplicates = "error";
  EXPECT_NE(error_of([&] { read_benchmark_file(path, strict); }).find("has 2 rows"), std::string::npos);
}

TEST(BenchmarksTest, LeaderboardV1ExportIsReadInPercent) {
  const auto path = kDir / "leaderboard_v1_excerpt.csv";
  const auto [s, log] = read_logged(path);
  EXPECT_NEAR(score_of(s, "EleutherAI/pythia-160m", "MMLU"), 24.95, 1e-12);
  EXPECT_EQ(s.size(), 6u);
  EXPECT_EQ(find(s, "ARC")->source, path.string() + ":2");
  EXPECT_NE(log.find("format leaderboard-v1 (detected)"), std::string::npos) << log;
}

TEST(BenchmarksTest, HelmRunDirectoriesAverageSubjectsOnTheUnperturbedTestSplit) {
  const auto path = kDir / "helm_runs";
  const auto [s, log] = read_logged(path);
  ASSERT_EQ(s.size(), 1u);
  EXPECT_EQ(s[0].model, "eleutherai/pythia-160m");
  EXPECT_EQ(s[0].benchmark, "mmlu");
  EXPECT_NEAR(s[0].score, 100.0 * (0.2592592592592593 + 0.2289156626506024) / 2, 1e-9);
  EXPECT_EQ(s[0].metric, "exact_match (test)");
  EXPECT_EQ(s[0].aggregation, "mean of 2 runs");
  EXPECT_NE(log.find("format helm (detected)"), std::string::npos) << log;
  EXPECT_NE(log.find(s[0].source + ": mmlu = "), std::string::npos) << log;
  // One run directory on its own.
  const auto one = read_benchmark_file(
      path / "mmlu:subject=anatomy,method=multiple_choice_joint,model=eleutherai_pythia-160m", {});
  EXPECT_NEAR(one.at(0).score, 25.92592592592593, 1e-9);
}

TEST(BenchmarksTest, EveryEvalEverRecordScalesByItsRangeAndSkipsLowerIsBetter) {
  const auto path = kDir / "every_eval_ever_pythia-410m.json";
  const auto [s, log] = read_logged(path);
  ASSERT_EQ(s.size(), 1u);
  EXPECT_EQ(s[0].model, "EleutherAI/pythia-410m");
  EXPECT_EQ(s[0].checkpoint, "step143000");
  EXPECT_NEAR(s[0].score, 40.54, 1e-9);
  EXPECT_EQ(s[0].source, path.string() + ":evaluation_results[0]");
  EXPECT_NE(log.find("'wikitext' skipped: lower is better"), std::string::npos) << log;
  EXPECT_NE(log.find("format every-eval-ever (detected)"), std::string::npos) << log;
}

TEST(BenchmarksTest, CrlfLongCsvWithBomAndCheckpointsIsRead) {
  const auto path = kDir / "scores_long_excel.csv";
  const auto [s, log] = read_logged(path);
  EXPECT_NE(log.find(path.string() + ": format long (detected)"), std::string::npos) << log;
  ASSERT_EQ(s.size(), 2u);
  EXPECT_EQ(s[0].benchmark, "lambada, openai");
  EXPECT_EQ(s[0].checkpoint, "step73000");
  EXPECT_NEAR(s[1].score, 34.7, 1e-12);
  EXPECT_EQ(s[1].source, path.string() + ":3");
}

TEST(BenchmarksTest, GivenFormatIsHonouredAndAliasesMapNames) {
  BenchmarkOptions o;
  o.format = "long";
  EXPECT_NE(error_of([&] { read_benchmark_file(kDir / "leaderboard_excerpt.csv", o); })
                .find("a long benchmark CSV needs the columns model, benchmark, score"),
            std::string::npos);
  JoinOptions j;
  j.aliases["Pythia 160M"] = "pythia-160m";
  const auto t = join_scores({make("Pythia 160M", "BBH", 2.0, "x:2")}, {{"pythia-160m", ""}}, j);
  EXPECT_DOUBLE_EQ(t.scores[0][0], 2.0);
  EXPECT_EQ(t.uses.at(0).model, "pythia-160m");
}

TEST(BenchmarksTest, ScoresCsvListsEverySourceAndWhatTheJoinDid) {
  const auto scores = read_benchmark_file(kDir / "scores_long_excel.csv", {});
  JoinOptions o;
  o.checkpoints["pythia-160m"] = {{"step73000", 73000}, {"step143000", 143000}};
  const auto t = join_scores(scores, {{"pythia-160m", "step143000"}}, o);
  const auto out = std::filesystem::temp_directory_path() / "ibzoo_scores_test.csv";
  write_scores_csv(out, t);
  const auto csv = read_csv(out);
  ASSERT_EQ(csv.rows.size(), 2u);
  EXPECT_EQ(csv.header.at(9), "source");
  EXPECT_EQ(csv.rows[1][*csv.column("source")], (kDir / "scores_long_excel.csv").string() + ":3");
  EXPECT_EQ(csv.rows[1][*csv.column("status")], "used");
  EXPECT_NE(csv.rows[0][*csv.column("status")].find("checkpoint not analysed"), std::string::npos);
  std::filesystem::remove(out);
}

TEST(BenchmarksTest, EditDistanceCountsInsertionsDeletionsAndSubstitutions) {
  EXPECT_EQ(edit_distance("kitten", "sitting"), 3u);
  EXPECT_EQ(edit_distance("", "abc"), 3u);
  EXPECT_EQ(edit_distance("same", "same"), 0u);
}

}  // namespace
}  // namespace ibzoo::scores
