// lm-evaluation-harness results JSON (v0.3 and v0.4): scores/benchmarks.h has the rules.
#include "errors/error.h"
#include "io/csv.h"
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

// Metric names tried, in order, when neither the manifest nor the command line names one.
const std::vector<std::string> kDefaultMetrics = {"acc_norm", "acc", "exact_match", "em", "mc2", "f1"};

// A key of a results entry split into metric and filter ("acc_norm,none" -> acc_norm, none;
// v0.3's "acc_norm" -> acc_norm, ""). Stderr keys and non-numbers are not metrics.
struct MetricKey {
  std::string key;
  std::string name;
  std::string filter;
};

std::vector<MetricKey> metric_keys_of(const json& entry) {
  std::vector<MetricKey> out;
  if (!entry.is_object()) return out;
  for (const auto& [k, v] : entry.items()) {
    if (!v.is_number() || k.find("stderr") != std::string::npos || k == "alias") continue;
    const auto comma = k.find(',');
    out.push_back({k, k.substr(0, comma), comma == std::string::npos ? "" : k.substr(comma + 1)});
  }
  return out;
}

std::string keys_list(const std::vector<MetricKey>& keys) {
  std::vector<std::string> names;
  for (const auto& k : keys) names.push_back(k.key);
  return names.empty() ? "none" : join(names, ", ");
}

class LmEvalFile {
 public:
  LmEvalFile(const std::filesystem::path& path, const BenchmarkOptions& options)
      : name_(path.string()), options_(options) {
    doc_ = read_json_file(path, "an lm-evaluation-harness results file");
    if (!doc_.is_object() || !doc_.contains("results") || !doc_["results"].is_object()) {
      throw CorruptDataError(name_ + ": no \"results\" object; expected an lm-evaluation-harness results file "
                             "({\"results\": {\"task\": {\"acc,none\": ...}}})");
    }
    results_ = doc_["results"];
    // v0.4.0-0.4.2 keep group aggregates in "groups"; later versions in "results".
    if (doc_.contains("groups") && doc_["groups"].is_object()) {
      for (const auto& [g, v] : doc_["groups"].items()) {
        if (!results_.contains(g)) results_[g] = v;
      }
    }
    if (doc_.contains("group_subtasks") && doc_["group_subtasks"].is_object()) {
      for (const auto& [group, subs] : doc_["group_subtasks"].items()) {
        if (!subs.is_array()) continue;
        for (const auto& sub : subs) {
          if (!sub.is_string()) continue;
          children_[group].push_back(sub.get<std::string>());
          parent_[sub.get<std::string>()] = group;
        }
      }
    } else {
      group_v03_mmlu();
    }
    check_limit();
  }

  std::vector<BenchmarkScore> scores() const {
    const std::string model = model_id();
    const std::string checkpoint = checkpoint_id();
    std::vector<BenchmarkScore> out;
    for (const auto& task : benchmarks()) {
      auto s = score_of(task);
      s.model = model;
      s.checkpoint = checkpoint;
      s.benchmark = task;
      s.source = name_ + ":" + task;
      io::log_info("benchmarks: " + s.source + ": " + task + " = " + format_score(s.score) + " (metric " + s.metric +
               ", " + s.aggregation + ", normalisation " + s.normalisation + ")" +
               (checkpoint.empty() ? "" : ", checkpoint " + checkpoint));
      out.push_back(std::move(s));
    }
    if (out.empty()) {
      throw CorruptDataError(name_ + ": no task has a default metric (" + join(kDefaultMetrics, ", ") +
                             "); name the tasks and metric with 'tasks:' and 'metric:' (or --lm-eval-tasks / "
                             "--lm-eval-metric)");
    }
    return out;
  }

