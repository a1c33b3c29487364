// `ibzoo regress`: correlations and cross-validated regressions of benchmark scores
// on compression metrics, from a metrics table and benchmark files (stages::regress).
#include "errors/error.h"
#include "cli/command.h"
#include "stages/regress.h"

#include <sstream>

namespace ibzoo::cli {
namespace {

std::string join_list(const std::vector<std::string>& items) {
  std::string s;
  for (const auto& item : items) s += (s.empty() ? "" : ",") + item;
  return s;
}

std::vector<std::string> split_list(const std::string& s) {
  std::vector<std::string> out;
  std::istringstream in(s);
  for (std::string item; std::getline(in, item, ',');) {
    if (!item.empty()) out.push_back(item);
  }
  return out;
}

// "KEY=VALUE" pairs from a repeated option.
std::map<std::string, std::string> key_values(const std::vector<std::string>& items, const std::string& option) {
  std::map<std::string, std::string> out;
  for (const auto& item : items) {
    const auto eq = item.find('=');
    if (eq == std::string::npos || eq == 0 || eq + 1 == item.size()) {
      throw UsageError("--" + option + ": expected TASK=VALUE, got '" + item + "'");
    }
    out[item.substr(0, eq)] = item.substr(eq + 1);
  }
  return out;
}

scores::BenchmarkOptions benchmark_options(const po::variables_map& vm) {
  scores::BenchmarkOptions o;
  o.normalise = vm.count("normalise") > 0;
  o.metric_by_task = key_values(vm["lm-eval-metric"].as<std::vector<std::string>>(), "lm-eval-metric");
  for (const auto& [task, value] : key_values(vm["baseline"].as<std::vector<std::string>>(), "baseline")) {
    std::size_t used = 0;
    double b = -1;
    try {
      b = std::stod(value, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used != value.size() || !(b >= 0.0 && b < 1.0)) {
      throw UsageError("--baseline " + task + "=" + value + ": the baseline must be a fraction in [0, 1)");
    }
    o.baseline_by_task[task] = b;
  }
  o.tasks = split_list(vm["lm-eval-tasks"].as<std::string>());
  o.model = vm["lm-eval-model"].as<std::string>();
  o.format = vm["format"].as<std::string>();
  o.filter = vm["lm-eval-filter"].as<std::string>();
  o.allow_limit = vm.count("allow-limit") > 0;
  o.duplicates = vm["duplicates"].as<std::string>();
  return o;
}

int regress_command(const std::vector<std::string>& args) {
  CommandLine cli{"ibzoo regress --metrics METRICS.csv --benchmarks FILE [--benchmarks FILE ...] --out DIR [options]",
                  po::options_description("options"), {}, "", ""};
  using Strings = std::vector<std::string>;
  // The manifest's analysis: defaults (stages/regress.h), so that `regress` on a run's
  // metrics.csv gives what the run's analysis gave.
  const stages::RegressJob defaults;
  cli.options.add_options()
      ("metrics", po::value<std::string>()->required(), "tidy metrics table (results/metrics.csv)")
      ("benchmarks", po::value<Strings>()->required(), "benchmark file (lm-eval .json, leaderboard .csv, HELM run directory, Every Eval Ever .json, long .csv; repeatable)")
      ("out", po::value<std::string>()->required(), "output directory")
      ("predictors", po::value<std::string>()->default_value(join_list(defaults.predictors)),
       "comma-separated predictors: optimality, complexity, expressivity, preference")
      ("controls", po::value<std::string>()->default_value(join_list(defaults.controls)),
       "comma-separated controls for partial correlations: log_params, family ('' for none)")
      ("cv", po::value<std::string>()->default_value(defaults.cv), "cross-validation: leave-one-family-out or none")
      ("bootstrap", po::value<std::size_t>()->default_value(defaults.n_bootstrap), "bootstrap resamples for the CIs (0: Fisher-z CIs)")
      ("seed", po::value<std::uint64_t>()->default_value(defaults.seed), "bootstrap seed")
      ("checkpoint", po::value<std::string>()->default_value(""), "checkpoint name to use (default: each model's final one)")
      ("ridge-lambda", po::value<double>()->default_value(defaults.ridge_lambda, default_text(defaults.ridge_lambda)), "ridge penalty on standardised predictors")
      ("normalise", "leaderboard normalisation of the scores (baseline-corrected, per subtask)")
      ("lm-eval-metric", po::value<Strings>()->default_value({}, ""), "TASK=METRIC_KEY for lm-eval files (repeatable)")
      ("baseline", po::value<Strings>()->default_value({}, ""), "TASK=FRACTION random baseline for --normalise (repeatable)")
      ("lm-eval-tasks", po::value<std::string>()->default_value(""), "comma-separated lm-eval tasks/groups to use as benchmarks")
      ("lm-eval-model", po::value<std::string>()->default_value(""), "model id for lm-eval files that do not name it")
      ("ignore-unknown-models", "warn about (instead of failing on) scores for models not in the metrics")
      ("format", po::value<std::string>()->default_value(""), "benchmark file format: lm-eval, leaderboard, leaderboard-v1, helm, every-eval-ever, long (default: detected)")
      ("lm-eval-filter", po::value<std::string>()->default_value(""), "lm-eval filter to prefer (default: none, else strict-match)")
      ("allow-limit", "accept lm-eval results run with --limit (a subsample)")
      ("duplicates", po::value<std::string>()->default_value("latest"), "leaderboard rows naming one model twice: latest, first, best or error")
      ("alias", po::value<Strings>()->default_value({}, ""), "NAME=MODEL_ID: a score file's name for a model id (repeatable)")
      ("every-checkpoint", "one observation per scored (model, checkpoint) instead of each model's final checkpoint");
  const auto vm = parse_command_line(cli, args);
  if (!vm) return 0;
  stages::RegressJob job;
  job.path_metrics = (*vm)["metrics"].as<std::string>();
  for (const auto& b : (*vm)["benchmarks"].as<Strings>()) job.paths_benchmarks.emplace_back(b);
  job.path_out = (*vm)["out"].as<std::string>();
  job.predictors = split_list((*vm)["predictors"].as<std::string>());
  job.controls = split_list((*vm)["controls"].as<std::string>());
  job.cv = (*vm)["cv"].as<std::string>();
  job.n_bootstrap = (*vm)["bootstrap"].as<std::size_t>();
  job.seed = (*vm)["seed"].as<std::uint64_t>();
  job.checkpoint = (*vm)["checkpoint"].as<std::string>();
  job.ridge_lambda = (*vm)["ridge-lambda"].as<double>();
  job.benchmark_options = benchmark_options(*vm);
  job.ignore_unknown_models = vm->count("ignore-unknown-models") > 0;
  job.aliases = key_values((*vm)["alias"].as<Strings>(), "alias");
  job.every_checkpoint = vm->count("every-checkpoint") > 0;
  stages::regress(job);
  return 0;
}

const bool kRegistered = register_command(
    {"regress", "correlate compression metrics with benchmark scores (CSV outputs)", regress_command});

}  // namespace
}  // namespace ibzoo::cli
