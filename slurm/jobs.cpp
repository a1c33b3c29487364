// Recorded jobs: squeue, scancel, scontrol.
#include "slurm/jobs.h"

#include "errors/error.h"
#include "io/fs.h"
#include "io/log.h"
#include "io/text.h"
#include "slurm/process.h"

#include <array>
#include <ctime>
#include <map>
#include <regex>
#include <set>
#include <sstream>

namespace ibzoo::slurm {

namespace fs = std::filesystem;
using io::join;

namespace {

JobKind job_kind_from_string(const std::string& s) {
  // "extract" and "reduce": the names of these jobs before the streaming estimate.
  if (s == "accumulate" || s == "extract") return JobKind::kAccumulate;
  if (s == "metrics" || s == "reduce") return JobKind::kMetrics;
  if (s == "analyze") return JobKind::kAnalyze;
  throw CorruptDataError("jobs.json: unknown job kind \"" + s + "\"; expected accumulate, metrics or analyze");
}

}  // namespace

std::string run_slurm(const std::vector<std::string>& argv) {
  const auto r = run_process(argv);
  if (r.exit_code != 0) {
    std::string err = r.err.empty() ? r.out : r.err;
    while (!err.empty() && (err.back() == '\n' || err.back() == ' ')) err.pop_back();
    throw Error("'" + join(argv, " ") + "' failed (exit " + std::to_string(r.exit_code) + "): " + err +
                "; check that the cluster is reachable (SLURM_CONF, munge) and the options are valid");
  }
  // What the client says besides its answer (sbatch's warnings about the options, the
  // partition or the account) is for the user: pass it on.
  std::istringstream lines(r.err);
  for (std::string line; std::getline(lines, line);) {
    if (!line.empty()) io::log_warn(line);
  }
  return r.out;
}

fs::path jobs_path(const fs::path& path_run) { return path_run / "slurm" / "jobs.json"; }

nlohmann::json read_jobs_file(const fs::path& path_run) {
  const auto path = jobs_path(path_run);
  if (!fs::exists(path)) return {{"submissions", nlohmann::json::array()}};
  try {
    auto j = nlohmann::json::parse(io::read_file(path));
    if (!j.contains("submissions") || !j["submissions"].is_array()) throw CorruptDataError("");
    return j;
  } catch (const std::exception&) {
    throw CorruptDataError(path.string() + ": not a valid jobs record (expected {\"submissions\": [...]}); "
                           "cancel the run's jobs by hand with scancel and delete the file to start over");
  }
}

std::vector<RecordedJob> recorded_jobs(const nlohmann::json& submission) {
  std::vector<RecordedJob> jobs;
  for (const auto& j : submission.value("jobs", nlohmann::json::array())) {
    const auto id = j.value("job_id", std::string());
    if (!id.empty()) jobs.push_back({id, job_kind_from_string(j.value("kind", std::string()))});
  }
  return jobs;
}

// squeue -t all lists jobs slurmctld still remembers (MinJobAge), array tasks one by one.
std::vector<JobState> squeue_states(const std::vector<RecordedJob>& jobs) {
  std::vector<JobState> states;
  if (jobs.empty()) return states;
  const auto out = run_slurm({"squeue", "--noheader", "--array", "--states=all", "--format=%F|%i|%T|%r"});
  std::map<std::string, JobKind> kinds;
  for (const auto& j : jobs) kinds[j.job_id] = j.kind;
  std::set<std::string> seen;
  std::istringstream is(out);
  for (std::string line; std::getline(is, line);) {
    std::vector<std::string> f;
    std::istringstream ls(line);
    for (std::string field; std::getline(ls, field, '|');) f.push_back(field);
    if (f.size() < 4) continue;
    // %F is the array job id (the job id itself for a non-array job).
    const auto it = kinds.find(f[0]);
    if (it == kinds.end()) continue;
    seen.insert(f[0]);
    states.push_back({f[1], it->second, f[2], f[3] == "None" ? "" : f[3]});
  }
  for (const auto& j : jobs) {
    if (!seen.count(j.job_id)) states.push_back({j.job_id, j.kind, "UNKNOWN", "no longer known to slurmctld"});
  }
  return states;
}


bool is_active_state(const std::string& state) {
  static const std::set<std::string> active = {"PENDING",    "RUNNING",    "CONFIGURING", "COMPLETING", "REQUEUED",
                                               "REQUEUE_FED", "REQUEUE_HOLD", "RESIZING",  "SUSPENDED",  "STAGE_OUT",
                                               "SIGNALING",  "STOPPED",    "RESV_DEL_HOLD"};
  return active.count(state) > 0;
}

std::vector<JobState> query_jobs(const fs::path& path_run) {
  const auto record = read_jobs_file(path_run);
  if (record["submissions"].empty()) return {};
  return squeue_states(recorded_jobs(record["submissions"].back()));
}

std::vector<std::string> cancel_jobs(const fs::path& path_run) {
  const auto record = read_jobs_file(path_run);
  std::vector<RecordedJob> all;
  for (const auto& s : record["submissions"]) {
    for (auto& j : recorded_jobs(s)) all.push_back(j);
  }
  std::set<std::string> to_cancel;
  for (const auto& st : squeue_states(all)) {
    if (!is_active_state(st.state)) continue;
    // Array tasks ("123_4") are cancelled through their array job.
    to_cancel.insert(st.job_id.substr(0, st.job_id.find('_')));
  }
  std::vector<std::string> ids(to_cancel.begin(), to_cancel.end());
  if (ids.empty()) return ids;
  std::vector<std::string> argv = {"scancel"};
  argv.insert(argv.end(), ids.begin(), ids.end());
  const auto r = run_process(argv);
  // scancel fails when some task of an array (or a job, in a race) has already ended; that is
  // only an error if one of the jobs is still queued or running afterwards.
  if (r.exit_code != 0) {
    for (const auto& st : squeue_states(all)) {
      const bool ours = to_cancel.count(st.job_id.substr(0, st.job_id.find('_'))) > 0;
      if (ours && (st.state == "PENDING" || st.state == "RUNNING")) {
        throw Error("'scancel " + join(ids, " ") + "' failed (exit " + std::to_string(r.exit_code) + "): " + r.err +
                    "; job " + st.job_id + " is still " + st.state);
      }
    }
  }
  return ids;
}

int cluster_max_array_size() {
  const auto out = run_slurm({"scontrol", "show", "config"});
  static const std::regex line(R"(MaxArraySize\s*=\s*([0-9]+))");
  std::smatch m;
  if (!std::regex_search(out, m, line)) {
    throw Error("'scontrol show config' printed no MaxArraySize; set slurm.max_array_size in the manifest");
  }
  return std::stoi(m[1].str());
}

// ---------------------------------------------------------------------------------------
// Submission
// ---------------------------------------------------------------------------------------

}  // namespace ibzoo::slurm
