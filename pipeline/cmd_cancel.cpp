// `ibzoo cancel RUN`: scancels the run's recorded Slurm jobs that are still queued or running.
#include "io/log.h"
#include "pipeline/command.h"
#include "pipeline/slurm.h"

#include <filesystem>
#include <iostream>

namespace ibzoo::pipeline {
namespace {

int run_cancel(const std::vector<std::string>& args) {
  CommandLine cli{"ibzoo cancel RUN", po::options_description("options"), {"run"}};
  const auto vm = parse_command_line(cli, args);
  if (!vm) return 0;
  const std::filesystem::path path_run = vm->at("run").as<std::string>();
  if (!std::filesystem::exists(path_run / "slurm" / "jobs.json")) {
    io::log_info("cancel: " + path_run.string() + " has no slurm/jobs.json; no jobs were submitted for it");
    return 0;
  }
  const auto cancelled = cancel_jobs(path_run);
  if (cancelled.empty()) io::log_info("cancel: no job of " + path_run.string() + " is queued or running");
  for (const auto& id : cancelled) std::cout << "cancelled " << id << "\n";
  return 0;
}

const bool kRegistered =
    register_command({"cancel", "cancel the run's Slurm jobs that are still queued or running", run_cancel});

}  // namespace
}  // namespace ibzoo::pipeline
