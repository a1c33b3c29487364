// Benchmark ingestion: turns lm-eval JSON, leaderboard CSV and long CSV into one
// list of scores, and joins them to the metrics table's models (before regress).
#include "io/benchmarks.h"

#include "analysis/error.h"
#include "io/csv.h"
#include "io/fs.h"
#include "io/log.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
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

// ---- lm-evaluation-harness ----

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
    if (doc_.contains("group_subtasks") && doc_["group_subtasks"].is_object()) {
      for (const auto& [group, subs] : doc_["group_subtasks"].items()) {
        if (!subs.is_array()) continue;
        for (const auto& s : subs) {
          if (!s.is_string()) continue;
          children_[group].push_back(s.get<std::string>());
          parent_[s.get<std::string>()] = group;
        }
      }
    }
  }

  std::vector<BenchmarkScore> scores() const {
    const std::string model = model_id();
    std::vector<BenchmarkScore> out;
    for (const auto& task : benchmarks()) {
      out.push_back({model, task, 100.0 * score_of(task), name_ + ":" + task});
    }
    return out;
  }

 private:
  bool is_leaf(const std::string& task) const {
    const auto it = children_.find(task);
    return it == children_.end() || it->second.empty();
  }

  std::vector<std::string> benchmarks() const {
    if (!options_.tasks.empty()) {
      for (const auto& t : options_.tasks) {
        if (!doc_["results"].contains(t) && is_leaf(t)) {
          throw CorruptDataError(name_ + ": task '" + t + "' (from --lm-eval-tasks) is not in \"results\"; tasks there: " +
                                 join(result_tasks(), ", "));
        }
      }
      return options_.tasks;
    }
    const auto tasks = result_tasks();
    std::set<std::string> names(tasks.begin(), tasks.end());
    for (const auto& [g, subs] : children_) names.insert(g);
    std::vector<std::string> out;
    for (const auto& n : names) {
      if (!parent_.contains(n)) visit(n, out);
    }
    return out;
  }

  void visit(const std::string& node, std::vector<std::string>& out) const {
    if (is_leaf(node)) {
      if (doc_["results"].contains(node)) out.push_back(node);
      return;
    }
    const auto& subs = children_.at(node);
    if (std::all_of(subs.begin(), subs.end(), [&](const auto& s) { return is_leaf(s); })) {
      out.push_back(node);
      return;
    }
    for (const auto& s : subs) visit(s, out);
  }

  std::vector<std::string> result_tasks() const {
    std::vector<std::string> out;
    for (const auto& [k, v] : doc_["results"].items()) out.push_back(k);
    return out;
  }

  void leaves_under(const std::string& node, std::vector<std::string>& out) const {
    if (is_leaf(node)) {
      out.push_back(node);
      return;
    }
    for (const auto& s : children_.at(node)) leaves_under(s, out);
  }

  // Score of a benchmark as a fraction (0-1 for accuracy-like metrics).
  double score_of(const std::string& task) const {
    if (is_leaf(task)) return options_.normalise ? normalised(task) : raw(task).value;
    std::vector<std::string> leaves;
    leaves_under(task, leaves);
    if (!options_.normalise && doc_["results"].contains(task)) {
      if (const auto own = try_raw(task)) return own->value;
    }
    double sum = 0;
    for (const auto& leaf : leaves) sum += options_.normalise ? normalised(leaf) : raw(leaf).value;
    return sum / static_cast<double>(leaves.size());
  }

  struct Metric {
    std::string key;
    double value = 0.0;
  };

  static std::optional<double> number_at(const json& entry, const std::string& key) {
    if (!entry.contains(key) || !entry[key].is_number()) return std::nullopt;
    return entry[key].get<double>();
  }

  std::optional<Metric> try_raw(const std::string& task) const {
    if (!doc_["results"].contains(task) || !doc_["results"][task].is_object()) return std::nullopt;
    const json& entry = doc_["results"][task];
    if (const auto it = options_.metric_by_task.find(task); it != options_.metric_by_task.end()) {
      const auto v = number_at(entry, it->second);
      if (!v) {
        throw CorruptDataError(name_ + ": task '" + task + "' has no numeric metric '" + it->second +
                               "' (from --lm-eval-metric); it has: " + join(metric_keys(entry), ", "));
      }
      return Metric{it->second, *v};
    }
    for (const char* key : {"acc_norm,none", "acc,none", "exact_match,none"}) {
      if (const auto v = number_at(entry, key)) return Metric{key, *v};
    }
    const auto prompt = number_at(entry, "prompt_level_strict_acc,none");
    const auto inst = number_at(entry, "inst_level_strict_acc,none");
    if (prompt && inst) return Metric{"ifeval_strict_mean", (*prompt + *inst) / 2.0};
    const auto keys = metric_keys(entry);
    if (!keys.empty()) return Metric{keys.front(), entry[keys.front()].get<double>()};
    return std::nullopt;
  }

  Metric raw(const std::string& task) const {
    if (!doc_["results"].contains(task)) {
      throw CorruptDataError(name_ + ": task '" + task + "' is listed in \"group_subtasks\" but has no entry in "
                             "\"results\"; rerun lm-eval for it or pass --lm-eval-tasks");
    }
    const auto m = try_raw(task);
    if (!m) {
      throw CorruptDataError(name_ + ": task '" + task + "' has no numeric metric in \"results\"; choose one with "
                             "--lm-eval-metric " + task + "=KEY");
    }
    return *m;
  }

  static std::vector<std::string> metric_keys(const json& entry) {
    std::vector<std::string> keys;
    for (const auto& [k, v] : entry.items()) {
      if (v.is_number() && k.find(',') != std::string::npos && k.find("stderr") == std::string::npos) keys.push_back(k);
    }
    return keys;
  }

  double normalised(const std::string& task) const {
    const auto m = raw(task);
    // Generative metrics (exact match, instruction following) have a random baseline of 0.
    const bool multiple_choice = m.key.rfind("acc", 0) == 0;
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
      const auto s = c.get<std::string>();
      if (s.size() >= 2 && s.front() == '[' && s.back() == ']' && s.find('{') == std::string::npos) {
        return static_cast<std::size_t>(std::count(s.begin(), s.end(), ',')) + 1;
      }
    }
    return std::nullopt;
  }

  std::string model_id() const {
    if (!options_.model.empty()) return options_.model;
    if (doc_.contains("model_name") && doc_["model_name"].is_string() && !doc_["model_name"].get<std::string>().empty()) {
      return doc_["model_name"].get<std::string>();
    }
    if (doc_.contains("config") && doc_["config"].contains("model_args")) {
      const json& args = doc_["config"]["model_args"];
      if (args.is_object() && args.contains("pretrained") && args["pretrained"].is_string()) {
        return args["pretrained"].get<std::string>();
      }
      if (args.is_string()) {
        const auto s = args.get<std::string>();
        const auto at = s.find("pretrained=");
        if (at != std::string::npos) {
          const auto start = at + 11;
          return s.substr(start, s.find(',', start) - start);
        }
      }
    }
    throw CorruptDataError(name_ + ": cannot tell which model was evaluated (no \"model_name\" and no "
                           "\"config\".\"model_args\" with pretrained=...); give it with --lm-eval-model ID");
  }

  std::string name_;
  const BenchmarkOptions& options_;
  json doc_;
  std::map<std::string, std::vector<std::string>> children_;
  std::map<std::string, std::string> parent_;
};

