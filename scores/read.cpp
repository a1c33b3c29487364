// One score file in any format: detection, the long CSV, and dispatch to the format readers.
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

std::vector<BenchmarkScore> read_long_csv(const std::filesystem::path& path) {
  const auto table = io::read_csv(path);
  const auto m = table.column("model"), b = table.column("benchmark"), s = table.column("score");
  const auto c = table.column("checkpoint"), metric = table.column("metric");
  if (!m || !b || !s) {
    throw CorruptDataError(path.string() + ":1: a long benchmark CSV needs the columns model, benchmark, score; "
                           "found: " + join(table.header, ", "));
  }
  std::vector<BenchmarkScore> out;
  for (std::size_t i = 0; i < table.rows.size(); ++i) {
    const auto& row = table.rows[i];
    if (row[*m].empty() || row[*b].empty()) {
      throw CorruptDataError(table.where(i) + ": 'model' and 'benchmark' must not be empty");
    }
    const auto v = parse_score(row[*s], table.where(i), "score");
    if (v) {
      out.push_back({row[*m], row[*b], *v, table.where(i), c ? row[*c] : std::string(),
                     metric ? row[*metric] : std::string("score"), "as given", "none"});
    }
  }
  return out;
}

std::string detect_benchmark_format(const std::filesystem::path& path) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) return "helm";
  if (path.extension() == ".json") {
    // Malformed JSON is reported by the lm-eval reader, which names what it expected.
    const auto doc = json::parse(io::read_file(path, std::uintmax_t{1} << 28), nullptr, false);
    if (doc.is_object() && doc.contains("evaluation_results")) return "every-eval-ever";
    return "lm-eval";
  }
  const auto table = io::read_csv(path);
  if (leaderboard_model_column(table)) {
    return table.column("ARC") && !table.column("IFEval") && !table.column("IFEval Raw") ? "leaderboard-v1" : "leaderboard";
  }
  if (table.column("model") && table.column("benchmark") && table.column("score")) return "long";
  throw CorruptDataError(path.string() + ":1: unknown benchmark file format; expected an lm-eval results .json, an "
                         "Every Eval Ever .json, a HELM run directory, an Open LLM Leaderboard CSV (with 'fullname') "
                         "or a long CSV (model,benchmark,score); columns found: " + join(table.header, ", "));
}

std::vector<BenchmarkScore> read_benchmark_file(const std::filesystem::path& path, const BenchmarkOptions& options) {
  const std::string format = options.format.empty() ? detect_benchmark_format(path) : options.format;
  io::log_info("benchmarks: " + path.string() + ": format " + format + (options.format.empty() ? " (detected)" : " (given)"));
  if (format == "lm-eval") return read_lm_eval_json(path, options);
  if (format == "leaderboard" || format == "leaderboard-v1") {
    auto o = options;
    o.format = format;
    return read_leaderboard_csv(path, o);
  }
  if (format == "helm") return read_helm(path, options);
  if (format == "every-eval-ever") return read_every_eval_ever(path, options);
  if (format == "long") {
    auto scores = read_long_csv(path);
    for (auto& s : scores) {
      if (!options.model.empty()) s.model = options.model;
      if (!options.checkpoint.empty() && s.checkpoint.empty()) s.checkpoint = options.checkpoint;
    }
    return scores;
  }
  throw UsageError("unknown benchmark format '" + format + "' for " + path.string() + "; choose one of " +
                   join(kBenchmarkFormats, ", "));
}

std::vector<BenchmarkScore> read_benchmarks(const std::filesystem::path& path, const BenchmarkOptions& options) {
  return read_benchmark_file(path, options);
}

}  // namespace ibzoo::scores
