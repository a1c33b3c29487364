// Data flow: metrics -> [analysis: correlations and regression -> report].
#include "pipeline/analyze.h"

#include "io/log.h"
#include "stages/regress.h"
#include "stages/report.h"

#include <algorithm>

namespace ibzoo::pipeline {

void analyze(const Manifest& manifest, const io::RunDir& run) {
  if (manifest.benchmarks.empty()) {
    io::log_info("analysis: the manifest lists no benchmarks; correlations and regressions are skipped");
  } else {
    stages::RegressJob job;
    job.path_metrics = run.results() / "metrics.csv";
    for (const auto& b : manifest.benchmarks) job.paths_benchmarks.push_back(b.file);
    job.path_out = run.results();
    job.predictors = manifest.analysis.predictors;
    job.controls = manifest.analysis.controls;
    job.cv = manifest.analysis.cv;
    job.n_bootstrap = static_cast<std::size_t>(manifest.analysis.bootstrap);
    job.seed = manifest.analysis.seed;
    job.benchmark_options.normalise =
        std::any_of(manifest.benchmarks.begin(), manifest.benchmarks.end(), [](const auto& b) { return b.normalise; });
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
