// Slurm submission, monitoring and cancelling of a whole run.
// manifest -> plan -> (this file) sbatch scripts + job arrays -> `ibzoo run --stage ...` on the nodes.
//
// A run becomes: extraction job arrays (one array task per slice of the sorted plan,
// `ibzoo run --stage extract --slice K/N`), a reduce job (afterok on every array) and an
// analysis job (afterok on the reduce). Everything this writes lives in <run>/slurm/:
//   extract.sbatch, reduce.sbatch, analyze.sbatch   the generated scripts
//   jobs.json                                        every submission, its job ids, what they cover
//   logs/                                            the jobs' stdout/stderr
//   analyze.done                                     written by the analysis job when it succeeds
// Slurm is driven through its client commands (sbatch, squeue, scontrol, scancel), run as
// subprocesses from argument vectors (never through a shell). They need SLURM_CONF or the
// system config, as any Slurm client does. Nothing here is collective: call it on one process.
#pragma once

#include <nlohmann/json.hpp>

#include <cstddef>
#include <filesystem>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace YAML {
class Node;
}

namespace ibzoo::pipeline {

// The manifest's `slurm:` section (docs/SLURM.md). Empty strings and zeros mean "not set":
// the corresponding sbatch option is left out and the cluster's default applies.
struct SlurmConfig {
  std::string partition;
  std::string account;
  std::string qos;
  std::string time;                  // Slurm time limit, e.g. "02:00:00" or "1-00:00:00"
  int nodes = 1;
  int ntasks_per_node = 1;
  int gpus_per_node = 0;
  int cpus_per_task = 1;
  std::string mem;                   // per node, e.g. "16G"
  int array_throttle = 0;            // %K: at most K tasks of one array run at once; 0 = no limit
  int items_per_task = 1;            // slice size: work items per array task
  int max_array_size = 0;            // 0: read MaxArraySize from `scontrol show config`
  std::vector<std::string> launcher = {"srun", "--mpi=pmix"};  // split on whitespace
  std::vector<std::string> extra_flags;                        // extra #SBATCH lines, e.g. "--constraint=a100"
  int signal_grace_s = 120;          // USR1 this long before the time limit; 0: no signal
  bool operator==(const SlurmConfig&) const = default;
};

// parse_slurm_section's result: the config (defaults where a key is missing or invalid)
// and every problem found, each "FILE:LINE: slurm.KEY: message".
struct SlurmSection {
  SlurmConfig config;
  std::vector<std::string> errors;
};

// Validates a manifest's `slurm:` node (a map; a null/undefined node gives the defaults).
// Reports every problem at once (unknown keys, wrong types, out-of-range values, control
// characters) instead of throwing; `path_manifest` only labels the messages.
SlurmSection parse_slurm_section(const YAML::Node& slurm, const std::string& path_manifest);

// Round trip through the normalised manifest JSON (pipeline::Manifest::slurm).
// slurm_config_from_json throws ManifestError on a malformed object.
nlohmann::json to_json(const SlurmConfig& config);
SlurmConfig slurm_config_from_json(const nlohmann::json& j);

// Item range [first, second) of slice `k` of `n` contiguous slices over n_items sorted items.
// Balanced: slice sizes differ by at most one. Must match `ibzoo run --slice K/N`.
std::pair<std::size_t, std::size_t> slice_bounds(std::size_t n_items, int k, int n);

// Number of slices for n_items at items_per_task each: ceil(n_items / items_per_task).
int count_slices(std::size_t n_items, int items_per_task);

// Slices (sorted) with at least one item that has no <run>/items/<id>/DONE marker.
// `item_ids` is the plan in order.
std::vector<int> unfinished_slices(const std::filesystem::path& path_run,
                                   const std::vector<std::string>& item_ids, int n_slices);

// "0-3,5,7-9" for a sorted list of distinct non-negative integers.
std::string compress_ranges(const std::vector<int>& sorted);

// One extraction job array: tasks `indices` (each < max_array_size) of slices offset + index.
struct ArrayChunk {
  int offset = 0;
  std::vector<int> indices;
  std::string array_spec;            // the --array value, e.g. "0-4%2"
  bool operator==(const ArrayChunk&) const = default;
};

// Splits the slices to run into arrays whose task indices stay below max_array_size:
// slice s goes to the array with offset (s / max_array_size) * max_array_size.
std::vector<ArrayChunk> split_into_arrays(const std::vector<int>& slices, int max_array_size,
                                          int array_throttle);

// What the generated scripts refer to. Paths are absolute.
struct SubmitContext {
  std::filesystem::path path_ibzoo;     // the ibzoo executable the jobs run
  std::filesystem::path path_manifest;
  std::filesystem::path path_run;
  SlurmConfig config;
  int n_slices = 0;
};

enum class JobKind { kAccumulate, kMetrics, kAnalyze };
std::string to_string(JobKind kind);

// The text of <run>/slurm/<kind>.sbatch: #SBATCH resources, `set -euo pipefail`, the job id
// and node list, one `ibzoo run` launch with USR1/TERM forwarded to it, and a self-requeue
// when the time-limit signal came and the step did not finish. Extract scripts take the
// array offset as their only argument. Every value is shell-quoted.
std::string make_script(const SubmitContext& context, JobKind kind);

// The sbatch command line (argv) that submits `script` with --parsable, the log file
// under <run>/slurm/logs/, the array spec (extract) and the dependency (may be empty).
std::vector<std::string> sbatch_argv(const SubmitContext& context, JobKind kind,
                                     const std::optional<ArrayChunk>& chunk,
                                     const std::vector<std::string>& after_ok_job_ids);

// One job of a submission as recorded in jobs.json.
struct SubmittedJob {
  std::string job_id;                // empty in a dry run
  JobKind kind = JobKind::kAccumulate;
  std::vector<std::string> argv;     // the sbatch command line
  std::vector<int> slices;           // extract: the slices this array covers
  bool operator==(const SubmittedJob&) const = default;
};

struct SubmitOptions {
  std::filesystem::path path_ibzoo;
  std::filesystem::path path_manifest;
  std::filesystem::path path_run;
  SlurmConfig config;
  std::vector<std::string> item_ids;  // the plan, in order
  bool dry_run = false;
};

struct SubmitResult {
  std::vector<SubmittedJob> jobs;     // empty: nothing left to do
  int n_slices = 0;
  int n_slices_submitted = 0;
  int max_array_size = 0;
  std::string dry_run_text;           // the scripts and sbatch lines (dry run only)
};

// Submits what is not finished: the unfinished slices as job arrays, then reduce and
// analysis; only reduce + analysis when every item is done; nothing when analyze.done
// exists. Refuses (throws Error naming the jobs and `ibzoo cancel`) while jobs of an earlier
// submission are still queued or running; jobs that can never run (dependency never
// satisfied) are cancelled first. Writes the scripts and appends to jobs.json (not in a dry
// run). Throws Error when a Slurm command fails (its stderr in the message), WriteError.
SubmitResult submit(const SubmitOptions& options);

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

// A finished subprocess. run_process runs argv[0] (searched in PATH) with argv, no shell,
// capturing stdout and stderr. Throws Error when it cannot be started.
struct ProcessResult {
  int exit_code = 0;                 // 128 + signal when killed by a signal
  std::string out;
  std::string err;
};
ProcessResult run_process(const std::vector<std::string>& argv);

// Quotes one word for bash: 'it'\''s' style, or the word itself when it is plainly safe.
std::string shell_quote(const std::string& word);

}  // namespace ibzoo::pipeline
