// main() of both executables, `ibzoo` (torch-free) and `ibzoo-torch` (every command;
// cli/handoff.h): dispatches to a subcommand and turns exceptions into exit codes
// (0 success, 1 runtime failure, 2 usage or input error: exit_code_for).
// IBZOO_RUNS_MODELS (set per executable by cli/CMakeLists.txt): 0 in ibzoo, which
// hands the commands that run a model to ibzoo-torch.
#include "errors/error.h"
#include "io/log.h"
#include "cli/command.h"
#include "cli/handoff.h"

#include <malloc.h>
#include <sys/prctl.h>

#include <algorithm>
#include <iostream>

namespace {

// The commands this executable runs and, in ibzoo, those it hands to ibzoo-torch.
std::vector<ibzoo::cli::Command> sorted_commands() {
  auto cmds = ibzoo::cli::commands();
  for (const auto& m : ibzoo::cli::model_commands()) {
    const bool here = std::any_of(cmds.begin(), cmds.end(), [&](const auto& c) { return c.name == m.name; });
    if (!here) cmds.push_back({m.name, m.summary, nullptr});
  }
  std::sort(cmds.begin(), cmds.end(), [](const auto& a, const auto& b) { return a.name < b.name; });
  return cmds;
}

void print_help() {
  std::cout << "ibzoo: how language models compress what they learn, over whole model zoos.\n\n"
               "usage: ibzoo <command> [options]   (ibzoo <command> --help for its options)\n"
               "       ibzoo --help | --version\n\n"
               "commands:\n";
  const auto cmds = sorted_commands();
  std::size_t width = 0;
  for (const auto& c : cmds) width = std::max(width, c.name.size());
  for (const auto& c : cmds) std::cout << "  " << c.name << std::string(width + 2 - c.name.size(), ' ') << c.summary << "\n";
  std::cout << "\noptions:\n"
               "  -h, --help   print this help and exit\n"
               "  --version    print the version (and git commit) and exit\n\n"
            << ibzoo::cli::kExitCodes << "\n";
}

}  // namespace

int main(int argc, char** argv) {
  // Freed blocks up to 32 MiB go back to the heap, not to the kernel, and the heap is
  // trimmed late: torch's host tensors of a forward pass are allocated and freed per
  // layer, and glibc's defaults mapped, zero-filled and unmapped them every time (half
  // of a CPU forward pass went to page faults). The peak memory is unchanged.
  mallopt(M_MMAP_THRESHOLD, 32 << 20);
  mallopt(M_TRIM_THRESHOLD, 256 << 20);
#if IBZOO_RUNS_MODELS
  // ibzoo hands the commands that run a model to this executable by exec: to ps, pgrep
  // and a run lock's reader the process stays "ibzoo", as it was before the split.
  ::prctl(PR_SET_NAME, "ibzoo", 0, 0, 0);
#endif
  const std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty() || args[0] == "--help" || args[0] == "-h" || args[0] == "help") {
    print_help();
    return args.empty() ? 2 : 0;
  }
  if (args[0] == "--version" || args[0] == "-V") {
    std::cout << "ibzoo " << ibzoo::io::version_string() << "\n";
    return 0;
  }
  if (!IBZOO_RUNS_MODELS && ibzoo::cli::needs_model(args)) {
    try {
      ibzoo::cli::hand_off(argv);
    } catch (const std::exception& e) {
      ibzoo::io::log_error(e.what());
      return 1;
    }
  }
  const auto& cmds = ibzoo::cli::commands();
  const auto it = std::find_if(cmds.begin(), cmds.end(), [&](const auto& c) { return c.name == args[0]; });
  if (it == cmds.end()) {
    std::vector<std::string> names;
    for (const auto& c : sorted_commands()) names.push_back(c.name);
    const bool option = args[0].starts_with("-");
    std::cerr << "error: unknown " << (option ? "option '" : "command '") << args[0] << "'"
              << ibzoo::cli::did_you_mean(args[0], option ? std::vector<std::string>{"--help", "--version"} : names)
              << "; `ibzoo --help` lists the commands\n";
    return 2;
  }
  try {
    return it->run(std::vector<std::string>(args.begin() + 1, args.end()));
  } catch (const std::exception& e) {
    ibzoo::io::log_error(e.what());
    const int code = ibzoo::cli::exit_code_for(e);
    // Usage and manifest errors are found by every rank alike (rank 0 broadcasts its
    // verdict), so every rank exits by itself; any other error may be one rank's alone,
    // and the others must not wait for it forever.
    if (!dynamic_cast<const ibzoo::UsageError*>(&e) && !dynamic_cast<const ibzoo::ManifestError*>(&e)) {
      ibzoo::io::abort_world(code);
    }
    return code;
  }
}
