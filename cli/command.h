// Subcommands of the `ibzoo` executables. Each lives in cli/<name>.cpp,
// compiled straight into the executable, and registers itself with a static
//   const bool kRegistered = ibzoo::cli::register_command({...});
// main() dispatches argv[1] to it and maps exceptions to exit codes (exit_code_for):
//   0 success, 1 runtime failure, 2 usage or input error.
#pragma once

#include <boost/program_options.hpp>

#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace ibzoo::cli {

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
  std::string arguments;                  // --help: what the positional args are (one per line)
  std::string exit_codes;                 // --help: what this command adds to kExitCodes
};
// Prints usage, arguments, options (with their defaults as written), and exit codes.
// Unknown options get a did-you-mean suggestion.
std::optional<po::variables_map> parse_command_line(CommandLine& cli,
                                                    const std::vector<std::string>& args);

// The exit codes of every command (printed by `ibzoo --help` and each command's --help).
inline constexpr const char* kExitCodes =
    "exit codes: 0 success; 1 runtime failure (failed items, a failed write, MPI or Slurm errors);\n"
    "            2 usage or input error (command line, manifest, missing or malformed input files)";

// The exit code for an exception that ended a command: 2 for UsageError, ManifestError,
// MissingInputError, CorruptDataError and ModelError (what the user gave is wrong), 1
// for everything else (WriteError, MpiError, failed items, ...).
int exit_code_for(const std::exception& e);

// " (did you mean 'x'?)" for the candidate nearest to `word` (edit distance at most a
// third of its length, at least 1; or a candidate that starts with it), else "".
std::string did_you_mean(const std::string& word, const std::vector<std::string>& candidates);

// A default as the user would write it: 0.95, not 0.94999999999999996 (shortest form
// that reads back as the same double).
std::string default_text(double value);

}  // namespace ibzoo::cli
