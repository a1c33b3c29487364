// Data flow: accumulate -> merge -> [metrics: item sums -> results/] -> analysis.
#include "pipeline/results.h"

#include "errors/error.h"
#include "io/fs.h"
#include "io/log.h"
#include "io/metrics_csv.h"
#include "io/metrics_h5.h"
#include "stages/metrics.h"

#include <algorithm>
#include <map>

namespace ibzoo::pipeline {

namespace fs = std::filesystem;

namespace {

void check_all_done(const Study& study, const io::RunDir& run) {
  std::vector<std::string> missing;
  for (const auto& item : study.plan.items) {
    if (!run.is_done(item.id)) missing.push_back(item.id);
  }
  if (missing.empty()) return;
  std::string list;
  for (std::size_t i = 0; i < missing.size() && i < 10; ++i) list += " " + missing[i];
  throw Error("metrics: " + std::to_string(missing.size()) + " of " + std::to_string(study.plan.items.size()) +
              " items are not finished (" + list + (missing.size() > 10 ? " ..." : "") + "); run `ibzoo run " +
              study.manifest.source.string() + " --stage accumulate` or see `ibzoo status " + run.root().string() + "`");
}

// Two checkpoints whose weight files are byte-identical: a known hazard of public checkpoint series.
void warn_identical_weights(const std::vector<stages::GroupSummary>& summaries) {
  std::map<std::string, std::string> seen;
  for (const auto& s : summaries) {
    if (s.weights.is_null() || s.weights.empty()) continue;
    nlohmann::json w = s.weights;
    w.erase("config.json");
    const auto key = w.dump();
    const auto name = s.model + "/" + s.checkpoint;
    auto [it, inserted] = seen.emplace(key, name);
    if (!inserted) io::log_warn("checkpoints " + it->second + " and " + name + " have identical weight files (sha256); their results will coincide");
  }
}

std::vector<io::ReferencePointsRecord> reference_points(const io::RunDir& run) {
  std::vector<io::ReferencePointsRecord> points;
  std::error_code ec;
  if (!fs::exists(run.root() / "reference_points", ec)) return points;
  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator(run.root() / "reference_points")) {
    if (e.path().extension() == ".h5") files.push_back(e.path());
  }
  std::sort(files.begin(), files.end());
  for (const auto& f : files) points.push_back(io::read_reference_points(f));
  return points;
}

}  // namespace

void write_results(const Study& study, const io::RunDir& run) {
  check_all_done(study, run);
  const auto& m = study.manifest;
  const auto weighting = analysis::parse_weighting(m.estimator.weighting);
  std::vector<io::MetricRow> rows;
  std::vector<stages::GroupSummary> summaries;
  for (const auto& item : study.plan.items) {
    const auto& model = m.models[item.model_idx];
    const auto& checkpoint = model.checkpoints[item.checkpoint_idx];
    const stages::CheckpointInfo info{model.id, model.family, checkpoint.name, checkpoint.step,
                                      model.n_parameters.value_or(0.0)};
    auto metrics = stages::item_metrics(run, item.id, info, weighting);
    rows.insert(rows.end(), metrics.rows.begin(), metrics.rows.end());
    summaries.push_back(std::move(metrics.summary));
  }
  warn_identical_weights(summaries);
  // The three files change together or not at all (a full disk leaves the earlier ones).
  io::StagedFiles staged(run.results());
  io::write_metrics_csv(staged.path("metrics.csv"), rows);
  stages::write_summary_csv(staged.path("summary.csv"), summaries);
  io::write_metrics_h5(staged.path("metrics.h5"), rows, reference_points(run), to_json(m).dump());
  staged.commit();
  io::log_info("metrics: " + std::to_string(rows.size()) + " metric rows for " + std::to_string(summaries.size()) +
               " checkpoints -> " + (run.results() / "metrics.csv").string());
}

}  // namespace ibzoo::pipeline
