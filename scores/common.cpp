// Helpers the score readers share.
#include "errors/error.h"
#include "io/csv.h"
#include "io/fs.h"
#include "io/log.h"
#include "scores/benchmarks.h"
#include "scores/common.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <optional>
#include <set>
#include <sstream>

namespace ibzoo::scores {

using nlohmann::json;

std::string basename_of(const std::string& id) {
  const auto slash = id.find_last_of('/');
  return slash == std::string::npos ? id : id.substr(slash + 1);
}

// Parses a score cell; nullopt for an empty or "nan" cell.
std::optional<double> parse_score(const std::string& cell, const std::string& where, const std::string& column) {
  if (cell.empty() || cell == "nan" || cell == "NaN" || cell == "NA") return std::nullopt;
  std::size_t used = 0;
  double v = 0;
  try {
    v = std::stod(cell, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used != cell.size() || !std::isfinite(v)) {
    throw CorruptDataError(where + ": '" + column + "' must be a number (or empty for a missing score), got \"" +
                           cell + "\"");
  }
  return v;
}

nlohmann::json read_json_file(const std::filesystem::path& path, const std::string& what) {
  try {
    return json::parse(io::read_file(path, std::uintmax_t{1} << 28));
  } catch (const json::exception& e) {  // parse_error, or out_of_range for a number past double
    throw CorruptDataError(path.string() + ": not valid JSON (" + e.what() + "); expected " + what);
  }
}

// "pretrained=org/m,revision=step1000,dtype=float" or {"pretrained": ..., "revision": ...}.
std::string model_arg(const nlohmann::json& args, const std::string& key) {
  if (args.is_object() && args.contains(key) && args[key].is_string()) return args[key].get<std::string>();
  if (!args.is_string()) return "";
  const auto s = args.get<std::string>();
  for (std::size_t start = 0; start < s.size();) {
    const auto end = std::min(s.find(',', start), s.size());
    const auto part = s.substr(start, end - start);
    if (part.rfind(key + "=", 0) == 0) return part.substr(key.size() + 1);
    start = end + 1;
  }
  return "";
}

std::optional<std::size_t> leaderboard_model_column(const io::CsvTable& t) {
  for (const char* name : {"fullname", "model_name_for_query", "eval_name"}) {
    if (const auto c = t.column(name)) return c;
  }
  return std::nullopt;
}

}  // namespace ibzoo::scores
