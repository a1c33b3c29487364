#include "io/metrics_csv.h"

#include "analysis/error.h"
#include "io/fs.h"

#include <cmath>
#include <cstdio>
#include <sstream>

namespace ibzoo::io {

namespace {

// Fields are plain identifiers in practice; quote anything that needs it (RFC 4180).
std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\n\r") == std::string::npos) return s;
  std::string out = "\"";
  for (char c : s) out += c == '"' ? std::string("\"\"") : std::string(1, c);
  return out + "\"";
}

std::vector<std::string> split_csv_line(const std::string& line) {
  std::vector<std::string> fields;
  std::string cur;
  bool quoted = false;
  for (std::size_t i = 0; i < line.size(); ++i) {
    const char c = line[i];
    if (quoted) {
      if (c == '"' && i + 1 < line.size() && line[i + 1] == '"') {
        cur += '"';
        ++i;
      } else if (c == '"') {
        quoted = false;
      } else {
        cur += c;
      }
    } else if (c == '"') {
      quoted = true;
    } else if (c == ',') {
      fields.push_back(cur);
      cur.clear();
    } else {
      cur += c;
    }
  }
  fields.push_back(cur);
  return fields;
}

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

}  // namespace

std::string format_value(double value) {
  if (std::isnan(value)) return "nan";
  if (std::isinf(value)) return value > 0 ? "inf" : "-inf";
  char buf[40];
  std::snprintf(buf, sizeof buf, "%.17g", value);
  return buf;
}

void write_metrics_csv(const std::filesystem::path& path, const std::vector<MetricRow>& rows) {
  std::ostringstream os;
  os << kMetricsHeader << "\n";
  for (const auto& r : rows) {
    os << csv_field(r.model) << ',' << csv_field(r.family) << ',' << csv_field(r.checkpoint) << ',' << r.step << ','
       << csv_field(r.layer) << ',' << csv_field(r.label_set) << ',' << csv_field(r.metric) << ','
       << format_value(r.value) << "\n";
  }
  write_file_atomic(path, os.str());
}

std::vector<MetricRow> read_metrics_csv(const std::filesystem::path& path) {
  const auto text = read_file(path);
  std::istringstream in(text);
  std::string line;
  std::vector<MetricRow> rows;
  if (!std::getline(in, line) || line != kMetricsHeader) {
    throw CorruptDataError(path.string() + ":1: expected the header '" + std::string(kMetricsHeader) + "', got '" +
                           line + "'");
  }
  for (int line_no = 2; std::getline(in, line); ++line_no) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty()) continue;
    const auto where = path.string() + ":" + std::to_string(line_no);
    const auto f = split_csv_line(line);
    if (f.size() != 8) {
      throw CorruptDataError(where + ": expected 8 fields, found " + std::to_string(f.size()));
    }
    MetricRow r{f[0], f[1], f[2], 0, f[4], f[5], f[6], parse_value(f[7], where)};
    try {
      std::size_t used = 0;
      r.step = std::stoll(f[3], &used);
      if (used != f[3].size()) throw std::invalid_argument("trailing");
    } catch (const std::exception&) {
      throw CorruptDataError(where + ": 'step' must be an integer, got \"" + f[3] + "\"");
    }
    rows.push_back(std::move(r));
  }
  return rows;
}

}  // namespace ibzoo::io
