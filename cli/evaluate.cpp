// `ibzoo evaluate --model DIR --tasks DIR_OR_FILES --out results.json [--limit N]`:
// multiple-choice scoring written as lm-evaluation-harness results (zoo::evaluate).
#include "errors/error.h"
#include "io/log.h"
#include "cli/command.h"
#include "cli/handoff.h"
#include "zoo/evaluate.h"

#include <sstream>

namespace {

using ibzoo::cli::po::value;

int run_evaluate(const std::vector<std::string>& args) {
  ibzoo::cli::CommandLine cli{"ibzoo evaluate --model DIR --tasks DIR_OR_FILES... --out results.json [options]", {}, {}, "", ""};
  ibzoo::zoo::EvaluateJob job;
  std::string model, out;
  std::vector<std::string> tasks;
  cli.options.add_options()
      ("model", value(&model)->required(), "model directory (config.json, model.safetensors, tokenizer.json)")
      ("tasks", value(&tasks)->multitoken()->required(), "task .jsonl files or directories of them")
      ("out", value(&out)->required(), "results JSON (lm-evaluation-harness layout)")
      ("name", value(&job.model_name)->default_value(""), "model_name written in the results (default: directory name)")
      ("limit", value(&job.limit)->default_value(0), "first N items per task (0: all)")
      ("batch-size", value(&job.batch_size)->default_value(32), "sequences per forward pass")
      ("threads", value(&job.threads)->default_value(2), "torch threads");
  const auto vm = ibzoo::cli::parse_command_line(cli, args);
  if (!vm) return 0;
  if (job.limit < 0 || job.batch_size < 1 || job.threads < 1) {
    throw ibzoo::UsageError("--limit must be >= 0, --batch-size and --threads >= 1");
  }
  job.model_dir = model;
  job.path_out = out;
  for (const auto& t : tasks) job.task_paths.emplace_back(t);
  const auto result = ibzoo::zoo::evaluate(job);
  std::ostringstream msg;
  msg << "evaluate: " << model << " in " << result.seconds << " s:";
  for (const auto& t : result.tasks) msg << " " << t.task << " acc " << t.acc << " acc_norm " << t.acc_norm << " (n " << t.n_items << ");";
  msg << " wrote " << out;
  ibzoo::io::log_info(msg.str());
  return 0;
}

const bool kRegistered = ibzoo::cli::register_command(
    {"evaluate", ibzoo::cli::model_command_summary("evaluate"), run_evaluate});

}  // namespace
