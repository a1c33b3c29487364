// The sbatch scripts of a run (accumulate arrays, metrics, analyze) and the sbatch
// command lines that submit them.
#pragma once

#include "slurm/arrays.h"
#include "slurm/config.h"

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace ibzoo::slurm {

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

// Quotes one word for bash: 'it'\''s' style, or the word itself when it is plainly safe.
std::string shell_quote(const std::string& word);

}  // namespace ibzoo::slurm
