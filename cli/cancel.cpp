// `ibzoo cancel RUN` (the run directory or the manifest): scancels the run's recorded Slurm jobs that are still queued or running.
#include "io/log.h"
#include "cli/command.h"
#include "pipeline/run_target.h"
#include "slurm/jobs.h"

#include <filesystem>
#include <iostream>

namespace ibzoo::cli {
namespace {

int run_cancel(const std::vector<std::string>& args) {
  CommandLine cli{"ibzoo cancel RUN [options]", po::options_description("options"), {"run"}, pipeline::kRunTargetHelp,
                  "cancel: 1 when scancel fails and a job is still queued or running"};
  cli.options.add_options()
      ("run-dir", po::value<std::string>(), "run directory (overrides the manifest's run_dir when RUN is a manifest)");
  const auto vm = parse_command_line(cli, args);
  if (!vm) return 0;
  const auto path_run = pipeline::resolve_run_target(vm->at("run").as<std::string>(),
                                           vm->count("run-dir") ? std::optional(vm->at("run-dir").as<std::string>()) : std::nullopt);
  if (!std::filesystem::exists(path_run / "slurm" / "jobs.json")) {
    io::log_info("cancel: " + path_run.string() + " has no slurm/jobs.json; no jobs were submitted for it");
    return 0;
  }
  const auto cancelled = slurm::cancel_jobs(path_run);
  if (cancelled.empty()) io::log_info("cancel: no job of " + path_run.string() + " is queued or running");
  for (const auto& id : cancelled) std::cout << "cancelled " << id << "\n";
  return 0;
}

const bool kRegistered =
    register_command({"cancel", "cancel the run's Slurm jobs that are still queued or running", run_cancel});

}  // namespace
}  // namespace ibzoo::cli
