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
// Writes <path_out> atomically (evaluate), or one file per checkpoint of a zoo (evaluate_zoo):
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

namespace ibzoo::hf {
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
  std::string device = "cpu";                      // "cpu" or "cuda" (float32 either way)
  std::string revision;                            // written as revision=... in model_args ("": none)
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
// in (item, choice) order; `batch_size` sequences per forward pass. On the CPU the
// logits come to the host and the rows that score a choice are normalised there (in
// double); on CUDA, and with `on_device`, the log-softmax and the choice tokens'
// values are taken on the device (models::Model::next_token_log_probs, float32), so
// that only those values are copied back. The two agree to ~1e-5 (tested).
std::vector<double> choice_log_likelihoods(const models::Model& model, const hf::Tokenizer& tokenizer,
                                           const std::vector<TaskItem>& items, std::int64_t batch_size,
                                           bool on_device = false);

// The harness's results JSON for these scores.
nlohmann::json results_json(const EvaluateJob& job, const EvaluateResult& result);

EvaluateResult evaluate(const EvaluateJob& job);

// Every checkpoint of a trained zoo (`ibzoo train`'s out_dir, read through its
// zoo.json), or each model's final one, scored on the same tasks in one process (the
// tasks are tokenized once per tokenizer). Writes <out_dir>/<model>/<checkpoint>.json
// per checkpoint, with model_name = the model id and model_args
// "pretrained=<dir>,revision=<checkpoint>", so that a study joins each file to its
// checkpoint (docs/ANALYSIS.md, "Join").
struct EvaluateZooJob {
  std::filesystem::path zoo_dir;                   // holds zoo.json
  std::vector<std::filesystem::path> task_paths;
  std::filesystem::path out_dir;
  bool all_checkpoints = true;                     // false: each model's final checkpoint
  std::int64_t limit = 0;
  std::int64_t batch_size = 32;
  int threads = 2;
  std::string device = "cpu";
  bool operator==(const EvaluateZooJob&) const = default;
};

struct EvaluateZooResult {
  std::vector<std::filesystem::path> files;        // in zoo order, checkpoints by step
  double seconds = 0.0;
};

// Throws MissingInputError (no zoo.json, a checkpoint directory missing), CorruptDataError
// (bad zoo.json or task files), ModelError, WriteError.
EvaluateZooResult evaluate_zoo(const EvaluateZooJob& job);

}  // namespace ibzoo::zoo
