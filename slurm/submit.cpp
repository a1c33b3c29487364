// Submission: what is unfinished, as arrays, then metrics and analysis.
#include "slurm/submit.h"

#include "errors/error.h"
#include "io/fs.h"
#include "io/log.h"
#include "io/text.h"
#include "slurm/arrays.h"
#include "slurm/jobs.h"

#include <algorithm>
#include <array>
#include <ctime>
#include <optional>
#include <sstream>

namespace ibzoo::slurm {

namespace fs = std::filesystem;
using io::join;

constexpr int kSlurmDefaultMaxArraySize = 1001;  // Slurm's own default

namespace {

std::string now_utc() {
  const auto t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  std::array<char, 32> buf{};
  std::strftime(buf.data(), buf.size(), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf.data();
}

// Jobs of earlier submissions that are still queued or running block a resubmission,
// except those that can never run (an afterok on a failed or cancelled job).
void check_no_active_jobs(const fs::path& path_run) {
  const auto record = read_jobs_file(path_run);
  std::vector<RecordedJob> all;
  for (const auto& s : record["submissions"]) {
    for (auto& j : recorded_jobs(s)) all.push_back(j);
  }
  std::vector<std::string> dead, active;
  for (const auto& st : squeue_states(all)) {
    if (!is_active_state(st.state)) continue;
    (st.reason == "DependencyNeverSatisfied" ? dead : active).push_back(st.job_id);
  }
  if (!active.empty()) {
    throw Error("run " + path_run.string() + " still has queued or running jobs (" + join(active, ", ") +
                "); wait for them, or stop them with `ibzoo cancel " + path_run.string() + "`, then submit again");
  }
  if (!dead.empty()) {
    std::vector<std::string> argv = {"scancel"};
    argv.insert(argv.end(), dead.begin(), dead.end());
    run_slurm(argv);
  }
}

struct JobPlan {
  std::vector<std::pair<JobKind, std::optional<ArrayChunk>>> jobs;
};

JobPlan plan_jobs(const SubmitOptions& opt, const std::vector<int>& todo, int max_array_size) {
  JobPlan plan;
  const bool all_done = todo.empty();
  if (all_done && fs::exists(opt.path_run / "slurm" / "analyze.done")) return plan;
  for (const auto& chunk : split_into_arrays(todo, max_array_size, opt.config.array_throttle)) {
    plan.jobs.emplace_back(JobKind::kAccumulate, chunk);
  }
  plan.jobs.emplace_back(JobKind::kMetrics, std::nullopt);
  plan.jobs.emplace_back(JobKind::kAnalyze, std::nullopt);
  return plan;
}

std::string sbatch_line(const std::vector<std::string>& argv) {
  std::string out;
  for (const auto& a : argv) out += (out.empty() ? "" : " ") + shell_quote(a);
  return out;
}

void append_record(const SubmitOptions& opt, const SubmitResult& result) {
  auto record = read_jobs_file(opt.path_run);
  nlohmann::json jobs = nlohmann::json::array();
  for (const auto& j : result.jobs) {
    jobs.push_back({{"job_id", j.job_id}, {"kind", to_string(j.kind)}, {"sbatch", j.argv}, {"slices", j.slices}});
  }
  record["submissions"].push_back({{"time", now_utc()},
                                   {"manifest", opt.path_manifest.string()},
                                   {"n_items", opt.item_ids.size()},
                                   {"n_slices", result.n_slices},
                                   {"items_per_task", opt.config.items_per_task},
                                   {"max_array_size", result.max_array_size},
                                   {"jobs", jobs}});
  io::write_file_atomic(jobs_path(opt.path_run), record.dump(2) + "\n");
}

// MaxArraySize: the manifest's, capped by the cluster's. A dry run may be made away
// from the cluster: it falls back to the manifest or Slurm's default.
int array_size_limit(const SubmitOptions& opt) {
  int size = opt.config.max_array_size;
  try {
    const int cluster = cluster_max_array_size();
    size = size > 0 ? std::min(size, cluster) : cluster;
  } catch (const Error& e) {
    if (!opt.dry_run) throw;
    if (size <= 0) size = kSlurmDefaultMaxArraySize;
    io::log_warn(std::string("submit --dry-run: cannot ask the cluster for MaxArraySize (") + e.what() +
                 "); assuming " + std::to_string(size));
  }
  return size;
}

// <run>/slurm/<kind>.sbatch for every kind of job, or (dry run) the scripts into `dry`.
void write_scripts(const SubmitOptions& opt, const SubmitContext& ctx, std::ostream& dry) {
  const auto dir = opt.path_run / "slurm";
  for (const auto kind : {JobKind::kAccumulate, JobKind::kMetrics, JobKind::kAnalyze}) {
    const auto text = make_script(ctx, kind);
    if (opt.dry_run) {
      dry << "==> " << (dir / (to_string(kind) + ".sbatch")).string() << " <==\n" << text << "\n";
    } else {
      fs::create_directories(dir / "logs");
      io::write_file_atomic(dir / (to_string(kind) + ".sbatch"), text);
    }
  }
  if (!opt.dry_run) fs::remove(dir / "analyze.done");
}

}  // namespace

SubmitResult submit(const SubmitOptions& opt) {
  SubmitResult result;
  result.n_slices = count_slices(opt.item_ids.size(), opt.config.items_per_task);
  result.max_array_size = array_size_limit(opt);
  if (!opt.dry_run) check_no_active_jobs(opt.path_run);

  const SubmitContext ctx{opt.path_ibzoo, opt.path_manifest, opt.path_run, opt.config, result.n_slices};
  const auto todo = unfinished_slices(opt.path_run, opt.item_ids, result.n_slices);
  result.n_slices_submitted = static_cast<int>(todo.size());
  const auto plan = plan_jobs(opt, todo, result.max_array_size);
  if (plan.jobs.empty()) return result;

  std::ostringstream dry;
  write_scripts(opt, ctx, dry);

  // In a dry run the job ids are placeholders such as <accumulate-0>.
  std::vector<std::string> array_ids;
  std::string metrics_id;
  try {
    for (const auto& [kind, chunk] : plan.jobs) {
      const auto after = kind == JobKind::kAccumulate  ? std::vector<std::string>{}
                         : kind == JobKind::kMetrics ? array_ids
                                                    : std::vector<std::string>{metrics_id};
      SubmittedJob job;
      job.kind = kind;
      job.argv = sbatch_argv(ctx, kind, chunk, after);
      if (chunk) {
        for (const int i : chunk->indices) job.slices.push_back(chunk->offset + i);
      }
      if (opt.dry_run) {
        dry << sbatch_line(job.argv) << "\n";
        job.job_id = "<" + to_string(kind) + (chunk ? "-" + std::to_string(array_ids.size()) : "") + ">";
      } else {
        const auto out = run_slurm(job.argv);
        job.job_id = out.substr(0, out.find_first_of(";\n"));  // --parsable prints "id" or "id;cluster"
        io::log_info(sbatch_line(job.argv) + ": submitted job " + job.job_id);
      }
      if (kind == JobKind::kAccumulate) array_ids.push_back(job.job_id);
      if (kind == JobKind::kMetrics) metrics_id = job.job_id;
      result.jobs.push_back(job);
    }
  } catch (const Error&) {
    // Record what did get submitted, so that `ibzoo cancel` and `status` still see it.
    if (!opt.dry_run && !result.jobs.empty()) append_record(opt, result);
    throw;
  }
  result.dry_run_text = dry.str();
  if (!opt.dry_run) append_record(opt, result);
  return result;
}

}  // namespace ibzoo::slurm
