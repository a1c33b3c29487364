// Scores joined to the (model, checkpoint) rows of a metrics table; scores.csv.
#include "errors/error.h"
#include "hf/hub.h"
#include "io/csv.h"
#include "io/fs.h"
#include "io/text.h"
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

std::string nearest_ids(const std::string& name, const std::vector<std::string>& ids) {
  std::vector<std::pair<std::size_t, std::string>> ranked;
  for (const auto& id : ids) ranked.emplace_back(io::edit_distance(basename_of(name), id), id);
  std::sort(ranked.begin(), ranked.end());
  std::vector<std::string> best;
  for (std::size_t i = 0; i < ranked.size() && i < 3; ++i) best.push_back(ranked[i].second);
  return join(best, ", ");
}

// Index of the model id a score's model names, or nullopt.
std::optional<std::size_t> match_model(const std::string& name, const std::vector<std::string>& ids) {
  std::vector<std::size_t> by_base;
  for (std::size_t i = 0; i < ids.size(); ++i) {
    if (ids[i] == name) return i;
  }
  for (std::size_t i = 0; i < ids.size(); ++i) {
    if (basename_of(ids[i]) == basename_of(name)) by_base.push_back(i);
  }
  if (by_base.size() == 1) return by_base.front();
  return std::nullopt;
}

std::string describe_unmatched(const std::map<std::string, std::string>& unmatched, const std::vector<std::string>& ids) {
  std::ostringstream os;
  os << "benchmark scores name " << unmatched.size() << " model(s) that are not in the metrics table: ";
  std::size_t shown = 0;
  for (const auto& [name, source] : unmatched) {
    if (shown++ == 20) {
      os << "; ... and " << unmatched.size() - 20 << " more";
      break;
    }
    os << (shown > 1 ? "; " : "") << "'" << name << "' (from " << source << "; nearest ids: " << nearest_ids(name, ids)
       << ")";
  }
  return os.str();
}

// The checkpoint of `model` a score naming `named` belongs to; "" with `why` set when none.
std::optional<std::string> match_checkpoint(const std::string& model, const std::string& named,
                                            const JoinOptions& options, std::string& how) {
  const auto it = options.checkpoints.find(model);
  if (it == options.checkpoints.end() || it->second.empty()) {
    how = named.empty() ? "" : " (the file's checkpoint '" + named + "' ignored: the model has no checkpoint list)";
    return std::string();
  }
  const auto& list = it->second;
  if (named.empty()) return list.back().first;
  for (const auto& [name, step] : list) {
    if (name == named) return name;
  }
  if (const auto info = hf::parse_revision_name(named); info.step) {
    for (const auto& [name, step] : list) {
      if (step == *info.step) {
        how = " (checkpoint '" + named + "' matched by its step " + std::to_string(step) + ")";
        return name;
      }
    }
  }
  if (list.size() == 1) {
    how = " (the file's checkpoint '" + named + "' taken as the model's only checkpoint '" + list.front().first + "')";
    return list.front().first;
  }
  return std::nullopt;
}

// One score into its cell of the table; CorruptDataError when the cell already holds
// another value.
void set_cell(BenchmarkTable& table, std::vector<std::vector<std::string>>& sources, std::size_t row,
              const BenchmarkScore& s, const ScoreUse& use) {
  const auto b = static_cast<std::size_t>(
      std::lower_bound(table.benchmarks.begin(), table.benchmarks.end(), s.benchmark) - table.benchmarks.begin());
  double& cell = table.scores[row][b];
  if (!std::isnan(cell) && std::abs(cell - s.score) > 1e-9 * std::max(1.0, std::abs(cell))) {
    throw CorruptDataError("conflicting scores for model '" + use.model + "'" +
                           (use.checkpoint.empty() ? "" : " at checkpoint '" + use.checkpoint + "'") +
                           ", benchmark '" + s.benchmark + "': " + std::to_string(cell) + " (" + sources[row][b] +
                           ") and " + std::to_string(s.score) + " (" + s.source + "); keep one of them");
  }
  cell = s.score;
  sources[row][b] = s.source;
}

// Scores of models the metrics do not have: an error, or (ignore_unknown_models) a warning.
void report_unmatched(BenchmarkTable& table, const std::map<std::string, std::string>& unmatched,
                      const std::vector<std::string>& ids, const JoinOptions& options) {
  const auto message = describe_unmatched(unmatched, ids);
  if (!options.ignore_unknown_models) {
    throw CorruptDataError(message + ". A score's model must equal a model id or end in '/<id>' (or be mapped by "
                           "'aliases'); fix the names or pass --ignore-unknown-models");
  }
  io::log_warn(message + " (ignored)");
  for (const auto& [name, source] : unmatched) table.ignored_score_models.push_back(name);
}

