// `ibzoo make-tasks --heldout FILE --out DIR`: multiple-choice task files from the
// zoo's held-out text (zoo::make_tasks).
#include "io/log.h"
#include "cli/command.h"
#include "cli/handoff.h"
#include "zoo/tasks.h"

#include <sstream>

namespace {

using ibzoo::cli::po::value;

int run_make_tasks(const std::vector<std::string>& args) {
  ibzoo::cli::CommandLine cli{"ibzoo make-tasks --heldout FILE --out DIR [options]", {}, {}, "", ""};
  ibzoo::zoo::MakeTasksJob job;
  std::string heldout, out;
  cli.options.add_options()
      ("heldout", value(&heldout)->required(), "held-out text of the zoo (<zoo>/text/heldout.txt)")
      ("out", value(&out)->required(), "directory for <task>.jsonl")
      ("n-items", value(&job.n_items)->default_value(200), "items per task")
      ("n-choices", value(&job.n_choices)->default_value(4), "choices per item")
      ("seed", value(&job.seed)->default_value(0), "seed of the item and distractor draws");
  const auto vm = ibzoo::cli::parse_command_line(cli, args);
  if (!vm) return 0;
  job.path_heldout = heldout;
  job.out_dir = out;
  const auto result = ibzoo::zoo::make_tasks(job);
  std::ostringstream msg;
  msg << "make-tasks:";
  for (std::size_t i = 0; i < result.files.size(); ++i) msg << " " << result.files[i].string() << " (" << result.n_items[i] << ")";
  ibzoo::io::log_info(msg.str());
  return 0;
}

const bool kRegistered = ibzoo::cli::register_command(
    {"make-tasks", ibzoo::cli::model_command_summary("make-tasks"), run_make_tasks});

}  // namespace
