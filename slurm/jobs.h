// The jobs of a run's submissions, recorded in <run>/slurm/jobs.json: their state from
// squeue (no accounting database), cancelling them, and the cluster's MaxArraySize.
#pragma once

#include "slurm/script.h"

#include <nlohmann/json.hpp>

#include <filesystem>
#include <string>
#include <vector>

namespace ibzoo::slurm {

// State of one recorded job (array tasks are listed one by one, e.g. "123_4").
struct JobState {
  std::string job_id;
  JobKind kind = JobKind::kAccumulate;
  std::string state;                 // squeue's state, e.g. PENDING, RUNNING, COMPLETED;
                                     // "UNKNOWN" once slurmctld has forgotten the job
  std::string reason;                // squeue's reason (e.g. Dependency), may be empty
  bool operator==(const JobState&) const = default;
};

// The Slurm state of the jobs of the run's latest submission, from squeue (no accounting
// database). Empty when the run has no <run>/slurm/jobs.json. Throws Error when squeue fails.
std::vector<JobState> query_jobs(const std::filesystem::path& path_run);

// True for states in which a job still may run (PENDING, RUNNING, REQUEUED, ...).
bool is_active_state(const std::string& state);

// scancels every job of every recorded submission that is still queued or running.
// Returns the ids it cancelled (array jobs by their array id). Throws Error on failure.
std::vector<std::string> cancel_jobs(const std::filesystem::path& path_run);

// MaxArraySize from `scontrol show config`. Throws Error when scontrol fails.
int cluster_max_array_size();

// Runs a Slurm client; returns its stdout, passes its stderr on as warnings. Throws
// Error with its stderr (and what to check) when it fails.
std::string run_slurm(const std::vector<std::string>& argv);

// <run>/slurm/jobs.json: {"submissions": [...]}, empty when the file does not exist.
// Throws CorruptDataError when it is not a jobs record.
std::filesystem::path jobs_path(const std::filesystem::path& path_run);
nlohmann::json read_jobs_file(const std::filesystem::path& path_run);

// The jobs (with an id) that one submission of jobs.json records.
struct RecordedJob {
  std::string job_id;
  JobKind kind;
};
std::vector<RecordedJob> recorded_jobs(const nlohmann::json& submission);

// The squeue state of each of `jobs` ("UNKNOWN" for those slurmctld has forgotten).
std::vector<JobState> squeue_states(const std::vector<RecordedJob>& jobs);

}  // namespace ibzoo::slurm
