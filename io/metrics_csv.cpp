// metrics.csv: the in-memory MetricRow <-> the pandas-friendly file layout
// (numeric layer, a scope column, no empty label_set). Reduce writes it; regress and
// the report read it back.
#include "io/metrics_csv.h"

#include "errors/error.h"
#include "io/csv.h"
#include "io/fs.h"

#include <cmath>
#include <cstdio>

namespace ibzoo::io {

namespace {

constexpr const char* kNoLabel = "none";

double parse_value(const std::string& s, const std::string& where) {
  if (s == "nan") return std::nan("");
  if (s == "inf") return HUGE_VAL;
  if (s == "-inf") return -HUGE_VAL;
  std::size_t used = 0;
  double v = 0;
  try {
    v = std::stod(s, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used != s.size() || s.empty()) throw CorruptDataError(where + ": 'value' must be a number, got \"" + s + "\"");
  return v;
}

std::int64_t parse_integer(const std::string& s, const std::string& where, const char* column) {
  try {
    std::size_t used = 0;
    const auto v = std::stoll(s, &used);
    if (used == s.size()) return v;
  } catch (const std::exception&) {
  }
  throw CorruptDataError(where + ": '" + column + "' must be an integer, got \"" + s + "\"");
}

}  // namespace

std::string format_value(double value) {
  if (std::isnan(value)) return "nan";
  if (std::isinf(value)) return value > 0 ? "inf" : "-inf";
  char buf[40];
  std::snprintf(buf, sizeof buf, "%.17g", value);
  return buf;
}

MetricFileFields to_file_fields(const MetricRow& row) {
  MetricFileFields f;
  f.label_set = row.label_set.empty() ? kNoLabel : row.label_set;
  if (row.layer == "mean") {
    f.scope = "layer_mean";
  } else if (row.layer.empty()) {
    f.scope = "model";
  } else {
    f.scope = "layer";
    f.layer = std::stoll(row.layer);
  }
  return f;
}

void from_file_fields(const MetricFileFields& fields, MetricRow& row, const std::string& where) {
  row.label_set = fields.label_set == kNoLabel ? "" : fields.label_set;
  if (fields.scope == "layer_mean") {
    row.layer = "mean";
  } else if (fields.scope == "model") {
    row.layer = "";
  } else if (fields.scope == "layer") {
    if (fields.layer < 0) throw CorruptDataError(where + ": 'layer' must be >= 0 for scope 'layer', got " +
                                                 std::to_string(fields.layer));
    row.layer = std::to_string(fields.layer);
  } else {
    throw CorruptDataError(where + ": 'scope' must be layer, layer_mean or model, got \"" + fields.scope + "\"");
  }
}

void write_metrics_csv(const std::filesystem::path& path, const std::vector<MetricRow>& rows) {
  std::string text = std::string(kMetricsHeader) + "\n";
  for (const auto& r : rows) {
    const auto f = to_file_fields(r);
    text += format_csv_row({r.model, r.family, r.checkpoint, std::to_string(r.step), std::to_string(f.layer),
                            f.label_set, r.metric, format_value(r.value), f.scope});
  }
  write_file_atomic(path, text);
}

std::vector<MetricRow> read_metrics_csv(const std::filesystem::path& path) {
  const auto table = read_csv(path);
  const auto header = format_csv_row(table.header);
  const bool v1 = header == std::string(kMetricsHeaderV1) + "\n";
  if (!v1 && header != std::string(kMetricsHeader) + "\n") {
    throw CorruptDataError(path.string() + ":1: expected the header '" + std::string(kMetricsHeader) + "', got '" +
                           header.substr(0, header.size() - 1) + "'");
  }
  std::vector<MetricRow> rows;
  rows.reserve(table.rows.size());
  for (std::size_t i = 0; i < table.rows.size(); ++i) {
    const auto& f = table.rows[i];
    const auto where = table.where(i);
    MetricRow r{f[0], f[1], f[2], parse_integer(f[3], where, "step"), f[4], f[5], f[6], parse_value(f[7], where)};
    if (!v1) from_file_fields({parse_integer(f[4], where, "layer"), f[5], f[8]}, r, where);
    rows.push_back(std::move(r));
  }
  return rows;
}

}  // namespace ibzoo::io
