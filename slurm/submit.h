// Slurm submission of a whole run.
// manifest -> plan -> (this room) sbatch scripts + job arrays -> `ibzoo run --stage ...` on the nodes.
//
// A run becomes: accumulate job arrays (one array task per slice of the sorted plan,
// `ibzoo run --stage accumulate --slice K/N`), a metrics job (afterok on every array) and an
// analysis job (afterok on the metrics job). Everything this writes lives in <run>/slurm/:
//   accumulate.sbatch, metrics.sbatch, analyze.sbatch   the generated scripts
//   jobs.json                                            every submission, its job ids, what they cover
//   logs/                                                the jobs' stdout/stderr
//   analyze.done                                         written by the analysis job when it succeeds
// Slurm is driven through its client commands (sbatch, squeue, scontrol, scancel), run as
// subprocesses from argument vectors (slurm/process.h). They need SLURM_CONF or the
// system config, as any Slurm client does. Nothing here is collective: call it on one process.
#pragma once

#include "slurm/config.h"
#include "slurm/script.h"

#include <filesystem>
#include <string>
#include <vector>

namespace ibzoo::slurm {

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

}  // namespace ibzoo::slurm
