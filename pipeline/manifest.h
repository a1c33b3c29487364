// The study manifest: a YAML file describing models, checkpoints, text data,
// estimator settings, storage, compute, benchmarks, analysis and Slurm resources.
// docs/MANIFEST.md is the reference for every key. The defaults below are the only
// copy: manifest.cpp and the commands that take the same settings (`regress`,
// `entropy`, `extract`, `plan`) read them from these structs.
//
// load_manifest() validates the WHOLE file and throws one ManifestError listing
// every problem with file:line, before any work starts. The result is a plain,
// normalised value: every path absolute, every default filled in. It round-trips
// through JSON (to_json / manifest_from_json), which is what rank 0 broadcasts
// so that every rank builds the same plan from the same bytes.
#pragma once

#include "stages/regress.h"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace ibzoo::pipeline {

struct Checkpoint {
  std::string name;                  // e.g. "stage1-step1000-tokens5B" or "final"
  std::int64_t step = 0;
  double tokens = 0;                 // training tokens seen, if known
  std::filesystem::path path;        // Hugging Face model directory (a hub checkpoint: its snapshot)
  // A hub-cache checkpoint (`repo:` + `revision:`): where `path` came from. Empty for a
  // plain directory; left out of the JSON then, so plain manifests keep their hash.
  std::string repo;                  // "org/name"
  std::string revision;              // branch, tag or commit hash as written in the manifest
  bool operator==(const Checkpoint&) const = default;
};

struct ModelSpec {
  std::string id;                    // letters, digits, '-', '_', '.'; '/' between parts ("EleutherAI/pythia-160m")
  std::string family;                // free label used for grouping (e.g. "pythia", "olmo2")
  std::optional<double> n_parameters;
  std::filesystem::path tokenizer;   // tokenizer.json or a directory holding one
  std::vector<Checkpoint> checkpoints;
  bool operator==(const ModelSpec&) const = default;
};

enum class DocumentSplit { kParagraph, kLine, kFile };
enum class Sampling { kFirst, kReservoir };

struct TextData {
  std::vector<std::filesystem::path> files;
  std::string format = "text";       // "text" or "jsonl"
  std::string field = "text";        // JSONL field holding the document
  DocumentSplit split = DocumentSplit::kParagraph;
  std::int64_t n_documents = 0;      // 0: all
  Sampling sampling = Sampling::kFirst;
  std::uint64_t seed = 0;
  std::int64_t max_tokens = 512;
  std::int64_t min_tokens = 8;
  bool bos = false;                  // prepend the tokenizer's BOS token
  bool special_tokens_as_labels = false;
  std::int64_t documents_per_shard = 64;
  bool operator==(const TextData&) const = default;
};

struct PreferenceData {
  std::filesystem::path file;        // JSONL with prompt, chosen, rejected
  std::int64_t n_pairs = 0;          // 0: all
  bool prompt_labelled = false;      // do prompt tokens carry the chosen/rejected label?
  std::int64_t max_tokens = 512;
  bool operator==(const PreferenceData&) const = default;
};

struct EstimatorSpec {
  std::int64_t bins = 100;
  std::uint64_t seed = 0;
  std::optional<std::string> reference_points;  // "FILE.h5:DATASET"
  std::string calibration = "bounds";            // bounds | exact | leading | fixed
  std::optional<double> eps;
  std::vector<int> orders = {1};
  std::string weighting = "frequency";           // frequency | uniform
  std::int64_t min_count = 1;
  std::vector<int> layers;                       // empty: all
  bool final_norm = true;
  bool null = true;
  std::int64_t bootstrap = 0;
  bool sample_size_curve = false;
  bool operator==(const EstimatorSpec&) const = default;
};

struct StorageSpec {
  bool representations = false;
  std::vector<int> layers;                       // empty: all
  std::string dtype = "float16";                 // float16 | float32
  std::int64_t chunk_tokens = 1024;
  int compression = 4;
  std::string assignments = "none";              // none | auto | float32 | float16: opt-in per-position soft assignments
  std::string layout = "per_item";               // per_item | per_checkpoint: where stored representations go
  bool operator==(const StorageSpec&) const = default;
};

