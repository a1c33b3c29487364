// Subprocesses through Boost.Process (header-only parts of Boost 1.74): argv, no shell,
// stdin from /dev/null, stdout and stderr read together so that neither pipe can fill
// up and block the child.
#include "slurm/process.h"

#include "errors/error.h"

#include <boost/asio/io_context.hpp>
#include <boost/process/args.hpp>
#include <boost/process/async.hpp>
#include <boost/process/child.hpp>
#include <boost/process/exe.hpp>
#include <boost/process/io.hpp>

#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <future>
#include <optional>

namespace ibzoo::slurm {

namespace bp = boost::process;
namespace fs = std::filesystem;

namespace {

// argv[0] as the shell would find it: a path when it has a slash, else the first
// executable of that name on PATH. (Boost.Process's search_path needs the compiled
// Boost.Filesystem; this is all it would do.)
std::optional<fs::path> find_program(const std::string& name) {
  if (name.find('/') != std::string::npos) return fs::path(name);
  const char* path = std::getenv("PATH");
  const std::string dirs = path ? path : "/usr/local/bin:/usr/bin:/bin";
  for (std::size_t start = 0; start <= dirs.size();) {
    const auto end = std::min(dirs.find(':', start), dirs.size());
    const fs::path candidate = fs::path(dirs.substr(start, end - start)) / name;
    if (::access(candidate.c_str(), X_OK) == 0 && !fs::is_directory(candidate)) return candidate;
    start = end + 1;
  }
  return std::nullopt;
}

// 128 + signal when the child was killed by a signal, as a shell reports it.
int exit_code_of(int native_status) {
  return WIFEXITED(native_status) ? WEXITSTATUS(native_status) : 128 + WTERMSIG(native_status);
}

}  // namespace

ProcessResult run_process(const std::vector<std::string>& argv) {
  if (argv.empty()) throw Error("run_process: empty command");
  const auto program = find_program(argv[0]);
  if (!program) throw Error("cannot run '" + argv[0] + "': not found on PATH");
  boost::asio::io_context io;
  std::future<std::string> out, err;
  std::optional<bp::child> child;
  try {
    child.emplace(bp::exe = program->string(), bp::args = std::vector<std::string>(argv.begin() + 1, argv.end()),
                  bp::std_in < bp::null, bp::std_out > out, bp::std_err > err, io);
  } catch (const bp::process_error& e) {
    throw Error("cannot run '" + argv[0] + "': " + e.code().message() +
                "; is it installed and on PATH (for Slurm: slurm-client)?");
  }
  io.run();
  child->wait();
  return {exit_code_of(child->native_exit_code()), out.get(), err.get()};
}

}  // namespace ibzoo::slurm
