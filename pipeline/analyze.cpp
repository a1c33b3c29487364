// Data flow: metrics -> [analysis: correlations and regression -> report].
#include "pipeline/analyze.h"

#include "io/log.h"
#include "stages/regress.h"
#include "stages/report.h"

#include <algorithm>
#include <map>

namespace ibzoo::pipeline {

namespace {

scores::BenchmarkOptions benchmark_options(const BenchmarkSource& b) {
  scores::BenchmarkOptions o;
  o.format = b.format;
  o.normalise = b.normalise;
  o.tasks = b.tasks;
  o.metric = b.metric;
  o.filter = b.filter;
  o.model = b.model;
  o.checkpoint = b.checkpoint;
  o.allow_limit = b.allow_limit;
  o.duplicates = b.duplicates;
  return o;
}

std::map<std::string, std::string> aliases(const Manifest& manifest) {
  std::map<std::string, std::string> out;
  for (const auto& b : manifest.benchmarks) {
    for (const auto& a : b.aliases) {
      const auto eq = a.find('=');
      out[a.substr(0, eq)] = a.substr(eq + 1);
    }
  }
  return out;
}

}  // namespace

void analyze(const Manifest& manifest, const io::RunDir& run) {
  if (manifest.benchmarks.empty()) {
    io::log_info("analysis: the manifest lists no benchmarks; correlations and regressions are skipped");
  } else {
    stages::RegressJob job;
    job.path_metrics = run.results() / "metrics.csv";
    for (const auto& b : manifest.benchmarks) job.benchmark_entries.emplace_back(b.file, benchmark_options(b));
    job.aliases = aliases(manifest);
    // A trajectory study whose score files name checkpoints is analysed per checkpoint.
    job.every_checkpoint_if_scored = true;
    job.path_out = run.results();
    job.predictors = manifest.analysis.predictors;
    job.controls = manifest.analysis.controls;
    job.cv = manifest.analysis.cv;
    job.n_bootstrap = static_cast<std::size_t>(manifest.analysis.bootstrap);
    job.seed = manifest.analysis.seed;
    const auto result = stages::regress(job);
    io::log_info("analysis: " + std::to_string(result.models.size()) + " models, " +
                 std::to_string(result.targets.size()) + " targets -> " + (run.results() / "correlations.csv").string());
  }
  if (manifest.analysis.report) {
    const auto report = stages::report({run.root()});
    io::log_info("report: " + report.path_index.string());
  }
}

}  // namespace ibzoo::pipeline