struct ComputeSpec {
  std::string device = "cpu";                    // cpu | cuda
  std::string dtype = "float32";                 // float32 | bfloat16 | float16
  std::int64_t tokens_per_batch = 4096;
  int threads = 0;                               // 0: all cores of the rank's share
  double throughput_tokens_per_s = 200000;       // for `plan --estimate`
  std::string memory_budget = "auto";            // per rank: auto | a size (pipeline/budget.h)
  bool operator==(const ComputeSpec&) const = default;
};

struct BenchmarkSource {
  std::filesystem::path file;
  std::string format;                            // "" (detect) or one of scores::kBenchmarkFormats
  bool normalise = false;
  // Added with issue 18 (docs/MANIFEST.md, "benchmarks"); empty = not given.
  std::vector<std::string> tasks;                // tasks/groups that become benchmarks
  std::string metric;                            // metric key ("acc_norm" or "acc_norm,none")
  std::string filter;                            // lm-eval filter ("none", "strict-match", ...)
  std::string model;                             // model id the scores belong to
  std::string checkpoint;                        // checkpoint the scores belong to
  bool allow_limit = false;                      // accept an lm-eval run made with --limit
  std::vector<std::string> aliases;              // "NAME=MODEL_ID": other spellings of model ids
  std::string duplicates = "latest";             // leaderboard rows naming one model twice: latest | first | best | error
  bool operator==(const BenchmarkSource&) const = default;
};

// Defaults shared with `ibzoo regress` (stages/regress.h).
struct AnalysisSpec {
  std::vector<std::string> predictors = stages::kDefaultPredictors;
  std::vector<std::string> controls = stages::kDefaultControls;
  std::string cv = stages::kDefaultCv;
  std::int64_t bootstrap = static_cast<std::int64_t>(stages::kDefaultBootstrap);
  std::uint64_t seed = stages::kDefaultSeed;
  bool report = true;
  bool operator==(const AnalysisSpec&) const = default;
};

struct Manifest {
  std::filesystem::path source;                  // the YAML file it came from
  std::string study;
  std::filesystem::path run_dir;
  std::vector<std::filesystem::path> roots;      // directories inputs may come from
  std::vector<ModelSpec> models;
  TextData text;
  std::optional<PreferenceData> preference;
  EstimatorSpec estimator;
  StorageSpec storage;
  ComputeSpec compute;
  std::vector<BenchmarkSource> benchmarks;
  AnalysisSpec analysis;
  nlohmann::json slurm = nlohmann::json::object();  // validated by slurm/config
  bool operator==(const Manifest&) const = default;
};

// Reads and validates a manifest. Hub checkpoints (`repo:` + `revision:`, or a model's
// `repo:` + `revisions:`) are resolved offline in the Hugging Face cache
// (hf::hub_cache_dir: HF_HUB_CACHE, HF_HOME/hub, ~/.cache/huggingface/hub) to their
// snapshot directories, and the cache becomes a declared root. A checkpoint's step
// comes from `step:`, else from its name or revision (hf::parse_revision_name); a
// model with several checkpoints where one has neither is an error. Relative paths resolve against the manifest's
// directory; inputs must stay inside the declared roots (the manifest's directory
// and `roots:`), outputs inside the run directory. Throws ManifestError listing
// every problem at once, each as "FILE:LINE: message".
Manifest load_manifest(const std::filesystem::path& path);

nlohmann::json to_json(const Manifest& manifest);
Manifest manifest_from_json(const nlohmann::json& j);
// sha256 of the normalised JSON: identifies the study's configuration.
std::string manifest_hash(const Manifest& manifest);
// Whether the opt-in assignments.h5 stores the soft assignments as float16:
// storage.assignments, where auto means float16 when the model computes in bfloat16
// or float16 (rounding p to half, relative error <= 2^-11, adds less than the 16-bit
// forward pass already has).
bool assignments_float16(const Manifest& manifest);

}  // namespace ibzoo::pipeline
