// The report stage on a small run built in the test (several models, families,
// checkpoints and layers), with and without regress outputs and gnuplot.
#include "stages/report.h"

#include "errors/error.h"
#include "io/csv.h"
#include "io/fs.h"
#include "io/metrics_csv.h"
#include "stages/regress.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>

namespace ibzoo::stages {
namespace {

namespace fs = std::filesystem;

std::size_t count(const std::string& text, const std::string& what) {
  std::size_t n = 0;
  for (auto at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

// Four models in two families, four checkpoints, layers 0..3 plus the layer mean.
fs::path make_run(const std::string& name) {
  const auto run = fs::temp_directory_path() / ("ibzoo_report_test_" + name);
  fs::remove_all(run);
  fs::create_directories(run / "results");
  std::vector<io::MetricRow> rows;
  const std::vector<std::pair<std::string, std::string>> models = {
      {"pythia-70m", "pythia"}, {"pythia-160m", "pythia"}, {"smollm2-135m", "llama"}, {"smollm2-360m", "llama"}};
  for (std::size_t m = 0; m < models.size(); ++m) {
    const auto& [model, family] = models[m];
    for (std::int64_t k = 0; k < 4; ++k) {
      const std::int64_t step = 1000 * k;
      const std::string ckpt = "step" + std::to_string(step);
      const double ix = 1.0 + 0.8 * static_cast<double>(k) - 0.35 * static_cast<double>(k * k) * 0.5 + 0.1 * static_cast<double>(m);
      const double iy = (0.3 + 0.15 * static_cast<double>(k) + 0.05 * static_cast<double>(m)) * ix;
      auto add = [&](const std::string& layer, const std::string& label, const std::string& metric, double v) {
        rows.push_back({model, family, ckpt, step, layer, label, metric, v});
      };
      for (int l = 0; l <= 3; ++l) {
        const double f = 0.7 + 0.1 * l;
        add(std::to_string(l), "", "entropy", 0.6 + 0.05 * l);
        add(std::to_string(l), "in1", "mutual_information", ix * f);
        add(std::to_string(l), "out1", "mutual_information", iy * f);
        add(std::to_string(l), "", "optimality", iy / ix);
      }
      add("mean", "", "entropy", 0.7);
      add("mean", "in1", "mutual_information", ix);
      add("mean", "out1", "mutual_information", iy);
      add("mean", "pref", "mutual_information", 0.02 * static_cast<double>(m + 1));
      add("mean", "", "optimality", iy / ix);
      const std::vector<double> shares = {0.3, 0.2, 0.1, 0.05, 0.35};
      const std::vector<std::string> names = {"backoff_token", "backoff_bigram", "backoff_trigram", "backoff_quadgram",
                                              "backoff_residual"};
      for (std::size_t i = 0; i < shares.size(); ++i) add("mean", "", names[i], shares[i]);
    }
    rows.push_back({model, family, "step3000", 3000, "", "", "n_parameters", 7e7 * static_cast<double>(m + 1)});
  }
  io::write_metrics_csv(run / "results" / "metrics.csv", rows);
  return run;
}

void add_regress_outputs(const fs::path& run) {
  io::write_csv(run / "scores.csv", {"model", "benchmark", "score"},
                {{"pythia-70m", "MUSR", "3.1"}, {"pythia-160m", "MUSR", "4.0"}, {"smollm2-135m", "MUSR", "6.2"},
                 {"smollm2-360m", "MUSR", "7.9"}, {"pythia-70m", "BBH", "1.0"}, {"pythia-160m", "BBH", "2.5"},
                 {"smollm2-135m", "BBH", "2.2"}, {"smollm2-360m", "BBH", "5.0"}});
  RegressJob job;
  job.path_metrics = run / "results" / "metrics.csv";
  job.paths_benchmarks = {run / "scores.csv"};
  job.path_out = run / "results";
  job.n_bootstrap = 50;
  regress(job);
}

bool is_png(const fs::path& p) { return fs::exists(p) && io::read_file(p).substr(0, 8) == "\x89PNG\r\n\x1a\n"; }

TEST(ReportTest, WritesOneSelfContainedPageWithEveryFigure) {
  const auto run = make_run("full");
  add_regress_outputs(run);
  const auto result = report({run});
  EXPECT_EQ(result.path_index, run / "report" / "index.html");
  EXPECT_EQ(result.figures,
            (std::vector<std::string>{"info_plane", "trajectories", "dynamics_pythia_160m", "plane_pythia_160m",
                                      "dynamics_pythia_70m", "plane_pythia_70m", "dynamics_smollm2_135m",
                                      "plane_smollm2_135m", "dynamics_smollm2_360m", "plane_smollm2_360m",
                                      "layer_checkpoint_pythia_160m", "layer_checkpoint_pythia_70m",
                                      "layer_checkpoint_smollm2_135m", "layer_checkpoint_smollm2_360m", "layer_profiles",
                                      "optimality_vs_BBH", "optimality_vs_MUSR", "optimality_vs_aggregate", "backoff"}));
  const auto html = io::read_file(result.path_index);
  EXPECT_EQ(count(html, "src=\"data:image/png;base64,iVBORw0KGgo"), 19u);  // the PNG signature in base64
  EXPECT_EQ(count(html, "src=\"http"), 0u);
  EXPECT_EQ(count(html, "<link"), 0u);
  for (const auto& f : result.figures) {
    EXPECT_TRUE(is_png(run / "report" / "figures" / (f + ".png"))) << f;
    EXPECT_NE(io::read_file(run / "report" / "figures" / (f + ".svg")).find("<svg"), std::string::npos) << f;
  }
  EXPECT_NE(html.find("<th>predictor</th><th>target</th><th>method</th>"), std::string::npos);
  EXPECT_NE(html.find("summary.csv is absent"), std::string::npos);  // said on the page
  EXPECT_NE(html.find("4 models."), std::string::npos);
  EXPECT_EQ(html.find("No the "), std::string::npos);
  EXPECT_NE(html.find("<th>report rendered</th>"), std::string::npos);  // provenance, even without manifest.json
  EXPECT_NE(html.find("manifest.json is absent"), std::string::npos);
  // Units: informations are divided by log m, never called nats; layer ticks are integers.
  EXPECT_EQ(io::read_file(run / "report" / "figures" / "info_plane.gp").find("nats"), std::string::npos);
  EXPECT_NE(io::read_file(run / "report" / "figures" / "info_plane.gp").find("I(X;Z) / log m"), std::string::npos);
  EXPECT_NE(io::read_file(run / "report" / "figures" / "layer_profiles.gp").find("format '%.0f'"), std::string::npos);
}

TEST(ReportTest, ProvenanceComesFromTheRunsManifestPlanAndItems) {
  const auto run = make_run("provenance");
  io::write_file_atomic(run / "manifest.json", R"({"source": "/studies/zoo.yaml", "estimator": {"bins": 100, "seed": 0,
    "calibration": "bounds", "orders": [1, 2], "weighting": "frequency", "min_count": 1, "layers": [], "final_norm": true,
    "null": true, "bootstrap": 0}, "text": {"files": ["c4.jsonl"], "n_documents": 10000, "sampling": "first", "seed": 0,
    "max_tokens": 512, "min_tokens": 8, "bos": false},
    "models": [{"id": "EleutherAI/pythia-160m", "family": "pythia", "checkpoints": [{"name": "step1000", "step": 1000,
    "tokens": 0, "path": "/hub/snap/a", "repo": "EleutherAI/pythia-160m", "revision": "step1000"}]}]})");
  io::write_file_atomic(run / "plan.json", R"({"study": "zoo", "n_items": 12, "manifest_hash": "abc123",
    "n_documents": 9000, "corpus_sha256": "feed"})");
  fs::create_directories(run / "items" / "0001");
  io::write_file_atomic(run / "items" / "0001" / "provenance.json", R"({"ibzoo_version": "0.1.0", "git_hash": "cafe",
    "device": "cuda", "dtype": "bfloat16", "world_size": 4, "eps": 0.0072})");
  const auto html = io::read_file(report({run, "/nonexistent/gnuplot"}).path_index);
  for (const char* want : {"<th>manifest hash</th><td>abc123</td>", "/studies/zoo.yaml", "m = 100 reference points",
                           "calibration bounds (eps = 0.0072)", "9000 documents (n_documents 10000", "git cafe",
                           "hub EleutherAI/pythia-160m", "The normalised manifest"}) {
    EXPECT_NE(html.find(want), std::string::npos) << want;
  }
}

