// Train stage: the demo model zoo. Reads a zoo manifest (YAML, see docs/DEMO.md),
// prepares the text (Debian's bible-kjv, split into training books and held-out
// books), trains a byte-level BPE tokenizer, and trains every model of the zoo
// with models::train_model, saving checkpoints at log-spaced steps.
//
// Writes under the zoo's out_dir:
//   text/train.txt       training books, one verse per line, chapters separated by blank lines
//   text/heldout.txt     the held-out books, same layout (evaluation tasks)
//   text/study.txt       the held-out verses in paragraphs of `study_verses` (the study's documents)
//   tokenizer/           tokenizer.json, tokenizer_config.json
//   models/<id>/step-<NNNNNN>/   config.json, model.safetensors, tokenizer.json, tokenizer_config.json
//   models/<id>/step-<NNNNNN>/trainer_state.json  the step's train loss and held-out eval_loss
//   models/<id>/train_log.csv    step,loss,lr
//   models/<id>/eval_log.csv     step,heldout_loss,train_loss (one row per checkpoint)
//   models/<id>/done.json        the zoo hash, written when the model is complete
//   zoo.json             the zoo hash, every model and checkpoint; written last
// Cached: when zoo.json records the same zoo hash and every checkpoint exists,
// nothing is done; a model whose done.json carries the hash is not retrained.
// Not collective (one process; torch threads from the manifest).
#pragma once

#include "hf/config.h"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace ibzoo::zoo {

struct ZooModelSpec {
  std::string id;
  hf::Family family = hf::Family::Gpt2;
  hf::ModelSizes sizes;      // vocab_size is set from the tokenizer
  bool operator==(const ZooModelSpec&) const = default;
};

struct ZooTextSpec {
  std::string source = "bible-kjv";  // "bible-kjv": runs `bible gen1:1-rev22:21`; "file": a file in that format
  std::filesystem::path file;        // source: file
  std::int64_t heldout_books = 9;    // the last N books are never trained on
  std::int64_t max_train_bytes = 0;  // 0: all of the training books
  std::int64_t study_verses = 3;     // verses per study document
  bool operator==(const ZooTextSpec&) const = default;
};

struct ZooTrainingSpec {
  std::int64_t steps = 300;
  std::int64_t batch_size = 16;
  std::int64_t context = 64;
  double lr = 3e-3;
  double min_lr_ratio = 0.1;
  std::int64_t warmup_steps = 20;
  std::string schedule = "cosine";
  double weight_decay = 0.01;
  double grad_clip = 1.0;
  double init_std = 0.02;
  std::int64_t checkpoints = 8;      // from step 0 to steps, spaced by checkpoint_spacing
  std::string checkpoint_spacing = "log";  // "log" (log_spaced_steps) or "log-even" (log_even_steps)
  std::int64_t checkpoint_even_from = 0;   // log-even: where even spacing starts (0: steps / 8)
  std::int64_t eval_tokens = 8192;   // held-out tokens scored at every checkpoint (0: none)
  std::string device = "cpu";        // "cpu" or "cuda" (`ibzoo train --device` overrides)
  std::string precision = "auto";    // models::Precision: auto, float32, tf32, bfloat16
  bool deterministic = true;         // CUDA: deterministic algorithms (models/trainer.h)
  bool operator==(const ZooTrainingSpec&) const = default;
};

struct ZooSpec {
  std::filesystem::path source;      // the YAML file
  std::string zoo;                   // name
  std::filesystem::path out_dir;     // absolute
  std::uint64_t seed = 1;
  int threads = 2;
  ZooTextSpec text;
  std::int32_t vocab_size = 1024;
  std::int64_t tokenizer_train_bytes = 1000000;  // 0: all training text
  ZooTrainingSpec training;
  std::vector<ZooModelSpec> models;
  bool operator==(const ZooSpec&) const = default;
};

// Reads and validates the zoo manifest; relative paths resolve against its
// directory. Throws ManifestError listing every problem as "FILE:LINE: message",
// MissingInputError if the file is absent.
ZooSpec load_zoo_manifest(const std::filesystem::path& path);

// The normalised spec (without `source`), and its sha256: the cache key.
nlohmann::json zoo_to_json(const ZooSpec& spec);
std::string zoo_hash(const ZooSpec& spec);

// Checkpoint directory name for a step: "step-000042".
std::string checkpoint_name(std::int64_t step);

// One verse of a book/chapter of `bible` output.
struct Verse {
  std::string book;
  int chapter = 0;
  int verse = 0;
  std::string text;
};
// Parses the `bible` command's output (headers "Book N", verses "  N text" wrapped
// over lines). Throws CorruptDataError naming `source_name` if no verse is found.
std::vector<Verse> parse_bible_text(const std::string& text, const std::string& source_name);

struct TrainedModel {
  std::string id;
  std::string family;
  std::int64_t n_parameters = 0;
  std::vector<std::int64_t> steps;
  double final_loss = 0.0;  // mean of the last 10 steps' batch losses
  double seconds = 0.0;
  bool cached = false;
  std::string device, precision, optimizer;  // what the training ran with (models::TrainResult)
  std::vector<double> heldout_loss;          // per checkpoint (NaN where not measured)
};

struct ZooResult {
  bool cached = false;  // the whole zoo was reused
  std::string hash;
  std::vector<TrainedModel> models;
  std::filesystem::path path_zoo_json;
};

// The checkpoint steps of a zoo's training settings.
std::vector<std::int64_t> checkpoint_steps(const ZooTrainingSpec& training);

// Runs the stage (see the header comment). `force`: retrain even if cached.
// Throws ManifestError/UsageError (bad settings), MissingInputError (no `bible`
// command or text file), CorruptDataError, WriteError.
ZooResult train_zoo(const ZooSpec& spec, bool force = false);

}  // namespace ibzoo::zoo
