// Subprocesses from argument vectors, never through a shell (Boost.Process).
#pragma once

#include <string>
#include <vector>

namespace ibzoo::slurm {

// A finished subprocess. run_process runs argv[0] (searched in PATH) with argv, no shell,
// capturing stdout and stderr. Throws Error when it cannot be started.
struct ProcessResult {
  int exit_code = 0;                 // 128 + signal when killed by a signal
  std::string out;
  std::string err;
};
ProcessResult run_process(const std::vector<std::string>& argv);

}  // namespace ibzoo::slurm