// ---- leaderboard ----

const std::vector<std::string> kLeaderboardBenchmarks = {"IFEval", "BBH", "MATH Lvl 5", "GPQA", "MUSR", "MMLU-PRO"};

}  // namespace

std::vector<BenchmarkScore> read_lm_eval_json(const std::filesystem::path& path, const BenchmarkOptions& options) {
  return LmEvalFile(path, options).scores();
}

std::vector<BenchmarkScore> read_leaderboard_csv(const std::filesystem::path& path, const BenchmarkOptions& options) {
  const auto table = read_csv(path);
  const auto model_col = table.column("fullname");
  if (!model_col) {
    throw CorruptDataError(path.string() + ":1: no 'fullname' column; expected an Open LLM Leaderboard v2 export "
                           "(columns fullname, IFEval Raw, IFEval, BBH Raw, BBH, ...)");
  }
  std::vector<std::pair<std::string, std::size_t>> columns;  // benchmark -> column
  for (const auto& b : kLeaderboardBenchmarks) {
    const auto col = table.column(options.normalise ? b : b + " Raw");
    if (col) columns.emplace_back(b, *col);
  }
  if (columns.empty()) {
    throw CorruptDataError(path.string() + ":1: none of the leaderboard benchmark columns (" +
                           join(kLeaderboardBenchmarks, options.normalise ? ", " : " Raw, ") +
                           (options.normalise ? "" : " Raw") + ") is present; columns found: " + join(table.header, ", "));
  }
  // The normalised columns are already in percent; the raw ones are fractions.
  const double scale = options.normalise ? 1.0 : 100.0;
  std::vector<BenchmarkScore> out;
  for (std::size_t i = 0; i < table.rows.size(); ++i) {
    const auto& row = table.rows[i];
    for (const auto& [bench, col] : columns) {
      const auto v = parse_score(row[col], table.where(i), table.header[col]);
      if (v) out.push_back({row[*model_col], bench, scale * *v, table.where(i)});
    }
  }
  return out;
}

