// `ibzoo report RUN` (the run directory or the manifest): figures and one self-contained HTML page from a run's results
// (stages::report).
#include "errors/error.h"
#include "cli/command.h"
#include "pipeline/run_target.h"
#include "stages/report.h"

#include <iostream>

namespace ibzoo::cli {
namespace {

int report_command(const std::vector<std::string>& args) {
  CommandLine cli{"ibzoo report RUN [options]", po::options_description("options"), {"run"}, pipeline::kRunTargetHelp, ""};
  cli.options.add_options()
      ("run-dir", po::value<std::string>(), "run directory (overrides the manifest's run_dir when RUN is a manifest)")
      ("gnuplot", po::value<std::string>()->default_value("gnuplot"), "gnuplot executable")
      ("smoothing", po::value<std::size_t>()->default_value(3), "checkpoints in the moving average for the turning point (odd)")
      ("min-fall", po::value<double>()->default_value(0.05), "the fall of a layer's I(X;Z) (log m units) that counts as compression in the two-phase check");
  const auto vm = parse_command_line(cli, args);
  if (!vm) return 0;
  stages::ReportJob job;
  job.path_run = pipeline::resolve_run_target((*vm)["run"].as<std::string>(),
                                    vm->count("run-dir") ? std::optional((*vm)["run-dir"].as<std::string>()) : std::nullopt);
  job.gnuplot = (*vm)["gnuplot"].as<std::string>();
  job.smoothing_window = (*vm)["smoothing"].as<std::size_t>();
  if (job.smoothing_window % 2 == 0) throw UsageError("--smoothing must be odd, got " + std::to_string(job.smoothing_window));
  job.min_fall = (*vm)["min-fall"].as<double>();
  if (!(job.min_fall >= 0.0)) throw UsageError("--min-fall must be >= 0");
  const auto result = stages::report(job);
  std::cout << result.path_index.string() << "\n";
  return 0;
}

const bool kRegistered = register_command({"report", "write <run>/report/index.html with figures and tables", report_command});

}  // namespace
}  // namespace ibzoo::cli
