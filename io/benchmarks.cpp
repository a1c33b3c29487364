// Benchmark ingestion: turns every supported score file into one list of scores (with
// the choices that made each), and joins them to the metrics table's (model,
// checkpoint) rows before regress.
#include "io/benchmarks.h"
#include "io/text.h"

#include "errors/error.h"
#include "io/csv.h"
#include "io/fs.h"
#include "hf/hub.h"
#include "io/log.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <optional>
#include <set>
#include <sstream>

namespace ibzoo::io {

namespace {

using nlohmann::json;

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

std::string join(const std::vector<std::string>& items, const std::string& sep) {
  std::string out;
  for (std::size_t i = 0; i < items.size(); ++i) out += (i ? sep : "") + items[i];
  return out;
}

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

// ---- lm-evaluation-harness (v0.3 and v0.4) ----

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

// "pretrained=org/m,revision=step1000,dtype=float" or {"pretrained": ..., "revision": ...}.
std::string model_arg(const json& args, const std::string& key) {
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

class LmEvalFile {
 public:
  LmEvalFile(const std::filesystem::path& path, const BenchmarkOptions& options)
      : name_(path.string()), options_(options) {
    const auto text = read_file(path, std::uintmax_t{1} << 28);
    try {
      doc_ = json::parse(text);
    } catch (const json::parse_error& e) {
      throw CorruptDataError(name_ + ": not valid JSON (" + e.what() + "); expected an lm-evaluation-harness results file");
    }
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
      log_info("benchmarks: " + s.source + ": " + task + " = " + format_score(s.score) + " (metric " + s.metric +
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
      log_warn("benchmarks: " + name_ + " was run with limit=" + limit.dump() +
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
        log_info("benchmarks: " + name_ + ": task '" + node + "' skipped: none of its metrics (" +
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

// ---- Open LLM Leaderboard exports ----

const std::vector<std::string> kLeaderboardBenchmarks = {"IFEval", "BBH", "MATH Lvl 5", "GPQA", "MUSR", "MMLU-PRO"};
const std::vector<std::string> kLeaderboardV1Benchmarks = {"ARC", "HellaSwag", "MMLU", "TruthfulQA", "Winogrande",
                                                           "GSM8K"};

std::optional<std::size_t> leaderboard_model_column(const CsvTable& t) {
  for (const char* name : {"fullname", "model_name_for_query", "eval_name"}) {
    if (const auto c = t.column(name)) return c;
  }
  return std::nullopt;
}

// Rows naming one model twice (several precisions, revisions or submissions): which one counts.
std::vector<std::size_t> deduplicate(const CsvTable& t, std::size_t model_col, const BenchmarkOptions& options) {
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
    log_warn("benchmarks: " + t.source + ": model '" + model + "' has " + std::to_string(rows.size()) + " rows (" +
             join(where, ", ") + "); kept " + t.where(pick) + " (policy '" + options.duplicates + "': " + why + ")");
    keep.push_back(pick);
  }
  std::sort(keep.begin(), keep.end());
  return keep;
}

std::vector<BenchmarkScore> read_leaderboard_table(const CsvTable& table, const BenchmarkOptions& options, bool v1) {
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
  log_info("benchmarks: " + table.source + ": " + std::to_string(out.size()) + " scores from the Open LLM Leaderboard " +
           (v1 ? "v1" : "v2") + " export (" + normalisation + ")");
  return out;
}

// ---- HELM ----

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

json read_json_file(const std::filesystem::path& path, const std::string& what) {
  try {
    return json::parse(read_file(path, std::uintmax_t{1} << 28));
  } catch (const json::parse_error& e) {
    throw CorruptDataError(path.string() + ": not valid JSON (" + e.what() + "); expected " + what);
  }
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

// ---- Every Eval Ever ----

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
      log_info("benchmarks: " + where + ": '" + bench + "' skipped: lower is better (metric_config.lower_is_better)");
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
    log_info("benchmarks: " + where + ": " + bench + " = " + std::to_string(v) + " (" + normalisation + ")");
  }
  return out;
}

}  // namespace

std::vector<BenchmarkScore> read_lm_eval_json(const std::filesystem::path& path, const BenchmarkOptions& options) {
  return LmEvalFile(path, options).scores();
}

std::vector<BenchmarkScore> read_leaderboard_csv(const std::filesystem::path& path, const BenchmarkOptions& options) {
  const auto table = read_csv(path);
  const bool v1 = options.format == "leaderboard-v1" ||
                  (options.format.empty() && !table.column("IFEval") && !table.column("IFEval Raw") && table.column("ARC"));
  return read_leaderboard_table(table, options, v1);
}

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
    log_info("benchmarks: " + s.source + ": " + s.benchmark + " = " + std::to_string(s.score) + " (metric " + s.metric +
             ", " + s.aggregation + ", model " + s.model + ")");
    out.push_back(std::move(s));
  }
  return out;
}

std::vector<BenchmarkScore> read_every_eval_ever(const std::filesystem::path& path, const BenchmarkOptions& options) {
  return read_eee_doc(read_json_file(path, "an Every Eval Ever record"), path.string(), options);
}

std::vector<BenchmarkScore> read_long_csv(const std::filesystem::path& path) {
  const auto table = read_csv(path);
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
    const auto doc = json::parse(read_file(path, std::uintmax_t{1} << 28), nullptr, false);
    if (doc.is_object() && doc.contains("evaluation_results")) return "every-eval-ever";
    return "lm-eval";
  }
  const auto table = read_csv(path);
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
  log_info("benchmarks: " + path.string() + ": format " + format + (options.format.empty() ? " (detected)" : " (given)"));
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

namespace {

std::string nearest_ids(const std::string& name, const std::vector<std::string>& ids) {
  std::vector<std::pair<std::size_t, std::string>> ranked;
  for (const auto& id : ids) ranked.emplace_back(edit_distance(basename_of(name), id), id);
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
  if (const auto info = parse_revision_name(named); info.step) {
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
      log_info("benchmarks: " + s.source + ": " + s.benchmark + " of '" + use.model + "' at checkpoint '" +
               s.checkpoint + "' not used: " + use.status);
      table.uses.push_back(std::move(use));
      continue;
    }
    use.checkpoint = *ckpt;
    if (!how.empty()) log_info("benchmarks: " + s.source + ": " + s.benchmark + how);
    const auto row = static_cast<std::size_t>(obs - observations.begin());
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
    table.uses.push_back(std::move(use));
  }
  if (!unmatched.empty()) {
    const auto message = describe_unmatched(unmatched, ids);
    if (!options.ignore_unknown_models) {
      throw CorruptDataError(message + ". A score's model must equal a model id or end in '/<id>' (or be mapped by "
                             "'aliases'); fix the names or pass --ignore-unknown-models");
    }
    log_warn(message + " (ignored)");
    for (const auto& [name, source] : unmatched) table.ignored_score_models.push_back(name);
  }
  for (std::size_t i = 0; i < observations.size(); ++i) {
    const auto& row = table.scores[i];
    if (std::all_of(row.begin(), row.end(), [](double v) { return std::isnan(v); })) {
      const auto& o = observations[i];
      table.models_without_scores.push_back(o.checkpoint.empty() ? o.model : o.model + "@" + o.checkpoint);
    }
  }
  if (!table.models_without_scores.empty()) {
    log_warn(std::to_string(table.models_without_scores.size()) + " observation(s) have no benchmark score and are "
             "dropped from the correlations: " + join(table.models_without_scores, ", "));
  }
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
  write_csv(path, {"model", "checkpoint", "benchmark", "score", "metric", "aggregation", "normalisation", "file_model",
                   "file_checkpoint", "source", "status"},
            rows);
}

}  // namespace ibzoo::io