 private:
  static std::string format_score(double v) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.4g", v);
    return buf;
  }

  // v0.3 has no groups: its 57 hendrycksTest-<subject> tasks are MMLU, which the
  // Open LLM Leaderboard v1 scored as the unweighted mean over subjects.
  void group_v03_mmlu() {
    for (const auto& [task, v] : results_.items()) {
      if (task.rfind("hendrycksTest-", 0) != 0) continue;
      children_["mmlu"].push_back(task);
      parent_[task] = "mmlu";
    }
    if (children_.contains("mmlu")) unweighted_groups_.insert("mmlu");
  }

  void check_limit() const {
    if (!doc_.contains("config") || !doc_["config"].is_object()) return;
    const json& limit = doc_["config"].value("limit", json());
    if (limit.is_null() || (limit.is_number() && limit.get<double>() == 0)) return;
    if (options_.allow_limit) {
      io::log_warn("benchmarks: " + name_ + " was run with limit=" + limit.dump() +
               " (a subsample of each task); accepted because the entry sets allow_limit");
      return;
    }
    throw CorruptDataError(name_ + ": the harness ran with limit=" + limit.dump() + " (\"config\".\"limit\"): each "
                           "task's score comes from a subsample and is not the benchmark's score; rerun without "
                           "--limit, or accept it with 'allow_limit: true' in the manifest's benchmark entry");
  }

  bool is_leaf(const std::string& task) const {
    const auto it = children_.find(task);
    return it == children_.end() || it->second.empty();
  }

  std::vector<std::string> benchmarks() const {
    if (!options_.tasks.empty()) {
      for (const auto& t : options_.tasks) {
        if (!results_.contains(t) && is_leaf(t)) {
          throw CorruptDataError(name_ + ": task '" + t + "' (from 'tasks' / --lm-eval-tasks) is not in \"results\"; "
                                 "tasks there: " + join(result_tasks(), ", "));
        }
      }
      return options_.tasks;
    }
    std::set<std::string> names;
    for (const auto& t : result_tasks()) names.insert(t);
    for (const auto& [g, subs] : children_) names.insert(g);
    std::vector<std::string> out;
    for (const auto& n : names) {
      if (!parent_.contains(n)) visit(n, out);
    }
    return out;
  }

  // A group is one benchmark when every task under it is scored with the same metric
  // name (MMLU: acc everywhere); a group of mixed metrics (the leaderboard) is split.
  void visit(const std::string& node, std::vector<std::string>& out) const {
    if (is_leaf(node)) {
      if (!results_.contains(node)) return;
      if (pick_metric(node, false)) {
        out.push_back(node);
      } else {
        io::log_info("benchmarks: " + name_ + ": task '" + node + "' skipped: none of its metrics (" +
                 keys_list(metric_keys_of(results_[node])) + ") is a default (" + join(kDefaultMetrics, ", ") +
                 "); list it under 'tasks:' with a 'metric:' to use it");
      }
      return;
    }
    std::vector<std::string> leaves;
    leaves_under(node, leaves);
    std::set<std::string> metrics;
    for (const auto& leaf : leaves) {
      const auto m = results_.contains(leaf) ? pick_metric(leaf, false) : std::nullopt;
      metrics.insert(m ? m->name : "?");
    }
    if (metrics.size() == 1 && !metrics.contains("?")) {
      out.push_back(node);
      return;
    }
    for (const auto& sub : children_.at(node)) visit(sub, out);
  }

  std::vector<std::string> result_tasks() const {
    std::vector<std::string> out;
    for (const auto& [k, v] : results_.items()) out.push_back(k);
    return out;
  }

  void leaves_under(const std::string& node, std::vector<std::string>& out) const {
    if (is_leaf(node)) {
      out.push_back(node);
      return;
    }
    for (const auto& sub : children_.at(node)) leaves_under(sub, out);
  }

  struct Metric {
    std::string key;
    std::string name;
    double value = 0.0;
  };

  // The metric of a task: the per-task choice, the entry's metric, the defaults, then
  // IFEval's mean of its two strict accuracies. nullopt when none applies (and
  // `required` is false; with `required` an explicit choice that is absent throws).
  std::optional<Metric> pick_metric(const std::string& task, bool required) const {
    const json& entry = results_.contains(task) ? results_[task] : json();
    const auto keys = metric_keys_of(entry);
    std::string wanted;
    if (const auto it = options_.metric_by_task.find(task); it != options_.metric_by_task.end()) wanted = it->second;
    else wanted = options_.metric;
    if (!wanted.empty()) {
      if (auto m = find_metric(keys, entry, wanted)) return m;
      // An entry-wide metric may not exist for every task of a group's aggregate row.
      if (required || options_.metric_by_task.contains(task)) {
        throw CorruptDataError(name_ + ": task '" + task + "' has no numeric metric '" + wanted + "'" +
                               (options_.filter.empty() ? "" : " with filter '" + options_.filter + "'") +
                               " (from 'metric' / --lm-eval-metric); it has: " + keys_list(keys));
      }
      return std::nullopt;
    }
    for (const auto& name : kDefaultMetrics) {
      if (auto m = find_metric(keys, entry, name)) return m;
    }
    const auto prompt = find_metric(keys, entry, "prompt_level_strict_acc");
    const auto inst = find_metric(keys, entry, "inst_level_strict_acc");
    if (prompt && inst) return Metric{prompt->key + "+" + inst->key, "ifeval_strict_mean", (prompt->value + inst->value) / 2};
    return std::nullopt;
  }

  // `wanted` is "name" or "name,filter"; the filter is chosen as documented.
  std::optional<Metric> find_metric(const std::vector<MetricKey>& keys, const json& entry, const std::string& wanted) const {
    const auto comma = wanted.find(',');
    const std::string name = wanted.substr(0, comma);
    std::vector<std::string> filters;
    if (comma != std::string::npos) filters = {wanted.substr(comma + 1)};
    else if (!options_.filter.empty()) filters = {options_.filter, ""};
    else filters = {"none", "", "strict-match", "flexible-extract"};
    for (const auto& f : filters) {
      for (const auto& k : keys) {
        if (k.name == name && k.filter == f) return Metric{k.key, name, entry[k.key].get<double>()};
      }
    }
    if (comma != std::string::npos || !options_.filter.empty()) return std::nullopt;
    for (const auto& k : keys) {  // some other filter: the first, by name
      if (k.name == name) return Metric{k.key, name, entry[k.key].get<double>()};
    }
    return std::nullopt;
  }

  Metric raw(const std::string& task) const {
    if (!results_.contains(task)) {
      throw CorruptDataError(name_ + ": task '" + task + "' is listed in \"group_subtasks\" but has no entry in "
                             "\"results\"; rerun lm-eval for it or choose tasks with 'tasks:' / --lm-eval-tasks");
    }
    const auto m = pick_metric(task, true);
    if (!m) {
      throw CorruptDataError(name_ + ": task '" + task + "' has no default metric (" + join(kDefaultMetrics, ", ") +
                             "); it has: " + keys_list(metric_keys_of(results_[task])) + "; choose one with 'metric:' "
                             "or --lm-eval-metric " + task + "=KEY");
    }
    return *m;
  }

  // Documents per task, for a size-weighted group mean (the harness's weight_by_size).
  std::optional<double> size_of(const std::string& task) const {
    if (!doc_.contains("n-samples") || !doc_["n-samples"].contains(task)) return std::nullopt;
    const json& n = doc_["n-samples"][task];
    for (const char* k : {"effective", "original"}) {
      if (n.contains(k) && n[k].is_number()) return n[k].get<double>();
    }
    return std::nullopt;
  }

  BenchmarkScore score_of(const std::string& task) const {
    BenchmarkScore s;
    s.normalisation = options_.normalise ? "leaderboard: max(0, (raw - 1/k) / (1 - 1/k)) per subtask" : "none";
    if (is_leaf(task)) {
      const auto m = raw(task);
      s.metric = m.key;
      s.aggregation = "task";
      s.score = 100.0 * (options_.normalise ? normalised(task, m) : m.value);
      return s;
    }
    std::vector<std::string> leaves;
    leaves_under(task, leaves);
    const auto first = raw(leaves.front());
    s.metric = first.key;
    if (!options_.normalise && results_.contains(task) && !unweighted_groups_.contains(task)) {
      const auto keys = metric_keys_of(results_[task]);
      if (const auto own = find_metric(keys, results_[task], first.key)) {
        s.aggregation = "harness group entry over " + std::to_string(leaves.size()) + " subtasks";
        s.score = 100.0 * own->value;
        return s;
      }
    }
    double sum = 0, weight = 0;
    bool sized = !options_.normalise && !unweighted_groups_.contains(task);
    for (const auto& leaf : leaves) sized = sized && size_of(leaf).has_value();
    for (const auto& leaf : leaves) {
      const auto m = raw(leaf);
      const double w = sized ? *size_of(leaf) : 1.0;
      sum += w * (options_.normalise ? normalised(leaf, m) : m.value);
      weight += w;
    }
    s.aggregation = (sized ? "size-weighted mean of " : "unweighted mean of ") + std::to_string(leaves.size()) +
                    " subtasks";
    s.score = 100.0 * sum / weight;
    return s;
  }

  double normalised(const std::string& task, const Metric& m) const {
    // Generative metrics (exact match, instruction following) have a random baseline of 0.
    const bool multiple_choice = m.name.rfind("acc", 0) == 0;
    const double b = multiple_choice ? baseline(task) : 0.0;
    return std::max(0.0, (m.value - b) / (1.0 - b));
  }

  double baseline(const std::string& task) const {
    for (std::string t = task;;) {
      if (const auto it = options_.baseline_by_task.find(t); it != options_.baseline_by_task.end()) return it->second;
      const auto p = parent_.find(t);
      if (p == parent_.end()) break;
      t = p->second;
    }
    if (const auto n = n_choices(task)) return 1.0 / static_cast<double>(*n);
    throw CorruptDataError(name_ + ": cannot normalise multiple-choice task '" + task +
                           "': its config lists no choices (\"configs\"." + task +
                           ".doc_to_choice); give its random baseline with --baseline " + task + "=FRACTION");
  }

  std::optional<std::size_t> n_choices(const std::string& task) const {
    if (!doc_.contains("configs") || !doc_["configs"].contains(task)) return std::nullopt;
    const json& cfg = doc_["configs"][task];
    if (!cfg.contains("doc_to_choice")) return std::nullopt;
    const json& c = cfg["doc_to_choice"];
    if (c.is_array() && !c.empty()) return c.size();
    // Python list literals written as strings, e.g. "['(A)', '(B)', '(C)', '(D)']".
    if (c.is_string()) {
      const auto str = c.get<std::string>();
      if (str.size() >= 2 && str.front() == '[' && str.back() == ']' && str.find('{') == std::string::npos) {
        return static_cast<std::size_t>(std::count(str.begin(), str.end(), ',')) + 1;
      }
    }
    return std::nullopt;
  }

  json model_args() const {
    if (doc_.contains("config") && doc_["config"].is_object() && doc_["config"].contains("model_args")) {
      return doc_["config"]["model_args"];
    }
    return json();
  }

  std::string model_id() const {
    if (!options_.model.empty()) return options_.model;
    if (doc_.contains("model_name") && doc_["model_name"].is_string() && !doc_["model_name"].get<std::string>().empty()) {
      return doc_["model_name"].get<std::string>();
    }
    if (const auto p = model_arg(model_args(), "pretrained"); !p.empty()) return p;
    throw CorruptDataError(name_ + ": cannot tell which model was evaluated (no \"model_name\" and no "
                           "\"config\".\"model_args\" with pretrained=...); give it with 'model:' in the manifest "
                           "entry or --lm-eval-model ID");
  }

  std::string checkpoint_id() const {
    if (!options_.checkpoint.empty()) return options_.checkpoint;
    return model_arg(model_args(), "revision");
  }

  std::string name_;
  const BenchmarkOptions& options_;
  json doc_;
  json results_;
  std::map<std::string, std::vector<std::string>> children_;
  std::map<std::string, std::string> parent_;
  std::set<std::string> unweighted_groups_;
};

}  // namespace

std::vector<BenchmarkScore> read_lm_eval_json(const std::filesystem::path& path, const BenchmarkOptions& options) {
  return LmEvalFile(path, options).scores();
}

}  // namespace ibzoo::scores
