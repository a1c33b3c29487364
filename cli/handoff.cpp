#include "cli/handoff.h"

#include "errors/error.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>

namespace ibzoo::cli {

namespace fs = std::filesystem;

const std::vector<ModelCommand>& model_commands() {
  static const std::vector<ModelCommand> commands = {
      {"evaluate", "score a model (or every checkpoint of a zoo) on multiple-choice task files (lm-evaluation-harness results JSON)"},
      {"extract", "run one model over one text file and write every layer's hidden states to HDF5"},
      {"make-tasks", "make multiple-choice task files from the demo zoo's held-out text"},
      {"train", "train (or reuse) the demo model zoo of a zoo manifest"},
  };
  return commands;
}

std::string model_command_summary(const std::string& name) {
  for (const auto& c : model_commands()) {
    if (c.name == name) return c.summary;
  }
  throw Error("internal: '" + name + "' is not a model command (cli/handoff.cpp)");
}

namespace {

// The --stage value of a `run` command line ("--stage X" or "--stage=X"), else "all".
std::string run_stage(const std::vector<std::string>& args) {
  for (std::size_t i = 1; i < args.size(); ++i) {
    if (args[i] == "--stage" && i + 1 < args.size()) return args[i + 1];
    if (args[i].starts_with("--stage=")) return args[i].substr(8);
  }
  return "all";
}

}  // namespace

bool needs_model(const std::vector<std::string>& args) {
  if (args.empty()) return false;
  const auto& commands = model_commands();
  if (std::any_of(commands.begin(), commands.end(), [&](const auto& c) { return c.name == args[0]; })) return true;
  if (args[0] != "run") return false;
  const auto stage = run_stage(args);
  return stage != "metrics" && stage != "reduce" && stage != "analyze";
}

void hand_off(char** argv) {
  std::error_code ec;
  const auto self = fs::read_symlink("/proc/self/exe", ec);
  const auto sibling = (ec ? fs::path("ibzoo") : self).parent_path() / "ibzoo-torch";
  // libtorch's OpenMP threads spin after each parallel region by default. Beside the
  // accumulator's own threads, another rank, or anything else on the node's cores, the
  // spinning takes the cores the work needs (a 100k-position CPU study next to a compile:
  // 45 s spinning, 13 s sleeping). libgomp reads this when it loads, so it is set here,
  // before ibzoo-torch starts; a value the user set is kept.
  ::setenv("OMP_WAIT_POLICY", "PASSIVE", 0);
  ::execv(sibling.c_str(), argv);
  throw Error("cannot start " + sibling.string() + " (" + std::strerror(errno) + "): `ibzoo " + argv[1] +
              "` runs a model, which ibzoo hands to ibzoo-torch; build or install the two side by side");
}

}  // namespace ibzoo::cli