std::vector<BenchmarkScore> read_long_csv(const std::filesystem::path& path) {
  const auto table = read_csv(path);
  const auto m = table.column("model"), b = table.column("benchmark"), s = table.column("score");
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
    if (v) out.push_back({row[*m], row[*b], *v, table.where(i)});
  }
  return out;
}

std::vector<BenchmarkScore> read_benchmarks(const std::filesystem::path& path, const BenchmarkOptions& options) {
  if (path.extension() == ".json") return read_lm_eval_json(path, options);
  const auto table = read_csv(path);
  if (table.column("fullname")) return read_leaderboard_csv(path, options);
  if (table.column("model") && table.column("benchmark") && table.column("score")) return read_long_csv(path);
  throw CorruptDataError(path.string() + ":1: unknown benchmark file format; expected an lm-eval results .json, an "
                         "Open LLM Leaderboard CSV (with 'fullname') or a long CSV (model,benchmark,score); columns "
                         "found: " + join(table.header, ", "));
}

std::size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<std::size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t sub = prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1);
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, sub});
    }
    std::swap(prev, cur);
  }
  return prev[b.size()];
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

}  // namespace

BenchmarkTable join_scores(const std::vector<BenchmarkScore>& scores, const std::vector<std::string>& model_ids,
                           bool ignore_unknown_models) {
  BenchmarkTable table;
  table.models = model_ids;
  std::set<std::string> benchmarks;
  for (const auto& s : scores) benchmarks.insert(s.benchmark);
  table.benchmarks.assign(benchmarks.begin(), benchmarks.end());
  table.scores.assign(model_ids.size(), std::vector<double>(table.benchmarks.size(), kNaN));
  std::vector<std::vector<std::string>> sources(model_ids.size(), std::vector<std::string>(table.benchmarks.size()));
  std::map<std::string, std::string> unmatched;  // name -> first source
  for (const auto& s : scores) {
    const auto idx = match_model(s.model, model_ids);
    if (!idx) {
      unmatched.emplace(s.model, s.source);
      continue;
    }
    const auto b = static_cast<std::size_t>(
        std::lower_bound(table.benchmarks.begin(), table.benchmarks.end(), s.benchmark) - table.benchmarks.begin());
    double& cell = table.scores[*idx][b];
    if (!std::isnan(cell) && std::abs(cell - s.score) > 1e-9 * std::max(1.0, std::abs(cell))) {
      throw CorruptDataError("conflicting scores for model '" + model_ids[*idx] + "', benchmark '" + s.benchmark +
                             "': " + std::to_string(cell) + " (" + sources[*idx][b] + ") and " +
                             std::to_string(s.score) + " (" + s.source + "); keep one of them");
    }
    cell = s.score;
    sources[*idx][b] = s.source;
  }
  if (!unmatched.empty()) {
    const auto message = describe_unmatched(unmatched, model_ids);
    if (!ignore_unknown_models) {
      throw CorruptDataError(message + ". A score's model must equal a model id or end in '/<id>'; fix the names or "
                             "pass --ignore-unknown-models");
    }
    log_warn(message + " (ignored)");
    for (const auto& [name, source] : unmatched) table.ignored_score_models.push_back(name);
  }
  for (std::size_t i = 0; i < model_ids.size(); ++i) {
    const auto& row = table.scores[i];
    if (std::all_of(row.begin(), row.end(), [](double v) { return std::isnan(v); })) {
      table.models_without_scores.push_back(model_ids[i]);
    }
  }
  if (!table.models_without_scores.empty()) {
    log_warn(std::to_string(table.models_without_scores.size()) + " model(s) have no benchmark score and are dropped "
             "from the correlations: " + join(table.models_without_scores, ", "));
  }
  return table;
}

}  // namespace ibzoo::io