TEST(ReportTest, TrajectoriesFollowStepsAndTheTurningPointIsReported) {
  const auto run = make_run("dynamics");
  report({run, "gnuplot", 1});
  // Complexity 1.0, 1.625, 1.9, 1.825 (+0.1 m): rises, then falls after step 2000.
  const auto dat = io::read_file(run / "report" / "figures" / "info_plane.dat");
  EXPECT_NE(dat.find("# pythia-160m\n1.1000000000000001 "), std::string::npos) << dat;
  const auto html = io::read_file(run / "report" / "index.html");
  EXPECT_NE(html.find("<tr><td>pythia-70m</td><td>4</td><td>2000</td>"), std::string::npos) << html.substr(0, 3000);
  EXPECT_NE(io::read_file(run / "report" / "figures" / "info_plane.gp").find("bound I(Y;Z) = I(X;Z)"), std::string::npos);
}

TEST(ReportTest, MissingRegressOutputsAreSaidOnThePage) {
  const auto run = make_run("nobench");
  const auto result = report({run});
  const auto html = io::read_file(result.path_index);
  EXPECT_NE(html.find("model_table.csv is absent"), std::string::npos);
  EXPECT_NE(html.find("correlations.csv is absent"), std::string::npos);
  EXPECT_EQ(result.figures,
            (std::vector<std::string>{"info_plane", "trajectories", "dynamics_pythia_160m", "plane_pythia_160m",
                                      "dynamics_pythia_70m", "plane_pythia_70m", "dynamics_smollm2_135m",
                                      "plane_smollm2_135m", "dynamics_smollm2_360m", "plane_smollm2_360m",
                                      "layer_checkpoint_pythia_160m", "layer_checkpoint_pythia_70m",
                                      "layer_checkpoint_smollm2_135m", "layer_checkpoint_smollm2_360m", "layer_profiles",
                                      "backoff"}));
  EXPECT_NE(html.find("no held-out loss (eval_loss rows)"), std::string::npos);
}

