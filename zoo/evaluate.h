// Evaluate stage: multiple-choice scoring of one model on task files, in the
// manner of the lm-evaluation-harness, written as its results JSON so that the
// regress stage reads the demo's scores and real leaderboard scores alike.
//
// For each item and choice: the log-likelihood of the choice's tokens given the
// context (tokens of context + choice after those of the context, as the harness
// splits them; an empty context is replaced by the end-of-text token).
//   acc       = 1 if argmax_c sum logprob == gold
//   acc_norm  = 1 if argmax_c sum logprob / (UTF-8 bytes of choice c) == gold
//   *_stderr  = sample standard deviation (n - 1) / sqrt(n), as the harness
// Writes <path_out> atomically:
//   {"results": {"<task>": {"alias", "acc,none", "acc_stderr,none", "acc_norm,none",
//    "acc_norm_stderr,none"}}, "group_subtasks", "configs", "versions", "n-shot",
//    "n-samples", "config": {"model", "model_args", "batch_size", "limit"}, "model_name"}
// Not collective. Throws MissingInputError, CorruptDataError (bad task files),
// ModelError, WriteError.
#pragma once

#include "zoo/tasks.h"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace ibzoo::io {
class Tokenizer;
}
namespace ibzoo::models {
class Model;
}

namespace ibzoo::zoo {

struct EvaluateJob {
  std::filesystem::path model_dir;                 // config.json, model.safetensors, tokenizer.json
  std::vector<std::filesystem::path> task_paths;   // .jsonl files or directories of them
  std::filesystem::path path_out;                  // results JSON
  std::string model_name;                          // "model_name" in the JSON ("" : the directory name)
  std::int64_t limit = 0;                          // first N items per task; 0: all
  std::int64_t batch_size = 32;                    // sequences per forward pass
  int threads = 2;                                 // torch threads
  bool operator==(const EvaluateJob&) const = default;
};

struct TaskScore {
  std::string task;
  std::int64_t n_items = 0;
  std::int64_t n_choices = 0;  // the largest number of choices of an item
  double acc = 0.0;
  double acc_stderr = 0.0;
  double acc_norm = 0.0;
  double acc_norm_stderr = 0.0;
};

struct EvaluateResult {
  std::vector<TaskScore> tasks;  // sorted by task name
  double seconds = 0.0;
};

// The argmax rule of the harness: the first index of the largest value.
std::size_t argmax_first(const std::vector<double>& values);
// Sample standard error of the mean of 0/1 (or any) values; 0 for n < 2.
double mean_stderr(const std::vector<double>& values);

// Task files of the job: each .jsonl file, and every *.jsonl inside a directory,
// sorted. Throws MissingInputError (a path that does not exist, a directory without
// task files).
std::vector<std::filesystem::path> expand_task_paths(const std::vector<std::filesystem::path>& paths);

// Sum log-likelihood of every choice of every item given its context, flattened
// in (item, choice) order; `batch_size` sequences per forward pass.
std::vector<double> choice_log_likelihoods(const models::Model& model, const hf::Tokenizer& tokenizer,
                                           const std::vector<TaskItem>& items, std::int64_t batch_size);

// The harness's results JSON for these scores.
nlohmann::json results_json(const EvaluateJob& job, const EvaluateResult& result);

EvaluateResult evaluate(const EvaluateJob& job);

}  // namespace ibzoo::zoo
