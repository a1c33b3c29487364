// `ibzoo submit MANIFEST [--run-dir DIR] [--dry-run]`: turns the run into Slurm jobs
// (accumulate job arrays, then metrics, then analysis); the work is in slurm/submit.
#include "errors/error.h"
#include "io/fs.h"
#include "io/log.h"
#include "io/run_dir.h"
#include "io/run_lock.h"
#include "cli/command.h"
#include "pipeline/manifest.h"
#include "pipeline/run_identity.h"
#include "pipeline/run_target.h"
#include "slurm/arrays.h"
#include "slurm/process.h"
#include "slurm/submit.h"

#include <nlohmann/json.hpp>
#include <yaml-cpp/yaml.h>

#include <filesystem>
#include <iostream>

namespace ibzoo::cli {
namespace {

namespace fs = std::filesystem;

YAML::Node load_yaml(const fs::path& path) {
  if (!fs::is_regular_file(path)) {
    throw MissingInputError("manifest " + path.string() + " does not exist; pass the path of a YAML manifest");
  }
  try {
    return YAML::LoadFile(path.string());
  } catch (const YAML::Exception& e) {
    throw ManifestError("manifest " + path.string() + ":" + std::to_string(e.mark.line + 1) + ": " + e.msg);
  }
}

// The plan comes from `ibzoo plan --json`, run by this same executable, so that
// submission and the jobs agree on the items and their order.
nlohmann::json plan_json(const fs::path& self, const fs::path& path_manifest, const fs::path& path_run) {
  const auto r = slurm::run_process({self.string(), "plan", path_manifest.string(), "--run-dir", path_run.string(), "--json"});
  if (r.exit_code != 0) {
    throw Error("`ibzoo plan " + path_manifest.string() + " --json` failed (exit " + std::to_string(r.exit_code) +
                "): " + r.err);
  }
  try {
    return nlohmann::json::parse(r.out);
  } catch (const nlohmann::json::exception& e) {
    throw Error(std::string("`ibzoo plan --json` printed no JSON (") + e.what() + ")");
  }
}

std::vector<std::string> item_ids(const nlohmann::json& plan) {
  std::vector<std::string> ids;
  try {
    for (const auto& item : plan.at("items")) ids.push_back(item.at("id").get<std::string>());
  } catch (const nlohmann::json::exception& e) {
    throw Error(std::string("`ibzoo plan --json` printed an unexpected plan (") + e.what() + ")");
  }
  return ids;
}

// The manifest's slurm: section; ManifestError listing every problem in it.
slurm::SlurmConfig read_slurm_config(const fs::path& path_manifest) {
  const auto manifest = load_yaml(path_manifest);
  auto section = slurm::parse_slurm_section(manifest["slurm"], path_manifest.string());
  if (!section.errors.empty()) {
    std::string message = "manifest " + path_manifest.string() + " has " + std::to_string(section.errors.size()) +
                          " error(s) in its slurm section:";
    for (const auto& e : section.errors) message += "\n  " + e;
    throw ManifestError(message);
  }
  return section.config;
}

// Another study, or changed settings, in this run directory: refused before any job is
// queued (the jobs would refuse it too, one by one); a live `run` there: likewise.
void check_run_directory(const fs::path& path_manifest, const fs::path& path_run, bool dry_run) {
  if (const auto refusal = io::RunDir(path_run).foreign_directory_problem(); !refusal.empty()) {
    throw UsageError(refusal);
  }
  auto study = pipeline::load_manifest(path_manifest);
  study.run_dir = path_run;
  // (Holders that are Slurm jobs are submit()'s to judge: it refuses while jobs of an
  // earlier submission are queued or running, whatever their locks say.)
  for (const auto& holder : io::live_lock_holders(path_run)) {
    if (!holder.slurm_job_id.empty()) continue;
    throw Error(path_run.string() + ": an ibzoo process is working in this run directory (" + holder.describe() +
                "); submit when it has finished, or stop it");
  }
  pipeline::check_identity(study, /*record=*/!dry_run);
}

void print_submitted(const slurm::SubmitOptions& opt, const slurm::SubmitResult& result) {
  if (opt.dry_run) std::cout << result.dry_run_text;
  if (result.jobs.empty()) {
    io::log_info("submit: every item is done and the analysis finished; nothing to submit for " +
                 opt.path_run.string());
    return;
  }
  io::log_info("submit: " + std::to_string(opt.item_ids.size()) + " items in " + std::to_string(result.n_slices) +
               " slices; " + std::to_string(result.n_slices_submitted) + " unfinished slices " +
               (opt.dry_run ? "would be submitted" : "submitted") + " (MaxArraySize " +
               std::to_string(result.max_array_size) + ")");
  for (const auto& job : result.jobs) {
    std::cout << to_string(job.kind) << " " << job.job_id;
    if (!job.slices.empty()) std::cout << " slices " << slurm::compress_ranges(job.slices);
    std::cout << "\n";
  }
}

int run_submit(const std::vector<std::string>& args) {
  CommandLine cli{"ibzoo submit MANIFEST [--run-dir DIR] [--dry-run]", po::options_description("options"),
                  {"manifest"},
                  "  MANIFEST   the study manifest (YAML, docs/MANIFEST.md) with a slurm: section (docs/SLURM.md)",
                  "submit: 1 also when sbatch fails or an ibzoo process works in the run directory"};
  cli.options.add_options()("run-dir", po::value<std::string>(), "run directory (default: the manifest's run_dir)")(
      "dry-run", "print the sbatch scripts and command lines; submit nothing");
  const auto vm = parse_command_line(cli, args);
  if (!vm) return 0;

  const auto path_manifest = fs::absolute(vm->at("manifest").as<std::string>()).lexically_normal();
  slurm::SubmitOptions opt;
  opt.config = read_slurm_config(path_manifest);
  opt.path_ibzoo = fs::canonical("/proc/self/exe");
  opt.path_manifest = path_manifest;
  opt.path_run = pipeline::resolve_run_target(path_manifest.string(),
                                    vm->count("run-dir") ? std::optional(vm->at("run-dir").as<std::string>()) : std::nullopt);
  opt.dry_run = vm->count("dry-run") > 0;
  check_run_directory(path_manifest, opt.path_run, opt.dry_run);
  const auto plan = plan_json(opt.path_ibzoo, opt.path_manifest, opt.path_run);
  opt.item_ids = item_ids(plan);
  if (!opt.dry_run) {
    // `ibzoo status` reads the plan from the run directory before any job has started.
    fs::create_directories(opt.path_run);
    io::write_file_atomic(opt.path_run / "plan.json", plan.dump(2) + "\n");
  }

  print_submitted(opt, slurm::submit(opt));
  return 0;
}

const bool kRegistered = register_command(
    {"submit", "submit the run to Slurm as job arrays (resubmitting runs only what is unfinished)", run_submit});

}  // namespace
}  // namespace ibzoo::cli
