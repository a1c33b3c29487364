// Open LLM Leaderboard v1 and v2 exports (CSV).
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

namespace {

const std::vector<std::string> kLeaderboardBenchmarks = {"IFEval", "BBH", "MATH Lvl 5", "GPQA", "MUSR", "MMLU-PRO"};
const std::vector<std::string> kLeaderboardV1Benchmarks = {"ARC", "HellaSwag", "MMLU", "TruthfulQA", "Winogrande",
                                                           "GSM8K"};


// Rows naming one model twice (several precisions, revisions or submissions): which one counts.
std::vector<std::size_t> deduplicate(const io::CsvTable& t, std::size_t model_col, const BenchmarkOptions& options) {
  std::map<std::string, std::vector<std::size_t>> by_model;
  std::vector<std::string> order;
  for (std::size_t i = 0; i < t.rows.size(); ++i) {
    auto& rows = by_model[t.rows[i][model_col]];
    if (rows.empty()) order.push_back(t.rows[i][model_col]);
    rows.push_back(i);
  }
  const auto date_col = t.column("Submission Date");
  const auto avg_col = t.column("Average ⬆️");
  std::vector<std::size_t> keep;
  for (const auto& model : order) {
    const auto& rows = by_model[model];
    if (rows.size() == 1) {
      keep.push_back(rows.front());
      continue;
    }
    std::vector<std::string> where;
    for (auto r : rows) where.push_back(t.where(r));
    if (options.duplicates == "error") {
      throw CorruptDataError(t.source + ": model '" + model + "' has " + std::to_string(rows.size()) + " rows (" +
                             join(where, ", ") + "); choose a policy with 'duplicates: latest | first | best'");
    }
    std::size_t pick = rows.front();
    std::string why = "the first row";
    if (options.duplicates == "best" && avg_col) {
      for (auto r : rows) {
        if (std::strtod(t.rows[r][*avg_col].c_str(), nullptr) > std::strtod(t.rows[pick][*avg_col].c_str(), nullptr)) pick = r;
      }
      why = "the highest 'Average'";
    } else if (options.duplicates == "latest") {
      pick = rows.back();
      why = "the last row";
      if (date_col) {
        for (auto r : rows) {
          if (t.rows[r][*date_col] >= t.rows[pick][*date_col]) pick = r;
        }
        why = "the latest 'Submission Date'";
      }
    }
    io::log_warn("benchmarks: " + t.source + ": model '" + model + "' has " + std::to_string(rows.size()) + " rows (" +
             join(where, ", ") + "); kept " + t.where(pick) + " (policy '" + options.duplicates + "': " + why + ")");
    keep.push_back(pick);
  }
  std::sort(keep.begin(), keep.end());
  return keep;
}

std::vector<BenchmarkScore> read_leaderboard_table(const io::CsvTable& table, const BenchmarkOptions& options, bool v1) {
  const auto model_col = leaderboard_model_column(table);
  if (!model_col) {
    throw CorruptDataError(table.source + ":1: no 'fullname' (or 'model_name_for_query') column; expected an Open "
                           "LLM Leaderboard export (columns fullname, IFEval Raw, IFEval, BBH Raw, BBH, ...)");
  }
  const auto& names = v1 ? kLeaderboardV1Benchmarks : kLeaderboardBenchmarks;
  const bool raw = !v1 && !options.normalise;
  std::vector<std::pair<std::string, std::size_t>> columns;  // benchmark -> column
  for (const auto& b : names) {
    if (const auto col = table.column(raw ? b + " Raw" : b)) columns.emplace_back(b, *col);
  }
  if (columns.empty()) {
    throw CorruptDataError(table.source + ":1: none of the leaderboard benchmark columns (" +
                           join(names, raw ? " Raw, " : ", ") + (raw ? " Raw" : "") + ") is present; columns found: " +
                           join(table.header, ", "));
  }
  // v2: the normalised columns are in percent, the raw ones fractions; v1 columns are percent.
  const double scale = raw ? 100.0 : 1.0;
  const std::string normalisation = v1 ? "none (v1 accuracies)" : options.normalise ? "leaderboard v2 (its normalised column)" : "none (the 'Raw' column)";
  std::vector<BenchmarkScore> out;
  for (const auto i : deduplicate(table, *model_col, options)) {
    const auto& row = table.rows[i];
    for (const auto& [bench, col] : columns) {
      const auto v = parse_score(row[col], table.where(i), table.header[col]);
      if (!v) continue;
      out.push_back({options.model.empty() ? row[*model_col] : options.model, bench, scale * *v, table.where(i),
                     options.checkpoint, table.header[col], "leaderboard column", normalisation});
    }
  }
  io::log_info("benchmarks: " + table.source + ": " + std::to_string(out.size()) + " scores from the Open LLM Leaderboard " +
           (v1 ? "v1" : "v2") + " export (" + normalisation + ")");
  return out;
}

}  // namespace

std::vector<BenchmarkScore> read_leaderboard_csv(const std::filesystem::path& path, const BenchmarkOptions& options) {
  const auto table = io::read_csv(path);
  const bool v1 = options.format == "leaderboard-v1" ||
                  (options.format.empty() && !table.column("IFEval") && !table.column("IFEval Raw") && table.column("ARC"));
  return read_leaderboard_table(table, options, v1);
}

}  // namespace ibzoo::scores
