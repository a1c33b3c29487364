// Every Eval Ever records.
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

std::vector<BenchmarkScore> read_eee_doc(const json& doc, const std::string& name, const BenchmarkOptions& options) {
  if (!doc.is_object() || !doc.contains("evaluation_results") || !doc["evaluation_results"].is_array() ||
      !doc.contains("model_info") || !doc["model_info"].is_object()) {
    throw CorruptDataError(name + ": not an Every Eval Ever record (expected \"model_info\" and an "
                           "\"evaluation_results\" list, eval.schema.json)");
  }
  const json& info = doc["model_info"];
  std::string model = options.model.empty() ? info.value("id", info.value("name", std::string())) : options.model;
  if (model.empty()) throw CorruptDataError(name + ": \"model_info\" has no \"id\"; give the model with 'model:'");
  std::string checkpoint = options.checkpoint;
  if (checkpoint.empty() && info.contains("additional_details") && info["additional_details"].is_object()) {
    checkpoint = info["additional_details"].value("revision", std::string());
  }
  std::vector<BenchmarkScore> out;
  for (std::size_t i = 0; i < doc["evaluation_results"].size(); ++i) {
    const json& r = doc["evaluation_results"][i];
    const std::string bench = r.value("evaluation_name", std::string());
    const std::string where = name + ":evaluation_results[" + std::to_string(i) + "]";
    if (bench.empty() || !r.contains("score_details") || !r["score_details"].contains("score") ||
        !r["score_details"]["score"].is_number()) {
      throw CorruptDataError(where + ": needs \"evaluation_name\" and a numeric \"score_details\".\"score\"");
    }
    if (!options.tasks.empty() && std::find(options.tasks.begin(), options.tasks.end(), bench) == options.tasks.end()) continue;
    const json cfg = r.value("metric_config", json::object());
    if (cfg.value("lower_is_better", false)) {
      io::log_info("benchmarks: " + where + ": '" + bench + "' skipped: lower is better (metric_config.lower_is_better)");
      continue;
    }
    double v = r["score_details"]["score"].get<double>();
    std::string normalisation = "none (as recorded)";
    if (cfg.contains("min_score") && cfg.contains("max_score") && cfg["min_score"].is_number() &&
        cfg["max_score"].is_number() && cfg["max_score"].get<double>() > cfg["min_score"].get<double>()) {
      const double lo = cfg["min_score"].get<double>(), hi = cfg["max_score"].get<double>();
      v = 100.0 * (v - lo) / (hi - lo);
      normalisation = "100 x (score - min_score) / (max_score - min_score)";
    }
    const std::string metric = cfg.value("evaluation_description", std::string("score"));
    out.push_back({model, bench, v, where, checkpoint, metric, "as recorded", normalisation});
    io::log_info("benchmarks: " + where + ": " + bench + " = " + std::to_string(v) + " (" + normalisation + ")");
  }
  return out;
}

}  // namespace

std::vector<BenchmarkScore> read_every_eval_ever(const std::filesystem::path& path, const BenchmarkOptions& options) {
  return read_eee_doc(read_json_file(path, "an Every Eval Ever record"), path.string(), options);
}

}  // namespace ibzoo::scores
