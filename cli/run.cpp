// `ibzoo run MANIFEST`: the whole study, or one stage of it, on every rank of the job.
#include "errors/error.h"
#include "io/log.h"
#include "io/mpi.h"
#include "cli/command.h"
#include "pipeline/preflight.h"
#include "pipeline/run.h"

#include <fstream>

namespace ibzoo::cli {
namespace {

// One line per rank on stderr ("[rank R] peak memory VmHWM: N kB"; benchmarks parse it).
void log_peak_memory() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmHWM:", 0) == 0) io::log_info("peak memory " + line);
  }
}

int run_command(const std::vector<std::string>& args) {
  CommandLine cli{"ibzoo run MANIFEST [options]   (under mpirun/srun: all ranks share the work)",
                  po::options_description("options"), {"manifest"},
                  "  MANIFEST   the study manifest (YAML, docs/MANIFEST.md); its run_dir must be new, empty,\n"
                  "             or a run of the same study (a manifest may add models, checkpoints, benchmarks)",
                  "run: 1 also when an item failed (the others are kept), a signal stopped the run, or another\n"
                  "            process works in the run directory; 2 when the run directory holds another study"};
  cli.options.add_options()
      ("run-dir", po::value<std::string>(), "run directory (overrides the manifest's run_dir)")
      ("stage", po::value<std::string>()->default_value("all"),
       "all | accumulate (labels, forward passes and label tables) | metrics | analyze")
      ("slice", po::value<std::string>(), "K/N: accumulate only the K-th (0-based) of N contiguous slices of the plan")
      ("tokens-per-batch", po::value<std::int64_t>(), "override compute.tokens_per_batch")
      ("memory-budget", po::value<std::string>(),
       "override compute.memory_budget: memory per rank (device memory on a GPU), e.g. 40GiB, or auto; "
       "the label tables are split into layer groups to fit it, with identical results")
      ("memory-report", "at the end, every rank logs its peak resident memory (VmHWM)")
      ("progress", po::value<std::string>()->default_value("auto"),
       "auto | lines | live | off: the accumulate stage's progress over all ranks (items of the study, positions/s, "
       "time left); auto: a live line on a terminal, else a line per --progress-interval; off with --quiet "
       "unless given")
      ("progress-interval", po::value<double>()->default_value(30, "30"), "seconds between progress lines")
      ("quiet,q", "print only warnings and errors (and progress lines when --progress is given)");
  const auto vm = parse_command_line(cli, args);
  if (!vm) return 0;
  int argc = 0;
  char** argv = nullptr;
  io::MpiSession mpi(&argc, &argv);
  if (vm->count("quiet")) io::set_quiet(true);

  pipeline::RunOptions options;
  options.path_manifest = (*vm)["manifest"].as<std::string>();
  if (vm->count("run-dir")) options.run_dir = (*vm)["run-dir"].as<std::string>();
  options.stage = pipeline::parse_stage((*vm)["stage"].as<std::string>());
  if (vm->count("slice")) options.slice = pipeline::parse_slice((*vm)["slice"].as<std::string>());
  if (vm->count("tokens-per-batch")) options.tokens_per_batch = (*vm)["tokens-per-batch"].as<std::int64_t>();
  if (vm->count("memory-budget")) options.memory_budget = (*vm)["memory-budget"].as<std::string>();
  options.progress = io::parse_progress_mode((*vm)["progress"].as<std::string>());
  if (vm->count("quiet") && (*vm)["progress"].defaulted()) options.progress = io::ProgressMode::kOff;
  const auto interval_s = (*vm)["progress-interval"].as<double>();
  if (!(interval_s > 0)) throw UsageError("--progress-interval must be > 0 seconds, got " + default_text(interval_s));
  options.progress_interval = std::chrono::milliseconds(static_cast<std::int64_t>(interval_s * 1000));

  const auto summary = pipeline::run_study(options, mpi.world());
  if (vm->count("memory-report")) log_peak_memory();
  if (summary.interrupted) {
    io::log_warn("interrupted: finished items are kept; run the same command again to continue");
    return 1;
  }
  if (mpi.world().rank() == 0) {
    io::log_info("done: " + std::to_string(summary.n_items) + " items (" + std::to_string(summary.n_computed) +
                 " computed now, " + std::to_string(summary.n_done_before) + " from earlier runs)");
  }
  return 0;
}

const bool kRegistered = register_command({"run", "run a study (or one stage of it) from a manifest", run_command});

}  // namespace
}  // namespace ibzoo::cli