// The observations without any score, which the correlations drop.
void note_unscored(BenchmarkTable& table) {
  for (std::size_t i = 0; i < table.observations.size(); ++i) {
    const auto& row = table.scores[i];
    if (std::all_of(row.begin(), row.end(), [](double v) { return std::isnan(v); })) {
      const auto& o = table.observations[i];
      table.models_without_scores.push_back(o.checkpoint.empty() ? o.model : o.model + "@" + o.checkpoint);
    }
  }
  if (!table.models_without_scores.empty()) {
    io::log_warn(std::to_string(table.models_without_scores.size()) + " observation(s) have no benchmark score and are "
             "dropped from the correlations: " + join(table.models_without_scores, ", "));
  }
}

}  // namespace

BenchmarkTable join_scores(const std::vector<BenchmarkScore>& scores, const std::vector<Observation>& observations,
                           const JoinOptions& options) {
  BenchmarkTable table;
  table.observations = observations;
  std::vector<std::string> ids;  // distinct model ids, for matching
  for (const auto& o : observations) {
    table.models.push_back(o.model);
    if (std::find(ids.begin(), ids.end(), o.model) == ids.end()) ids.push_back(o.model);
  }
  std::set<std::string> benchmarks;
  for (const auto& s : scores) benchmarks.insert(s.benchmark);
  table.benchmarks.assign(benchmarks.begin(), benchmarks.end());
  table.scores.assign(observations.size(), std::vector<double>(table.benchmarks.size(), kNaN));
  std::vector<std::vector<std::string>> sources(observations.size(), std::vector<std::string>(table.benchmarks.size()));
  std::map<std::string, std::string> unmatched;  // name -> first source
  for (const auto& s : scores) {
    ScoreUse use{s, "", "", "used"};
    const auto alias = options.aliases.find(s.model);
    const std::string name = alias == options.aliases.end() ? s.model : alias->second;
    const auto idx = match_model(name, ids);
    if (!idx) {
      unmatched.emplace(s.model, s.source);
      use.status = "unknown model";
      table.uses.push_back(std::move(use));
      continue;
    }
    use.model = ids[*idx];
    std::string how;
    const auto ckpt = match_checkpoint(use.model, s.checkpoint, options, how);
    const auto obs = ckpt ? std::find(observations.begin(), observations.end(), Observation{use.model, *ckpt})
                          : observations.end();
    if (obs == observations.end()) {
      use.checkpoint = ckpt.value_or("");
      use.status = ckpt ? "checkpoint not analysed (regress uses each model's final checkpoint)"
                        : "checkpoint not in the metrics";
      io::log_info("benchmarks: " + s.source + ": " + s.benchmark + " of '" + use.model + "' at checkpoint '" +
               s.checkpoint + "' not used: " + use.status);
      table.uses.push_back(std::move(use));
      continue;
    }
    use.checkpoint = *ckpt;
    if (!how.empty()) io::log_info("benchmarks: " + s.source + ": " + s.benchmark + how);
    set_cell(table, sources, static_cast<std::size_t>(obs - observations.begin()), s, use);
    table.uses.push_back(std::move(use));
  }
  if (!unmatched.empty()) report_unmatched(table, unmatched, ids, options);
  note_unscored(table);
  return table;
}

BenchmarkTable join_scores(const std::vector<BenchmarkScore>& scores, const std::vector<std::string>& model_ids,
                           bool ignore_unknown_models) {
  std::vector<Observation> observations;
  for (const auto& id : model_ids) observations.push_back({id, ""});
  JoinOptions options;
  options.ignore_unknown_models = ignore_unknown_models;
  return join_scores(scores, observations, options);
}

void write_scores_csv(const std::filesystem::path& path, const BenchmarkTable& table) {
  std::vector<std::vector<std::string>> rows;
  for (const auto& u : table.uses) {
    char buf[40];
    std::snprintf(buf, sizeof buf, "%.17g", u.score.score);
    rows.push_back({u.model, u.checkpoint, u.score.benchmark, buf, u.score.metric, u.score.aggregation,
                    u.score.normalisation, u.score.model, u.score.checkpoint, u.score.source, u.status});
  }
  io::write_csv(path, {"model", "checkpoint", "benchmark", "score", "metric", "aggregation", "normalisation", "file_model",
                   "file_checkpoint", "source", "status"},
            rows);
}

}  // namespace ibzoo::scores
