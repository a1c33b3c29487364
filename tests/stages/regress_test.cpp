// The regress stage on a small zoo built in the test: 3 families x 3 models, 3
// checkpoints each; the final checkpoint's layer-mean rows are the predictors.
#include "stages/regress.h"

#include "errors/error.h"
#include "analysis/stats.h"
#include "io/csv.h"
#include "io/fs.h"
#include "io/metrics_csv.h"

#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <map>

namespace ibzoo::stages {
namespace {

namespace fs = std::filesystem;

struct Zoo {
  std::vector<std::string> models, families;
  std::vector<double> optimality, params, bench_a, bench_b;
};

Zoo make_zoo() {
  Zoo z;
  const std::vector<std::string> fams = {"gpt2", "pythia", "qwen2"};
  for (int f = 0; f < 3; ++f) {
    for (int s = 0; s < 3; ++s) {
      const double i = f * 3 + s;
      z.models.push_back(fams[static_cast<std::size_t>(f)] + "-" + std::to_string(s));
      z.families.push_back(fams[static_cast<std::size_t>(f)]);
      z.optimality.push_back(0.3 + 0.05 * i + 0.03 * std::sin(3 * i));
      z.params.push_back(1e8 * std::pow(2.0, s + f));
      z.bench_a.push_back(20 + 40 * z.optimality.back() + 3 * std::cos(5 * i));
      z.bench_b.push_back(10 + 2 * s + 5 * std::sin(i));
    }
  }
  return z;
}

fs::path fresh_dir(const std::string& name) {
  const auto dir = fs::temp_directory_path() / ("ibzoo_regress_test_" + name);
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

// metrics.csv: earlier checkpoints carry different (wrong) values, so using them shows.
fs::path write_metrics(const fs::path& dir, const Zoo& z, bool with_preference = true) {
  std::vector<io::MetricRow> rows;
  for (std::size_t m = 0; m < z.models.size(); ++m) {
    for (std::int64_t step : {1000, 3000, 2000}) {
      const std::string ckpt = "step" + std::to_string(step);
      const double opt = step == 3000 ? z.optimality[m] : 0.99;
      const double ix = 2.0 + 0.1 * static_cast<double>(m);
      rows.push_back({z.models[m], z.families[m], ckpt, step, "mean", "", "optimality", opt});
      rows.push_back({z.models[m], z.families[m], ckpt, step, "mean", "in1", "mutual_information", ix});
      rows.push_back({z.models[m], z.families[m], ckpt, step, "mean", "out1", "mutual_information", ix * opt});
      if (with_preference && m < 2) {
        rows.push_back({z.models[m], z.families[m], ckpt, step, "mean", "pref", "mutual_information", 0.1});
      }
      rows.push_back({z.models[m], z.families[m], ckpt, step, "1", "in1", "mutual_information", ix});
    }
    rows.push_back({z.models[m], z.families[m], "step3000", 3000, "", "", "n_parameters", z.params[m]});
  }
  io::write_metrics_csv(dir / "metrics.csv", rows);
  return dir / "metrics.csv";
}

// Long CSV; the last model has no score for bench_b.
fs::path write_scores(const fs::path& dir, const Zoo& z) {
  std::vector<std::vector<std::string>> rows;
  for (std::size_t m = 0; m < z.models.size(); ++m) {
    rows.push_back({"org/" + z.models[m], "bench_a", io::format_value(z.bench_a[m])});
    rows.push_back({z.models[m], "bench_b", m + 1 == z.models.size() ? "" : io::format_value(z.bench_b[m])});
  }
  io::write_csv(dir / "scores.csv", {"model", "benchmark", "score"}, rows);
  return dir / "scores.csv";
}

RegressJob make_job(const fs::path& dir, const Zoo& z) {
  RegressJob job;
  job.path_metrics = write_metrics(dir, z);
  job.paths_benchmarks = {write_scores(dir, z)};
  job.path_out = dir / "out";
  job.n_bootstrap = 200;
  job.seed = 5;
  // Every predictor and both controls (the defaults use fewer: stages::kDefaultPredictors).
  job.predictors = {"optimality", "complexity", "expressivity", "preference"};
  job.controls = {"log_params", "family"};
  return job;
}

const CorrelationRow& find(const RegressResult& r, const std::string& pred, const std::string& target,
                           const std::string& method) {
  for (const auto& c : r.correlations) {
    if (c.predictor == pred && c.target == target && c.method == method) return c;
  }
  throw std::runtime_error("no row " + pred + " " + target + " " + method);
}

TEST(RegressTest, WritesCorrelationsWithTheExactHeaderAndEveryMethod) {
  const auto dir = fresh_dir("header");
  const auto z = make_zoo();
  const auto r = regress(make_job(dir, z));
  const auto t = io::read_csv(dir / "out" / "correlations.csv");
  EXPECT_EQ(io::format_csv_row(t.header), "predictor,target,method,n,r,p,ci_low,ci_high\n");
  EXPECT_EQ(r.targets, (std::vector<std::string>{"bench_a", "bench_b", "aggregate"}));
  EXPECT_EQ(t.rows.size(), 4u * 3u * 4u);
  EXPECT_TRUE(fs::exists(dir / "out" / "regression.csv"));
  EXPECT_TRUE(fs::exists(dir / "out" / "regression_folds.csv"));
  EXPECT_TRUE(fs::exists(dir / "out" / "model_table.csv"));
}

TEST(RegressTest, UsesTheFinalCheckpointAndMatchesANaiveCorrelation) {
  const auto dir = fresh_dir("naive");
  const auto z = make_zoo();
  const auto r = regress(make_job(dir, z));
  const auto& c = find(r, "optimality", "bench_a", "pearson");
  EXPECT_EQ(c.n, 9u);
  EXPECT_NEAR(c.r, analysis::pearson(z.optimality, z.bench_a).r, 1e-12);
  EXPECT_LE(c.ci_low, c.r);
  EXPECT_GE(c.ci_high, c.r);
  const auto& s = find(r, "optimality", "bench_b", "spearman");
  EXPECT_EQ(s.n, 8u);  // the model without a bench_b score is dropped and counted
  const std::vector<double> x(z.optimality.begin(), z.optimality.end() - 1), y(z.bench_b.begin(), z.bench_b.end() - 1);
  EXPECT_NEAR(s.r, analysis::spearman(x, y).r, 1e-12);
}

TEST(RegressTest, PartialCorrelationControlsForLogParamsAndFamily) {
  const auto dir = fresh_dir("partial");
  const auto z = make_zoo();
  const auto r = regress(make_job(dir, z));
  Eigen::MatrixXd controls(9, 3);
  for (int i = 0; i < 9; ++i) {
    const auto& fam = z.families[static_cast<std::size_t>(i)];
    controls.row(i) << std::log(z.params[static_cast<std::size_t>(i)]), fam == "pythia" ? 1.0 : 0.0,
        fam == "qwen2" ? 1.0 : 0.0;
  }
  const auto expected = analysis::partial_pearson(z.optimality, z.bench_a, controls);
  const auto& c = find(r, "optimality", "bench_a", "partial_pearson");
  EXPECT_NEAR(c.r, expected.r, 1e-12);
  EXPECT_NEAR(c.p, expected.p, 1e-12);
}

TEST(RegressTest, TooFewModelsGiveNaNWrittenAsNan) {
  const auto dir = fresh_dir("tiny");
  const auto r = regress(make_job(dir, make_zoo()));
  const auto& c = find(r, "preference", "bench_a", "pearson");  // only 2 models have preference
  EXPECT_EQ(c.n, 2u);
  EXPECT_TRUE(std::isnan(c.r));
  const auto text = io::read_file(dir / "out" / "correlations.csv");
  EXPECT_NE(text.find("preference,bench_a,pearson,2,nan,nan,nan,nan"), std::string::npos);
}

TEST(RegressTest, CrossValidationLeavesOneFamilyOutPerFold) {
  const auto dir = fresh_dir("cv");
  const auto r = regress(make_job(dir, make_zoo()));
  const auto it = std::find_if(r.regression.begin(), r.regression.end(), [](const auto& g) {
    return g.target == "bench_a" && g.spec == "log_params+optimality" && g.estimator == "ols";
  });
  ASSERT_NE(it, r.regression.end());
  EXPECT_EQ(it->n, 9u);
  EXPECT_EQ(it->n_folds, 3u);
  EXPECT_TRUE(std::isfinite(it->r2_cv));
  std::size_t folds = 0;
  for (const auto& f : r.folds) {
    if (f.target == "bench_a" && f.spec == it->spec && f.estimator == "ols") {
      ++folds;
      EXPECT_EQ(f.n_test, 3u);
    }
  }
  EXPECT_EQ(folds, 3u);
}

TEST(RegressTest, ASecondRunWritesTheSameBytes) {
  const auto dir = fresh_dir("idem");
  const auto job = make_job(dir, make_zoo());
  regress(job);
  const auto first = io::read_file(dir / "out" / "correlations.csv") + io::read_file(dir / "out" / "regression.csv");
  regress(job);
  EXPECT_EQ(first, io::read_file(dir / "out" / "correlations.csv") + io::read_file(dir / "out" / "regression.csv"));
}

TEST(RegressTest, FisherIntervalsWhenBootstrapIsOff) {
  const auto dir = fresh_dir("fisher");
  const auto z = make_zoo();
  auto job = make_job(dir, z);
  job.n_bootstrap = 0;
  const auto r = regress(job);
  const auto& c = find(r, "optimality", "bench_a", "pearson");
  const auto ci = analysis::fisher_z_interval(c.r, 9, 0);
  EXPECT_DOUBLE_EQ(c.ci_low, ci.low);
  const auto& pc = find(r, "optimality", "bench_a", "partial_pearson");
  EXPECT_DOUBLE_EQ(pc.ci_high, analysis::fisher_z_interval(pc.r, 9, 3).high);
}

template <typename E, typename F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const E& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(RegressTest, BadInputsGiveErrorsThatSayWhatToDo) {
  const auto dir = fresh_dir("errors");
  const auto z = make_zoo();
  auto job = make_job(dir, z);
  job.predictors = {"optimality", "wisdom"};
  EXPECT_NE(error_of<UsageError>([&] { regress(job); }).find("unknown predictor 'wisdom'"), std::string::npos);
  job = make_job(dir, z);
  job.controls = {"size"};
  EXPECT_NE(error_of<UsageError>([&] { regress(job); }).find("unknown control 'size'"), std::string::npos);
  job = make_job(dir, z);
  job.path_metrics = dir / "absent.csv";
  EXPECT_NE(error_of<MissingInputError>([&] { regress(job); }).find("absent.csv"), std::string::npos);
  job = make_job(dir, z);
  io::write_csv(dir / "stray.csv", {"model", "benchmark", "score"}, {{"qwen2-7", "bench_a", "50"}});
  job.paths_benchmarks.push_back(dir / "stray.csv");
  const auto msg = error_of<CorruptDataError>([&] { regress(job); });
  EXPECT_NE(msg.find("'qwen2-7' (from " + (dir / "stray.csv").string() + ":2; nearest ids: qwen2-0"), std::string::npos)
      << msg;
  job.ignore_unknown_models = true;
  EXPECT_EQ(regress(job).models.size(), 9u);
}

TEST(RegressTest, EveryCheckpointJoinsScoresPerCheckpointAndWritesScoresCsv) {
  const auto dir = fresh_dir("every_checkpoint");
  const auto z = make_zoo();
  auto job = make_job(dir, z);
  // Per-checkpoint scores for two models: step1000 and step3000 (the final one).
  std::vector<std::vector<std::string>> rows;
  for (std::size_t m = 0; m < 2; ++m) {
    rows.push_back({z.models[m], "step1000", "bench_c", "10"});
    rows.push_back({z.models[m], "step3000", "bench_c", "30"});
  }
  io::write_csv(dir / "per_ckpt.csv", {"model", "checkpoint", "benchmark", "score"}, rows);
  job.paths_benchmarks.push_back(dir / "per_ckpt.csv");
  job.every_checkpoint = true;
  const auto r = regress(job);
  EXPECT_EQ(r.models.size(), z.models.size() * 3);  // every (model, checkpoint)
  const auto t = io::read_csv(dir / "out" / "model_table.csv");
  const auto c = *t.column("bench_c");
  std::map<std::string, std::string> by_ckpt;
  for (const auto& row : t.rows) {
    if (row[0] == z.models[0]) by_ckpt[row[2]] = row[c];
  }
  EXPECT_EQ(by_ckpt["step1000"], "10");
  EXPECT_EQ(by_ckpt["step2000"], "nan");
  EXPECT_EQ(by_ckpt["step3000"], "30");
  // What `ibzoo run` asks for: per checkpoint because a score names a checkpoint.
  job.every_checkpoint = false;
  job.every_checkpoint_if_scored = true;
  EXPECT_EQ(regress(job).models.size(), z.models.size() * 3);
  // Final checkpoints only: the step1000 scores are listed as not used, not a conflict.
  job.every_checkpoint_if_scored = false;
  regress(job);
  const auto scores = io::read_csv(dir / "out" / "scores.csv");
  std::size_t unused = 0;
  for (const auto& row : scores.rows) unused += row[*scores.column("status")] != "used";
  EXPECT_EQ(unused, 2u);
}

}  // namespace
}  // namespace ibzoo::stages