// Two models over 9 checkpoints, layers 0..4: in "fits-then-compresses" every layer's
// I(X;Z) rises to step 128 and then falls (by 0.1 in the upper layers) while I(Y;Z) holds
// and the held-out loss keeps improving; "only-fits" keeps rising. Scores per checkpoint.
fs::path make_two_phase_run(const std::string& name) {
  const auto run = fs::temp_directory_path() / ("ibzoo_report_test_" + name);
  fs::remove_all(run);
  fs::create_directories(run / "results");
  std::vector<io::MetricRow> rows;
  std::vector<std::vector<std::string>> scores;
  const std::vector<std::int64_t> steps = {0, 2, 8, 32, 128, 400, 800, 1200, 1600};
  for (const std::string model : {"fits-then-compresses", "only-fits"}) {
    const bool compresses = model == "fits-then-compresses";
    for (std::size_t k = 0; k < steps.size(); ++k) {
      const auto step = steps[k];
      const std::string ckpt = "step-" + std::to_string(step);
      auto add = [&](const std::string& layer, const std::string& label, const std::string& metric, double v) {
        rows.push_back({model, "gpt2", ckpt, step, layer, label, metric, v});
      };
      const double x = std::log(static_cast<double>(step) + 1.0);
      double mean_x = 0.0, mean_y = 0.0;
      for (int l = 0; l <= 4; ++l) {
        const double top = 0.2 + 0.05 * l;
        const double rise = std::min(1.0, x / std::log(129.0));
        const double fall = step > 128 ? (x - std::log(129.0)) / (std::log(1601.0) - std::log(129.0)) : 0.0;
        const double ix = top * rise + 0.05 - (compresses ? (l >= 3 ? 0.1 : 0.02) * fall : -0.02 * fall);
        const double iy = 0.6 * top * rise + 0.02;
        const auto L = std::to_string(l);
        add(L, "in1", "mutual_information", ix);
        add(L, "in1", "mi_ci_low", ix - 0.01);
        add(L, "in1", "mi_ci_high", ix + 0.01);
        add(L, "in1", "null_mutual_information", 0.01);
        add(L, "out1", "mutual_information", iy);
        add(L, "", "optimality", iy / ix);
        if (l > 0) mean_x += ix / 4.0, mean_y += iy / 4.0;
      }
      add("mean", "in1", "mutual_information", mean_x);
      add("mean", "out1", "mutual_information", mean_y);
      add("mean", "", "optimality", mean_y / mean_x);
      add("", "", "n_parameters", 1e6);
      add("", "", "eval_loss", 8.0 / (1.0 + x));
      add("", "", "train_loss", 7.9 / (1.0 + x));
      scores.push_back({model, "task", std::to_string(25.0 + 2.0 * x), ckpt});
    }
  }
  io::write_metrics_csv(run / "results" / "metrics.csv", rows);
  io::write_csv(run / "scores.csv", {"model", "benchmark", "score", "checkpoint"}, scores);
  RegressJob job;
  job.path_metrics = run / "results" / "metrics.csv";
  job.paths_benchmarks = {run / "scores.csv"};
  job.path_out = run / "results";
  job.n_bootstrap = 20;
  job.cv = "none";
  job.controls = {};
  job.every_checkpoint = true;
  regress(job);
  return run;
}

