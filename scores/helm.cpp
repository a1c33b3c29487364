// HELM run directories (run_spec.json + stats.json).
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

bool is_helm_run(const std::filesystem::path& dir) {
  std::error_code ec;
  return std::filesystem::is_regular_file(dir / "run_spec.json", ec) &&
         std::filesystem::is_regular_file(dir / "stats.json", ec);
}

std::vector<std::filesystem::path> helm_runs(const std::filesystem::path& path) {
  if (is_helm_run(path)) return {path};
  std::vector<std::filesystem::path> runs;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(path, ec)) {
    if (e.is_directory(ec) && is_helm_run(e.path())) runs.push_back(e.path());
  }
  std::sort(runs.begin(), runs.end());
  return runs;
}


const std::vector<std::string> kHelmMetrics = {"exact_match", "quasi_exact_match", "prefix_exact_match", "f1_score"};

struct HelmRun {
  std::string model, benchmark, metric, split;
  double value = 0;
  std::string source;
};

HelmRun read_helm_run(const std::filesystem::path& dir, const BenchmarkOptions& options) {
  const auto spec = read_json_file(dir / "run_spec.json", "a HELM run_spec.json");
  const auto stats = read_json_file(dir / "stats.json", "a HELM stats.json (a list of stats)");
  HelmRun run;
  run.source = dir.string();
  const std::string run_name = spec.value("name", dir.filename().string());
  if (spec.contains("adapter_spec") && spec["adapter_spec"].is_object()) {
    run.model = spec["adapter_spec"].value("model", std::string());
  }
  if (run.model.empty()) run.model = model_arg(json(run_name.substr(run_name.find(':') + 1)), "model");
  if (spec.contains("groups") && spec["groups"].is_array() && !spec["groups"].empty() && spec["groups"][0].is_string()) {
    run.benchmark = spec["groups"][0].get<std::string>();
  } else {
    run.benchmark = run_name.substr(0, run_name.find(':'));
  }
  if (!stats.is_array()) throw CorruptDataError((dir / "stats.json").string() + ": expected a list of stats");
  const std::vector<std::string> metrics = options.metric.empty() ? kHelmMetrics : std::vector<std::string>{options.metric};
  for (const auto& split : {"test", "valid"}) {
    for (const auto& metric : metrics) {
      for (const auto& st : stats) {
        if (!st.is_object() || !st.contains("name") || !st["name"].is_object()) continue;
        const json& n = st["name"];
        if (n.value("name", std::string()) != metric || n.value("split", std::string()) != split) continue;
        if (n.contains("perturbation") || n.contains("sub_split") || !st.contains("mean") || !st["mean"].is_number()) continue;
        run.metric = metric;
        run.split = split;
        run.value = st["mean"].get<double>();
        return run;
      }
    }
  }
  throw CorruptDataError((dir / "stats.json").string() + ": no unperturbed " + join(metrics, " / ") +
                         " stat with a mean on the test or valid split; choose the metric with 'metric:'");
}

}  // namespace

std::vector<BenchmarkScore> read_helm(const std::filesystem::path& path, const BenchmarkOptions& options) {
  const auto runs = helm_runs(path);
  if (runs.empty()) {
    throw CorruptDataError(path.string() + ": not a HELM run directory (no run_spec.json + stats.json in it or in "
                           "its subdirectories)");
  }
  // Runs of one group (MMLU's subjects) average into one score, as HELM's tables do.
  std::map<std::pair<std::string, std::string>, std::vector<HelmRun>> groups;
  for (const auto& dir : runs) {
    auto run = read_helm_run(dir, options);
    if (!options.model.empty()) run.model = options.model;
    if (!options.tasks.empty() &&
        std::find(options.tasks.begin(), options.tasks.end(), run.benchmark) == options.tasks.end()) continue;
    groups[{run.model, run.benchmark}].push_back(std::move(run));
  }
  std::vector<BenchmarkScore> out;
  for (const auto& [key, rs] : groups) {
    double sum = 0;
    for (const auto& r : rs) sum += r.value;
    const auto& first = rs.front();
    BenchmarkScore s{key.first, key.second, 100.0 * sum / static_cast<double>(rs.size()),
                     rs.size() == 1 ? first.source : path.string() + ":" + key.second, options.checkpoint,
                     first.metric + " (" + first.split + ")",
                     rs.size() == 1 ? "run" : "mean of " + std::to_string(rs.size()) + " runs", "none"};
    io::log_info("benchmarks: " + s.source + ": " + s.benchmark + " = " + std::to_string(s.score) + " (metric " + s.metric +
             ", " + s.aggregation + ", model " + s.model + ")");
    out.push_back(std::move(s));
  }
  return out;
}

}  // namespace ibzoo::scores
