// Subcommands of the `ibzoo` executable. Each lives in pipeline/cmd_<name>.cpp,
// compiled straight into the executable, and registers itself with a static
//   const bool kRegistered = ibzoo::pipeline::register_command({...});
// main() dispatches argv[1] to it and maps exceptions to exit codes:
//   0 success, 1 runtime failure (ibzoo::Error), 2 usage or manifest error.
#pragma once

#include <boost/program_options.hpp>

#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace ibzoo::pipeline {

struct Command {
  std::string name;
  std::string summary;  // one line for `ibzoo --help`
  // Receives the arguments after the command name; returns the exit code.
  std::function<int(const std::vector<std::string>& args)> run;
};

bool register_command(Command command);
const std::vector<Command>& commands();

namespace po = boost::program_options;

// Parses `args` against `options` (plus an automatic --help) and the named
// positional arguments, in order. Returns nullopt when --help was printed.
// Throws UsageError naming the offending option.
struct CommandLine {
  std::string usage;                      // e.g. "ibzoo run MANIFEST [options]"
  po::options_description options;
  std::vector<std::string> positional;    // names of required positional args, in order
};
std::optional<po::variables_map> parse_command_line(CommandLine& cli,
                                                    const std::vector<std::string>& args);

}  // namespace ibzoo::pipeline