TEST(ReportTest, TwoPhasesAreCheckedLayerByLayerAndScoresFollowOptimalityOverTraining) {
  const auto run = make_two_phase_run("phases");
  const auto result = report({run});
  for (const auto* f : {"dynamics_fits_then_compresses", "plane_fits_then_compresses", "dynamics_only_fits",
                        "tasks_vs_optimality"}) {
    EXPECT_NE(std::find(result.figures.begin(), result.figures.end(), f), result.figures.end()) << f;
  }
  const auto models = io::read_csv(run / "report" / "phases_models.csv");
  ASSERT_EQ(models.rows.size(), 2u);
  EXPECT_EQ(models.rows[0], (std::vector<std::string>{"fits-then-compresses", "5", "3 4", "true", "true", "true"}));
  EXPECT_EQ(models.rows[1][0], "only-fits");
  EXPECT_EQ(models.rows[1].back(), "false");
  const auto layers = io::read_csv(run / "report" / "phases_layers.csv");
  ASSERT_EQ(layers.rows.size(), 10u);
  const auto& top = layers.rows[4];  // fits-then-compresses, layer 4
  EXPECT_EQ(top[0], "fits-then-compresses");
  EXPECT_EQ(top[1], "4");
  EXPECT_EQ(top[*layers.column("peak_step")], "128");
  EXPECT_EQ(top[*layers.column("best_step")], "1600");
  EXPECT_NEAR(std::stod(top[*layers.column("fall")]), 0.1, 1e-9);
  EXPECT_EQ(top[*layers.column("compresses")], "true");
  const auto html = io::read_file(result.path_index);
  EXPECT_NE(html.find("fits-then-compresses: both phases</b>"), std::string::npos);
  EXPECT_NE(html.find("only-fits: not both phases</b>"), std::string::npos);
  // The held-out loss panel and the best-loss marker are drawn from the eval_loss rows.
  const auto gp = io::read_file(run / "report" / "figures" / "dynamics_fits_then_compresses.gp");
  EXPECT_NE(gp.find("title 'held-out'"), std::string::npos);
  EXPECT_NE(gp.find("set arrow 1 from 1601"), std::string::npos) << "dotted line at the best-loss step + 1 (log axis)";
}

TEST(ReportTest, WithoutGnuplotThePageStillComesWithANote) {
  const auto run = make_run("nognuplot");
  const auto result = report({run, "/nonexistent/gnuplot"});
  EXPECT_TRUE(result.figures.empty());
  const auto html = io::read_file(result.path_index);
  EXPECT_NE(html.find("could not be rendered: gnuplot was not found"), std::string::npos) << html.substr(0, 2000);
}

TEST(ReportTest, ARunWithoutMetricsIsAMissingInput) {
  const auto run = fs::temp_directory_path() / "ibzoo_report_test_empty";
  fs::remove_all(run);
  fs::create_directories(run);
  try {
    report({run});
    FAIL() << "expected MissingInputError";
  } catch (const MissingInputError& e) {
    EXPECT_NE(std::string(e.what()).find("results/metrics.csv does not exist"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace ibzoo::stages
