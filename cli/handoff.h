// Two executables, one command line. Loading libtorch costs a process ~0.6 s before
// main() (about 300 shared libraries), so `ibzoo` itself links no torch: it runs every
// command that runs no model (plan, status, entropy, regress, report, submit, cancel,
// tokenize, train-tokenizer, make-model, and `run --stage metrics|analyze`) and hands
// the others to `ibzoo-torch`, the executable with every command, which it finds beside
// itself (both are built into one folder and installed into one). The hand-off is an
// exec: same process id, arguments and environment, before MPI starts, so that
// mpirun, srun and Slurm see one process as before.
#pragma once

#include <string>
#include <vector>

namespace ibzoo::cli {

// A command that always runs a model: its summary for `ibzoo --help` (ibzoo-torch
// registers the command itself with the same summary).
struct ModelCommand {
  std::string name;
  std::string summary;
};
const std::vector<ModelCommand>& model_commands();
std::string model_command_summary(const std::string& name);

// Whether a command line (without the program name) runs a model: a model command, or
// `run` whose --stage includes the accumulate stage (all, the default, or accumulate).
bool needs_model(const std::vector<std::string>& args);

// Replaces this process with ibzoo-torch from this executable's folder, same argv.
// Returns only by throwing Error (ibzoo-torch missing or not executable).
[[noreturn]] void hand_off(char** argv);

}  // namespace ibzoo::cli
