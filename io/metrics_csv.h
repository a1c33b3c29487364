// The tidy metrics table, <run>/results/metrics.csv, laid out so that pandas reads
// every column with one dtype and no surprise NaN (docs/RUN_LAYOUT.md). Header, exactly:
//   model,family,checkpoint,step,layer,label_set,metric,value,scope
// scope: "layer" (one layer's row), "layer_mean" (mean over layers 1..L) or "model"
//   (a model-level row that belongs to no layer, e.g. n_parameters).
// layer: an integer, the layer index (0 = embeddings) for scope "layer", -1 otherwise.
// label_set: the label's name (in1, out1, pref, ...) or "none" for label-free metrics.
// value: 17 significant digits; "nan" for an undefined value.
// In memory (MetricRow) nothing changed: layer is "0".."L", "mean" or "", and
// label_set "" for label-free metrics; the mapping lives only in the file I/O
// (metrics_csv.cpp, metrics_h5.cpp). The reader also accepts the earlier 8-column
// layout (kMetricsHeaderV1: layer "mean" or "", empty label_set).
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

inline constexpr const char* kMetricsHeader = "model,family,checkpoint,step,layer,label_set,metric,value,scope";
inline constexpr const char* kMetricsHeaderV1 = "model,family,checkpoint,step,layer,label_set,metric,value";

// The file encoding of one in-memory row and back (shared by metrics.csv and metrics.h5).
struct MetricFileFields {
  std::int64_t layer = -1;
  std::string label_set;  // never empty: "none" for label-free metrics
  std::string scope;      // layer | layer_mean | model
};
MetricFileFields to_file_fields(const MetricRow& row);
// Inverse of to_file_fields. Throws CorruptDataError (naming `where`) for an unknown
// scope or a negative layer in scope "layer".
void from_file_fields(const MetricFileFields& fields, MetricRow& row, const std::string& where);

// Writes atomically (temp file + rename). Throws WriteError.
void write_metrics_csv(const std::filesystem::path& path, const std::vector<MetricRow>& rows);
// Throws MissingInputError, or CorruptDataError naming file:line and the field.
std::vector<MetricRow> read_metrics_csv(const std::filesystem::path& path);

// Formats a value with 17 significant digits ("nan", "inf", "-inf" for non-finite).
std::string format_value(double value);

}  // namespace ibzoo::io
