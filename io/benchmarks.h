// Benchmark scores from the formats researchers already have, and their join with
// the models of a metrics table:
//   - lm-evaluation-harness results JSON ({"results": {task: {"acc_norm,none": ...}},
//     "group_subtasks", "configs", "model_name" / "config.model_args"),
//   - the Open LLM Leaderboard v2 table exported as CSV ("fullname", "IFEval Raw",
//     "IFEval", ..., "MMLU-PRO"),
//   - a plain long CSV with the columns model,benchmark,score.
// lm-eval and leaderboard scores are reported in percent (0-100), as the leaderboard
// shows them; long-CSV scores are taken as given. docs/ANALYSIS.md has the rules.
#pragma once

#include <cstddef>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

namespace ibzoo::io {

struct BenchmarkScore {
  std::string model;      // as written in the source
  std::string benchmark;
  double score = 0.0;
  std::string source;     // "file:line" or "file:task", for messages
  bool operator==(const BenchmarkScore&) const = default;
};

struct BenchmarkOptions {
  // Leaderboard normalisation: per multiple-choice subtask
  // max(0, (raw - baseline) / (1 - baseline)) with baseline = 1 / number of choices,
  // then the unweighted mean over a group's subtasks; x100. For the leaderboard CSV:
  // use its normalised columns (true) or its "Raw" columns x100 (false).
  bool normalise = false;
  // lm-eval: the metric key per task (e.g. "leaderboard_musr" -> "acc_norm,none").
  std::map<std::string, std::string> metric_by_task;
  // lm-eval: the random baseline (a fraction) per task, for tasks whose config does
  // not list its choices.
  std::map<std::string, double> baseline_by_task;
  // lm-eval: exactly these tasks/groups become benchmarks (empty: automatic, see
  // read_lm_eval_json).
  std::vector<std::string> tasks;
  // lm-eval: the model id to use instead of "model_name" / "pretrained=" in the file.
  std::string model;
};

// lm-evaluation-harness results. Benchmarks: options.tasks if given; otherwise walk
// the group tree from its roots and take each group whose subtasks are all plain
// tasks, and each plain task that is not inside such a group. A task's metric:
// options.metric_by_task, else the first present of acc_norm,none, acc,none,
// exact_match,none, else the mean of prompt_level_strict_acc,none and
// inst_level_strict_acc,none (IFEval, as the leaderboard scores it), else the first
// numeric "<name>,<filter>" key that is not a stderr. A group without normalisation
// uses its own aggregated entry when present, else the mean of its subtasks.
// Throws MissingInputError, CorruptDataError (malformed JSON, no "results", a task
// without a usable metric, a multiple-choice task without a known baseline when
// normalising, no model id).
std::vector<BenchmarkScore> read_lm_eval_json(const std::filesystem::path& path, const BenchmarkOptions& options);

// Open LLM Leaderboard v2 CSV export: one row per model ("fullname"), benchmarks
// IFEval, BBH, MATH Lvl 5, GPQA, MUSR, MMLU-PRO (those present). Empty cells are
// missing scores. Throws CorruptDataError if "fullname" or every benchmark column is
// absent, or a cell is not a number.
std::vector<BenchmarkScore> read_leaderboard_csv(const std::filesystem::path& path, const BenchmarkOptions& options);

// Long CSV with at least the columns model, benchmark, score; "" / "nan" scores are
// missing and skipped. Throws CorruptDataError naming file:line.
std::vector<BenchmarkScore> read_long_csv(const std::filesystem::path& path);

// Dispatches on content: a .json file is lm-eval; a CSV with "fullname" is the
// leaderboard; a CSV with model,benchmark,score is long. Throws CorruptDataError
// naming the columns found when none fits.
std::vector<BenchmarkScore> read_benchmarks(const std::filesystem::path& path, const BenchmarkOptions& options);

// Scores joined to the models of a metrics table.
struct BenchmarkTable {
  std::vector<std::string> models;      // the given model ids, in order
  std::vector<std::string> benchmarks;  // sorted
  // scores[model_idx][benchmark_idx]; NaN where the model has no score.
  std::vector<std::vector<double>> scores;
  std::vector<std::string> models_without_scores;
  std::vector<std::string> ignored_score_models;  // only with ignore_unknown_models
};

// A score's model matches a model id if equal, or if the parts after the last '/'
// are equal (so "EleutherAI/pythia-160m" matches "pythia-160m"), provided that
// picks one id. Throws CorruptDataError listing every score model that matches no
// id (with the nearest ids by edit distance), unless ignore_unknown_models (then they
// are listed in ignored_score_models and a warning is logged); and for two sources
// that give one (model, benchmark) different scores. Models without any score are
// logged as a warning and listed.
BenchmarkTable join_scores(const std::vector<BenchmarkScore>& scores, const std::vector<std::string>& model_ids,
                           bool ignore_unknown_models = false);

// Levenshtein distance (for "did you mean" lists).
std::size_t edit_distance(const std::string& a, const std::string& b);

}  // namespace ibzoo::io
