// Regress stage: metrics table + benchmark scores -> correlations and cross-validated
// regressions across model families. Follows reduce (metrics.csv); the report reads its outputs.
#include "stages/regress.h"

#include "errors/error.h"
#include "analysis/regression.h"
#include "analysis/stats.h"
#include "io/csv.h"
#include "io/log.h"
#include "io/metrics_csv.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <set>

namespace ibzoo::stages {

namespace {

using analysis::kNaN;

struct PredictorSpec {
  const char* name;
  const char* metric;
  const char* label_set;
};

// The headline model-level predictors: rows with layer "mean" of the chosen checkpoint.
constexpr PredictorSpec kPredictors[] = {{"optimality", "optimality", ""},
                                         {"complexity", "mutual_information", "in1"},
                                         {"expressivity", "mutual_information", "out1"},
                                         {"preference", "mutual_information", "pref"}};

std::string join(const std::vector<std::string>& items, const std::string& sep) {
  std::string out;
  for (std::size_t i = 0; i < items.size(); ++i) out += (i ? sep : "") + items[i];
  return out;
}

bool contains(const std::vector<std::string>& v, const std::string& s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

void validate(const RegressJob& job) {
  for (const auto& p : job.predictors) {
    const bool known = std::any_of(std::begin(kPredictors), std::end(kPredictors), [&](const auto& k) { return p == k.name; });
    if (!known) throw UsageError("--predictors: unknown predictor '" + p + "'; choose from optimality, complexity, expressivity, preference");
  }
  for (const auto& c : job.controls) {
    if (c != "log_params" && c != "family") throw UsageError("--controls: unknown control '" + c + "'; choose from log_params, family");
  }
  if (job.cv != "leave-one-family-out" && job.cv != "none") {
    throw UsageError("--cv: unknown scheme '" + job.cv + "'; choose leave-one-family-out or none");
  }
  if (job.predictors.empty()) throw UsageError("--predictors: give at least one predictor");
  if (job.paths_benchmarks.empty() && job.benchmark_entries.empty()) {
    throw UsageError("--benchmarks: give at least one benchmark file");
  }
  if (job.ridge_lambda < 0.0) throw UsageError("--ridge-lambda must be >= 0");
}

ModelRow model_row(const std::string& model, const std::vector<const io::MetricRow*>& mrows, const io::MetricRow* pick);

// Each model's checkpoints as (name, step), by step (the last is the final one).
std::map<std::string, std::vector<std::pair<std::string, std::int64_t>>> checkpoints_of(
    const std::vector<io::MetricRow>& rows) {
  std::map<std::string, std::map<std::int64_t, std::string>> by_step;
  for (const auto& r : rows) by_step[r.model].emplace(r.step, r.checkpoint);
  std::map<std::string, std::vector<std::pair<std::string, std::int64_t>>> out;
  for (const auto& [model, steps] : by_step) {
    for (const auto& [step, name] : steps) out[model].emplace_back(name, step);
  }
  return out;
}

// One row per observation: each model at its chosen checkpoint, or at every checkpoint.
std::vector<ModelRow> model_rows(const std::vector<io::MetricRow>& rows, const RegressJob& job, bool every_checkpoint) {
  std::map<std::string, std::vector<const io::MetricRow*>> by_model;
  for (const auto& r : rows) by_model[r.model].push_back(&r);
  std::vector<ModelRow> out;
  for (const auto& [model, mrows] : by_model) {
    if (every_checkpoint) {
      std::map<std::int64_t, const io::MetricRow*> by_step;
      for (const auto* r : mrows) by_step.emplace(r->step, r);
      for (const auto& [step, r] : by_step) out.push_back(model_row(model, mrows, r));
      continue;
    }
    const io::MetricRow* pick = nullptr;
    for (const auto* r : mrows) {
      if (job.checkpoint.empty() ? (!pick || r->step > pick->step) : r->checkpoint == job.checkpoint) pick = r;
    }
    if (!pick) {
      io::log_warn("model '" + model + "' has no checkpoint '" + job.checkpoint + "' in the metrics; it is left out");
      continue;
    }
    out.push_back(model_row(model, mrows, pick));
  }
  return out;
}

ModelRow model_row(const std::string& model, const std::vector<const io::MetricRow*>& mrows, const io::MetricRow* pick) {
  {
    ModelRow m;
    m.model = model;
    m.family = mrows.front()->family;
    m.checkpoint = pick->checkpoint;
    m.step = pick->step;
    m.n_parameters = kNaN;
    for (const auto& p : kPredictors) m.features[p.name] = kNaN;
    for (const auto* r : mrows) {
      if (r->metric == "n_parameters" && (std::isnan(m.n_parameters) || r->checkpoint == m.checkpoint)) {
        m.n_parameters = r->value;
      }
      if (r->checkpoint != m.checkpoint || r->layer != "mean") continue;
      for (const auto& p : kPredictors) {
        if (r->metric == p.metric && r->label_set == p.label_set) m.features[p.name] = r->value;
      }
    }
    return m;
  }
}

std::vector<scores::BenchmarkScore> read_scores(const RegressJob& job) {
  std::vector<scores::BenchmarkScore> scores;
  for (const auto& path : job.paths_benchmarks) {
    auto s = scores::read_benchmark_file(path, job.benchmark_options);
    scores.insert(scores.end(), s.begin(), s.end());
  }
  for (const auto& [path, options] : job.benchmark_entries) {
    auto s = scores::read_benchmark_file(path, options);
    scores.insert(scores.end(), s.begin(), s.end());
  }
  return scores;
}

// every_checkpoint, or (with every_checkpoint_if_scored) a trajectory study whose scores name checkpoints.
bool use_every_checkpoint(const RegressJob& job, const std::vector<io::MetricRow>& metrics,
                          const std::vector<scores::BenchmarkScore>& scores) {
  if (job.every_checkpoint) return true;
  if (!job.every_checkpoint_if_scored || !job.checkpoint.empty()) return false;
  const bool named = std::any_of(scores.begin(), scores.end(), [](const auto& s) { return !s.checkpoint.empty(); });
  const auto checkpoints = checkpoints_of(metrics);
  const bool trajectories = std::any_of(checkpoints.begin(), checkpoints.end(), [](const auto& kv) { return kv.second.size() > 1; });
  return named && trajectories;
}

std::vector<std::string> attach_scores(std::vector<ModelRow>& models, const RegressJob& job,
                                       const std::vector<io::MetricRow>& metrics,
                                       const std::vector<scores::BenchmarkScore>& scores, RegressResult& result) {
  std::vector<scores::Observation> observations;
  for (const auto& m : models) observations.push_back({m.model, m.checkpoint});
  scores::JoinOptions options;
  options.ignore_unknown_models = job.ignore_unknown_models;
  options.aliases = job.aliases;
  options.checkpoints = checkpoints_of(metrics);
  result.scores = scores::join_scores(scores, observations, options);
  const auto& table = result.scores;
  result.models_without_scores = table.models_without_scores;
  std::vector<std::string> targets = table.benchmarks;
  for (std::size_t i = 0; i < models.size(); ++i) {
    double sum = 0;
    std::size_t n = 0;
    for (std::size_t b = 0; b < table.benchmarks.size(); ++b) {
      const double v = table.scores[i][b];
      models[i].targets[table.benchmarks[b]] = v;
      if (!std::isnan(v)) sum += v, ++n;
    }
    if (table.benchmarks.size() >= 2) models[i].targets["aggregate"] = n > 0 ? sum / static_cast<double>(n) : kNaN;
  }
  if (targets.size() >= 2) targets.push_back("aggregate");
  return targets;
}

// Control columns for the models at idx: log(n_parameters), then one dummy per family
// except the first (sorted) present among them.
Eigen::MatrixXd control_matrix(const std::vector<ModelRow>& models, std::span<const std::size_t> idx,
                               const std::vector<std::string>& controls) {
  const bool log_params = contains(controls, "log_params");
  std::vector<std::string> families;
  if (contains(controls, "family")) {
    std::set<std::string> f;
    for (auto i : idx) f.insert(models[i].family);
    families.assign(std::next(f.begin(), f.empty() ? 0 : 1), f.end());
  }
  Eigen::MatrixXd c = Eigen::MatrixXd::Zero(static_cast<Eigen::Index>(idx.size()),
                                            static_cast<Eigen::Index>((log_params ? 1 : 0) + families.size()));
  for (std::size_t r = 0; r < idx.size(); ++r) {
    const auto& m = models[idx[r]];
    Eigen::Index col = 0;
    if (log_params) c(static_cast<Eigen::Index>(r), col++) = std::log(m.n_parameters);
    for (const auto& f : families) c(static_cast<Eigen::Index>(r), col++) = m.family == f ? 1.0 : 0.0;
  }
  return c;
}

std::uint64_t mix_seed(std::uint64_t seed, const std::string& key) {
  std::uint64_t h = 1469598103934665603ULL;  // FNV-1a: independent of the order of the rows
  for (unsigned char ch : key) h = (h ^ ch) * 1099511628211ULL;
  return seed ^ h;
}

using CorrFn = std::function<analysis::Correlation(std::span<const double>, std::span<const double>, const Eigen::MatrixXd&)>;

CorrelationRow correlate(const std::vector<ModelRow>& models, const std::vector<std::size_t>& idx,
                         const std::string& predictor, const std::string& target, const std::string& method,
                         const std::vector<std::string>& controls, const RegressJob& job) {
  const bool partial = method.rfind("partial_", 0) == 0;
  const bool ranks = method.find("spearman") != std::string::npos;
  const CorrFn fn = [&](std::span<const double> x, std::span<const double> y, const Eigen::MatrixXd& c) {
    if (partial) return ranks ? analysis::partial_spearman(x, y, c) : analysis::partial_pearson(x, y, c);
    return ranks ? analysis::spearman(x, y) : analysis::pearson(x, y);
  };
  auto evaluate = [&](std::span<const std::size_t> sample) {
    std::vector<double> x, y;
    for (auto i : sample) x.push_back(models[i].features.at(predictor)), y.push_back(models[i].targets.at(target));
    return fn(x, y, control_matrix(models, sample, partial ? controls : std::vector<std::string>{}));
  };
  const auto c = evaluate(idx);
  CorrelationRow row{predictor, target, method, c.n, c.r, c.p, kNaN, kNaN};
  if (std::isnan(c.r)) return row;
  analysis::Interval ci;
  if (job.n_bootstrap > 0) {
    ci = analysis::bootstrap_interval(
        idx.size(),
        [&](std::span<const std::size_t> b) {
          std::vector<std::size_t> sample;
          for (auto i : b) sample.push_back(idx[i]);
          return evaluate(sample).r;
        },
        job.n_bootstrap, mix_seed(job.seed, predictor + "|" + target + "|" + method));
  } else {
    const double k = static_cast<double>(c.n) - 2.0 - c.df;
    ci = analysis::fisher_z_interval(c.r, c.n, static_cast<std::size_t>(std::max(0.0, k)));
  }
  row.ci_low = ci.low;
  row.ci_high = ci.high;
  return row;
}

std::vector<CorrelationRow> correlations(const std::vector<ModelRow>& models, const std::vector<std::string>& targets,
                                         const RegressJob& job) {
  std::vector<CorrelationRow> out;
  for (const auto& p : job.predictors) {
    for (const auto& t : targets) {
      std::vector<std::size_t> idx, idx_partial;
      for (std::size_t i = 0; i < models.size(); ++i) {
        const auto& m = models[i];
        if (std::isnan(m.features.at(p)) || std::isnan(m.targets.at(t))) continue;
        idx.push_back(i);
        const bool has_params = std::isfinite(std::log(m.n_parameters)) && m.n_parameters > 0;
        if (has_params || !contains(job.controls, "log_params")) idx_partial.push_back(i);
      }
      if (idx.size() < 3) {
        io::log_warn("predictor '" + p + "', target '" + t + "': only " + std::to_string(idx.size()) +
                     " model(s) have both values; correlations need at least 3 and are written as nan");
      }
      for (const char* method : {"pearson", "spearman"}) out.push_back(correlate(models, idx, p, t, method, {}, job));
      if (job.controls.empty()) continue;
      for (const char* method : {"partial_pearson", "partial_spearman"}) {
        out.push_back(correlate(models, idx_partial, p, t, method, job.controls, job));
      }
    }
  }
  return out;
}

struct Spec {
  std::string name;
  std::vector<std::string> features;
};

// Regression specs. Family fixed effects cannot be estimated for a held-out family,
// so the cross-validated models control for log_params only.
std::vector<Spec> specs(const RegressJob& job) {
  const bool log_params = contains(job.controls, "log_params");
  std::vector<std::string> base = log_params ? std::vector<std::string>{"log_params"} : std::vector<std::string>{};
  std::vector<Spec> out = {{"intercept_only", {}}};
  if (log_params) out.push_back({"log_params", base});
  for (const auto& p : job.predictors) {
    auto f = base;
    f.push_back(p);
    out.push_back({join(f, "+"), f});
  }
  if (job.predictors.size() > 1) {
    auto f = base;
    f.insert(f.end(), job.predictors.begin(), job.predictors.end());
    out.push_back({join(f, "+"), f});
  }
  return out;
}

double feature_of(const ModelRow& m, const std::string& f) {
  return f == "log_params" ? (m.n_parameters > 0 ? std::log(m.n_parameters) : kNaN) : m.features.at(f);
}

void cross_validate(const std::vector<ModelRow>& models, const std::string& target, const Spec& spec,
                    const RegressJob& job, RegressResult& result) {
  std::vector<std::size_t> idx;
  for (std::size_t i = 0; i < models.size(); ++i) {
    bool ok = !std::isnan(models[i].targets.at(target));
    for (const auto& f : spec.features) ok = ok && std::isfinite(feature_of(models[i], f));
    if (ok) idx.push_back(i);
  }
  const auto n = static_cast<Eigen::Index>(idx.size());
  Eigen::MatrixXd x(n, static_cast<Eigen::Index>(spec.features.size()));
  Eigen::VectorXd y(n);
  std::vector<std::string> groups;
  for (Eigen::Index r = 0; r < n; ++r) {
    const auto& m = models[idx[static_cast<std::size_t>(r)]];
    for (std::size_t j = 0; j < spec.features.size(); ++j) x(r, static_cast<Eigen::Index>(j)) = feature_of(m, spec.features[j]);
    y(r) = m.targets.at(target);
    groups.push_back(m.family);
  }
  for (const auto& [estimator, lambda] : {std::pair<std::string, double>{"ols", 0.0}, {"ridge", job.ridge_lambda}}) {
    RegressionRow row{target, spec.name, estimator, lambda, idx.size(), spec.features.size(), 0, kNaN, kNaN, kNaN};
    if (n >= 2) row.r2_train = analysis::r_squared(y, analysis::predict(analysis::fit_linear(x, y, lambda), x));
    if (job.cv != "none" && n >= 2) {
      const auto cv = analysis::leave_one_group_out(x, y, groups, lambda);
      row.n_folds = cv.n_folds;
      row.r2_cv = cv.r2;
      row.mae_cv = cv.mae;
      for (const auto& f : cv.folds) {
        result.folds.push_back({target, spec.name, estimator, f.group, f.n_train, f.n_test, f.mae, f.sse});
      }
    }
    result.regression.push_back(row);
  }
}

std::string fmt(double v) { return io::format_value(v); }

void write_outputs(const RegressResult& r, const RegressJob& job) {
  std::filesystem::create_directories(job.path_out);
  std::vector<std::vector<std::string>> rows;
  for (const auto& c : r.correlations) {
    rows.push_back({c.predictor, c.target, c.method, std::to_string(c.n), fmt(c.r), fmt(c.p), fmt(c.ci_low), fmt(c.ci_high)});
  }
  io::write_csv(job.path_out / "correlations.csv", kCorrelationsHeader, rows);
  rows.clear();
  for (const auto& g : r.regression) {
    rows.push_back({g.target, g.spec, g.estimator, fmt(g.lambda), std::to_string(g.n), std::to_string(g.n_features),
                    std::to_string(g.n_folds), fmt(g.r2_cv), fmt(g.mae_cv), fmt(g.r2_train)});
  }
  io::write_csv(job.path_out / "regression.csv",
                {"target", "spec", "estimator", "lambda", "n", "n_features", "n_folds", "r2_cv", "mae_cv", "r2_train"}, rows);
  rows.clear();
  for (const auto& f : r.folds) {
    rows.push_back({f.target, f.spec, f.estimator, f.held_out_family, std::to_string(f.n_train), std::to_string(f.n_test),
                    fmt(f.mae), fmt(f.sse)});
  }
  io::write_csv(job.path_out / "regression_folds.csv",
                {"target", "spec", "estimator", "held_out_family", "n_train", "n_test", "mae", "sse"}, rows);
  rows.clear();
  std::vector<std::string> header = {"model", "family", "checkpoint", "step", "n_parameters"};
  for (const auto& p : kPredictors) header.push_back(p.name);
  header.insert(header.end(), r.targets.begin(), r.targets.end());
  for (const auto& m : r.models) {
    std::vector<std::string> row = {m.model, m.family, m.checkpoint, std::to_string(m.step), fmt(m.n_parameters)};
    for (const auto& p : kPredictors) row.push_back(fmt(m.features.at(p.name)));
    for (const auto& t : r.targets) row.push_back(fmt(m.targets.at(t)));
    rows.push_back(row);
  }
  io::write_csv(job.path_out / "model_table.csv", header, rows);
  scores::write_scores_csv(job.path_out / "scores.csv", r.scores);
}

}  // namespace

RegressResult regress(const RegressJob& job) {
  validate(job);
  RegressResult result;
  const auto metrics = io::read_metrics_csv(job.path_metrics);
  const auto scores = read_scores(job);
  const bool every_checkpoint = use_every_checkpoint(job, metrics, scores);
  result.models = model_rows(metrics, job, every_checkpoint);
  if (result.models.empty()) {
    throw CorruptDataError(job.path_metrics.string() + ": no model rows to analyse; expected model-level rows "
                           "(scope 'layer_mean') written by the reduce stage");
  }
  io::log_info(std::string("regress: observations are ") +
               (every_checkpoint ? "every (model, checkpoint), scores joined per checkpoint: " + std::to_string(result.models.size()) +
                                           " rows (checkpoints of one model are not independent: read p-values "
                                           "with care)"
                : job.checkpoint.empty() ? "each model's final checkpoint (largest step)"
                                         : "each model's checkpoint '" + job.checkpoint + "'"));
  result.targets = attach_scores(result.models, job, metrics, scores, result);
  result.correlations = correlations(result.models, result.targets, job);
  for (const auto& t : result.targets) {
    for (const auto& s : specs(job)) cross_validate(result.models, t, s, job, result);
  }
  write_outputs(result, job);
  io::log_info("regress: " + std::to_string(result.models.size()) + " models, " + std::to_string(result.targets.size()) +
               " targets, " + std::to_string(result.correlations.size()) + " correlations -> " + job.path_out.string());
  return result;
}

}  // namespace ibzoo::stages
