// The `ibzoo entropy` stage: soft entropy and mutual information of one matrix
// of representations Z with any number of label sets, all read from one HDF5
// file. Standalone: not part of the distributed run (pipeline/run.cpp uses the
// same analysis/ estimator through extract and reduce).
//
// Reads only; writes nothing itself (the command writes the JSON).
// Throws MissingInputError / CorruptDataError naming the file and dataset,
// UsageError for inconsistent options. Not collective.
#pragma once

#include "analysis/calibration.h"
#include "analysis/estimator_state.h"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace ibzoo::tools {

struct EntropyLabel {
  std::string name;
  std::string dataset;  // [N] or [N, n] integers
};

struct EntropyJob {
  std::filesystem::path input;
  std::string z_dataset;                 // [N, d] float32 or float64
  std::vector<EntropyLabel> labels;
  std::optional<std::filesystem::path> reference_points_file;  // with reference_points_dataset: load W [m, d]
  std::string reference_points_dataset;
  std::uint64_t seed = 0;                // generates W when no file is given; seeds null and bootstrap
  std::int64_t n_bins = 100;             // ignored when W is loaded (m comes from the file)
  analysis::Calibration calibration = analysis::Calibration::kBounds;
  std::optional<double> eps;             // with Calibration::kGiven
  analysis::Weighting weighting = analysis::Weighting::kFrequency;
  std::int64_t min_count = 1;            // uniform weighting only
  bool null = false;                     // shuffled-label null beside every MI
  std::int64_t n_bootstrap = 0;          // needs groups_dataset
  std::optional<std::string> groups_dataset;  // [N] document ids
  double confidence = 0.95;
  int n_threads = 1;
  std::int64_t batch_rows = 8192;        // at most; fewer for a small input (no result depends on it)
};

struct EntropyResult {
  std::int64_t n_samples = 0;
  std::int64_t dim = 0;
  std::int64_t n_bins = 0;
  double eps = 0.0;
  std::string calibration;
  std::string weighting;
  std::int64_t min_count = 1;
  std::string reference_points;  // "seed:S" or "FILE:DATASET"
  std::string w_checksum;
  std::optional<double> entropy;
  std::vector<std::string> names;  // label sets, in command-line order
  std::vector<std::optional<double>> mutual_information, regularity;
  std::vector<std::optional<double>> null;                       // when job.null
  std::vector<std::optional<analysis::Interval>> bootstrap;      // when n_bootstrap > 0
  std::optional<analysis::Interval> entropy_bootstrap;
  bool has_null = false;
  bool has_bootstrap = false;
};

EntropyResult run_entropy(const EntropyJob& job);

// The JSON of the command: keys n_samples, dim, n_bins, eps, calibration,
// weighting, min_count, entropy, mutual_information {name: v}, regularity
// {name: v}, null {name: v} (with --null), bootstrap {name: {low, high}} (with
// --bootstrap), plus reference_points and w_checksum. Undefined values are null.
nlohmann::json to_json(const EntropyResult& result);

// Writes a small synthetic input for trying the command (and for its tests):
//   /z [n, dim] float32, /z64 [n, dim] float64 (same values), /token [n] int64
//   (shapes z), /bigram [n, 2] int64, /noise [n] int64 (independent of z),
//   /rare [n] int64 (every value distinct), /doc [n] int64 (groups of 25), /w [16, dim] float32
//   (reference points, not normalised). Deterministic in (n, dim, seed). Throws WriteError.
void write_entropy_example(const std::filesystem::path& path, std::int64_t n, std::int64_t dim, std::uint64_t seed);

}  // namespace ibzoo::tools
