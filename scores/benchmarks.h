// Benchmark scores from the files researchers already have, read honestly (every
// choice of metric, filter, aggregation and normalisation is logged and kept with the
// score), and their join with the (model, checkpoint) rows of a metrics table:
//   lm-eval          lm-evaluation-harness results JSON, v0.4 ("acc_norm,none" keys,
//                    group_subtasks, n-samples) and v0.3 ("acc_norm" keys, Pythia's evals)
//   leaderboard      Open LLM Leaderboard v2 export (fullname, IFEval Raw, IFEval, ...)
//   leaderboard-v1   Open LLM Leaderboard v1 export (ARC, HellaSwag, MMLU, TruthfulQA, ...)
//   helm             a HELM run directory (run_spec.json + stats.json) or a directory of them
//   every-eval-ever  an Every Eval Ever record (schema_version, model_info, evaluation_results)
//   long             CSV with model,benchmark,score (optional checkpoint, metric)
// Scores are in percent (0-100) for the harness, HELM, Every Eval Ever (scaled by the
// record's min/max) and the leaderboards; long-CSV scores are taken as given.
// docs/ANALYSIS.md ("Benchmark scores") has every rule.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

namespace ibzoo::scores {

inline const std::vector<std::string> kBenchmarkFormats = {"lm-eval", "leaderboard", "leaderboard-v1", "helm",
                                                           "every-eval-ever", "long"};

struct BenchmarkScore {
  std::string model;      // as written in the source
  std::string benchmark;
  double score = 0.0;
  std::string source;     // "file:line" or "file:task", for messages
  std::string checkpoint; // the checkpoint the file names (harness revision=, ...), "" if none
  std::string metric;     // the metric key the score is ("acc_norm,none", "exact_match", ...)
  std::string aggregation;    // "task", "harness group entry", "size-weighted mean of N subtasks", ...
  std::string normalisation;  // "none", "leaderboard (baseline 1/k per subtask)", "min/max of the record", ...
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
  // lm-eval: the model id to use instead of "model_name" / "pretrained=" in the file
  // (every format: the model all of the file's scores belong to).
  std::string model;
  // Added with issue 18; each is "" / empty / false when not given.
  std::string format;      // one of kBenchmarkFormats; "" = detect from the content
  std::string metric;      // every task's metric ("acc" or "acc,none"), unless metric_by_task says otherwise
  std::string filter;      // lm-eval filter to prefer ("strict-match"); default: none, else strict-match, else the first
  std::string checkpoint;  // the checkpoint every score of the file belongs to
  bool allow_limit = false;  // accept an lm-eval run made with --limit (refused otherwise)
  std::string duplicates = "latest";  // leaderboard rows naming one model twice: latest | first | best | error
};

// Reads one file in options.format (or the detected format). Logs every choice.
// Throws MissingInputError, CorruptDataError naming the file, and UsageError for an
// unknown format.
std::vector<BenchmarkScore> read_benchmark_file(const std::filesystem::path& path, const BenchmarkOptions& options);

// The format read_benchmark_file would detect: a directory -> helm; JSON with
// "evaluation_results" -> every-eval-ever, with "results" -> lm-eval; CSV by its columns.
std::string detect_benchmark_format(const std::filesystem::path& path);

std::vector<BenchmarkScore> read_helm(const std::filesystem::path& path, const BenchmarkOptions& options);
std::vector<BenchmarkScore> read_every_eval_ever(const std::filesystem::path& path, const BenchmarkOptions& options);

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

// Long CSV with at least the columns model, benchmark, score (optional: checkpoint,
// metric); "" / "nan" scores are missing and skipped. Throws CorruptDataError naming file:line.
std::vector<BenchmarkScore> read_long_csv(const std::filesystem::path& path);

// read_benchmark_file with the format detected from the content. Throws
// CorruptDataError naming the columns found when none fits.
std::vector<BenchmarkScore> read_benchmarks(const std::filesystem::path& path, const BenchmarkOptions& options);

// One row of the analysis: a model at one checkpoint.
struct Observation {
  std::string model;
  std::string checkpoint;
  bool operator==(const Observation&) const = default;
};

struct JoinOptions {
  bool ignore_unknown_models = false;
  std::map<std::string, std::string> aliases;  // name in a score file -> model id
  // model id -> its checkpoints in the metrics table as (name, step), by step; the
  // last is the final one. Models absent here: the checkpoint "" only.
  std::map<std::string, std::vector<std::pair<std::string, std::int64_t>>> checkpoints;
};

// What became of one score in the join (a row of scores.csv).
struct ScoreUse {
  BenchmarkScore score;
  std::string model;       // the model id it joined ("" if none)
  std::string checkpoint;  // the checkpoint it joined ("" if none)
  std::string status;      // used | unknown model | checkpoint not analysed
};

// Scores joined to the observations of a metrics table.
struct BenchmarkTable {
  std::vector<std::string> models;      // the observations' model ids, in order
  std::vector<Observation> observations;
  std::vector<std::string> benchmarks;  // sorted
  // scores[observation_idx][benchmark_idx]; NaN where it has no score.
  std::vector<std::vector<double>> scores;
  std::vector<std::string> models_without_scores;  // "model" or "model@checkpoint"
  std::vector<std::string> ignored_score_models;  // only with ignore_unknown_models
  std::vector<ScoreUse> uses;                      // every score, in input order
};

// Joins per (model, checkpoint). A score's model (after `aliases`) matches an id as
// below. Its checkpoint: none named -> the model's final checkpoint; named -> the
// checkpoint of that name, else the one whose step the name carries ("step73000"),
// else, when the model has a single checkpoint, that one; else (or when that
// checkpoint is not among the observations) the score is listed as not used.
BenchmarkTable join_scores(const std::vector<BenchmarkScore>& scores, const std::vector<Observation>& observations,
                           const JoinOptions& options);

// Writes scores.csv: model,checkpoint,benchmark,score,metric,aggregation,normalisation,
// file_model,file_checkpoint,source,status (one row per score read). Throws WriteError.
void write_scores_csv(const std::filesystem::path& path, const BenchmarkTable& table);

// A score's model matches a model id if equal, or if the parts after the last '/'
// are equal (so "EleutherAI/pythia-160m" matches "pythia-160m"), provided that
// picks one id. Throws CorruptDataError listing every score model that matches no
// id (with the nearest ids by edit distance), unless ignore_unknown_models (then they
// are listed in ignored_score_models and a warning is logged); and for two sources
// that give one (model, benchmark) different scores. Models without any score are
// logged as a warning and listed.
// (The model-only form: each id is one observation with checkpoint "".)
BenchmarkTable join_scores(const std::vector<BenchmarkScore>& scores, const std::vector<std::string>& model_ids,
                           bool ignore_unknown_models = false);

}  // namespace ibzoo::scores
