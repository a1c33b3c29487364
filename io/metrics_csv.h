// The tidy metrics table, <run>/results/metrics.csv. Header, exactly:
//   model,family,checkpoint,step,layer,label_set,metric,value
// layer: an integer (0 = embeddings) or "mean" (mean over layers 1..L), or empty
// for model-level rows that belong to no layer (e.g. n_parameters).
// label_set: the label's name (in1, out1, pref, ...) or empty for label-free metrics.
// value: 17 significant digits; "nan" for an undefined value.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace ibzoo::io {

struct MetricRow {
  std::string model;
  std::string family;
  std::string checkpoint;
  std::int64_t step = 0;
  std::string layer;      // "0".."L", "mean", or ""
  std::string label_set;  // may be empty
  std::string metric;
  double value = 0.0;
  bool operator==(const MetricRow&) const = default;
};

inline constexpr const char* kMetricsHeader = "model,family,checkpoint,step,layer,label_set,metric,value";

// Writes atomically (temp file + rename). Throws WriteError.
void write_metrics_csv(const std::filesystem::path& path, const std::vector<MetricRow>& rows);
// Throws MissingInputError, or CorruptDataError naming file:line and the field.
std::vector<MetricRow> read_metrics_csv(const std::filesystem::path& path);

// Formats a value with 17 significant digits ("nan", "inf", "-inf" for non-finite).
std::string format_value(double value);

}  // namespace ibzoo::io
