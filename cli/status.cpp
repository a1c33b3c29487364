// `ibzoo status RUN`: done / failed / pending per model and checkpoint from the done
// markers, the failed items with their errors, who runs in the directory now, and the
// Slurm state of the run's jobs. Exits 1 when an item failed.
#include "errors/error.h"
#include "io/fs.h"
#include "io/run_dir.h"
#include "io/run_lock.h"
#include "cli/command.h"
#include "pipeline/run_target.h"
#include "slurm/jobs.h"

#include <nlohmann/json.hpp>

#include <cstdio>
#include <map>

namespace ibzoo::cli {
namespace {

struct Counts {
  int done = 0, failed = 0, pending = 0;
};

void print_slurm(const std::filesystem::path& run_dir) {
  if (!std::filesystem::exists(run_dir / "slurm" / "jobs.json")) return;
  std::vector<slurm::JobState> jobs;
  try {
    jobs = slurm::query_jobs(run_dir);
  } catch (const Error& e) {
    std::printf("\nslurm: cannot query jobs (%s)\n", e.what());
    return;
  }
  std::map<std::string, int> by_state;
  for (const auto& j : jobs) by_state[to_string(j.kind) + " " + j.state]++;
  std::printf("\nslurm jobs of the latest submission:\n");
  for (const auto& [state, n] : by_state) std::printf("  %-28s %d\n", state.c_str(), n);
}

// <run>/plan.json, which `ibzoo run` and `ibzoo submit` write first.
nlohmann::json read_plan(const std::filesystem::path& run_dir) {
  const auto plan_path = run_dir / "plan.json";
  if (!std::filesystem::exists(plan_path)) {
    throw MissingInputError(plan_path.string() + ": not found; is " + run_dir.string() +
                            " a run directory? (`ibzoo run` or `ibzoo submit` creates it)");
  }
  try {
    return nlohmann::json::parse(io::read_file(plan_path, 1u << 30));
  } catch (const nlohmann::json::exception& e) {
    throw CorruptDataError(plan_path.string() + ": not valid JSON (" + e.what() + "); rerun `ibzoo run` to rewrite it");
  }
}

int status_command(const std::vector<std::string>& args) {
  CommandLine cli{"ibzoo status RUN [options]", po::options_description("options"), {"run"}, pipeline::kRunTargetHelp,
                  "status: 0 no item failed (done or pending), 1 at least one item failed, 2 RUN is no run"};
  cli.options.add_options()
      ("run-dir", po::value<std::string>(), "run directory (overrides the manifest's run_dir when RUN is a manifest)")
      ("failed", "list every failed item with its error (default: the first 20)");
  const auto vm = parse_command_line(cli, args);
  if (!vm) return 0;
  const auto run_dir = pipeline::resolve_run_target((*vm)["run"].as<std::string>(),
                                          vm->count("run-dir") ? std::optional((*vm)["run-dir"].as<std::string>()) : std::nullopt);
  const auto plan = read_plan(run_dir);
  const io::RunDir run(run_dir);
  std::map<std::pair<std::string, std::string>, Counts> counts;
  std::vector<std::pair<std::string, nlohmann::json>> failures;
  Counts total;
  for (const auto& item : plan["items"]) {
    const auto id = item["id"].get<std::string>();
    auto& c = counts[{item["model"].get<std::string>(), item["checkpoint"].get<std::string>()}];
    switch (run.state(id)) {
      case io::ItemState::kDone: ++c.done; ++total.done; break;
      case io::ItemState::kFailed:
        ++c.failed;
        ++total.failed;
        failures.emplace_back(id, *run.failure(id));
        break;
      case io::ItemState::kPending: ++c.pending; ++total.pending; break;
    }
  }
  std::printf("run %s (study %s): %zu items\n", run_dir.c_str(), plan.value("study", "").c_str(), plan["items"].size());
  std::printf("%-28s %-32s %6s %6s %8s\n", "model", "checkpoint", "done", "failed", "pending");
  for (const auto& [key, c] : counts) {
    std::printf("%-28s %-32s %6d %6d %8d\n", key.first.c_str(), key.second.c_str(), c.done, c.failed, c.pending);
  }
  std::printf("%-28s %-32s %6d %6d %8d\n", "total", "", total.done, total.failed, total.pending);
  const bool results = std::filesystem::exists(run_dir / "results" / "metrics.csv");
  std::printf("results: %s\n", results ? (run_dir / "results" / "metrics.csv").c_str() : "no metrics yet");
  for (const auto& holder : io::live_lock_holders(run_dir)) {
    std::printf("running now: %s\n", holder.describe().c_str());
  }
  const std::size_t shown = vm->count("failed") ? failures.size() : std::min<std::size_t>(20, failures.size());
  if (!failures.empty()) std::printf("\nfailed items:\n");
  for (std::size_t i = 0; i < shown; ++i) {
    std::printf("  %s: %s\n", failures[i].first.c_str(), failures[i].second.value("error", "").c_str());
  }
  if (shown < failures.size()) std::printf("  ... and %zu more (--failed lists all)\n", failures.size() - shown);
  print_slurm(run_dir);
  if (total.failed > 0) {
    std::printf("\nexit code 1: %d item(s) failed; fix their inputs and run the study again (finished items are kept)\n",
                total.failed);
    return 1;
  }
  return 0;
}

const bool kRegistered = register_command({"status", "done / failed / pending items of a run, and its Slurm jobs", status_command});

}  // namespace
}  // namespace ibzoo::cli
