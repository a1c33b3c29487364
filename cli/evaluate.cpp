// `ibzoo evaluate --model DIR --tasks DIR_OR_FILES --out results.json [--limit N]`, or
// `ibzoo evaluate --zoo ZOO_DIR --tasks ... --out-dir DIR [--checkpoints all|final]`:
// multiple-choice scoring written as lm-evaluation-harness results (zoo::evaluate).
#include "errors/error.h"
#include "io/log.h"
#include "cli/command.h"
#include "cli/handoff.h"
#include "zoo/evaluate.h"

#include <sstream>

namespace {

using ibzoo::cli::po::value;

void log_scores(const std::string& what, const ibzoo::zoo::EvaluateResult& result, const std::string& out) {
  std::ostringstream msg;
  msg << "evaluate: " << what << " in " << result.seconds << " s:";
  for (const auto& t : result.tasks) msg << " " << t.task << " acc " << t.acc << " acc_norm " << t.acc_norm << " (n " << t.n_items << ");";
  msg << " wrote " << out;
  ibzoo::io::log_info(msg.str());
}

int run_evaluate(const std::vector<std::string>& args) {
  ibzoo::cli::CommandLine cli{
      "ibzoo evaluate (--model DIR --out results.json | --zoo ZOO_DIR --out-dir DIR) --tasks DIR_OR_FILES... [options]",
      {}, {}, "", ""};
  ibzoo::zoo::EvaluateJob job;
  std::string model, out, zoo, out_dir, checkpoints;
  std::vector<std::string> tasks;
  cli.options.add_options()
      ("model", value(&model)->default_value(""), "model directory (config.json, model.safetensors, tokenizer.json)")
      ("out", value(&out)->default_value(""), "results JSON (lm-evaluation-harness layout), with --model")
      ("zoo", value(&zoo)->default_value(""), "a zoo trained by ibzoo train (its out_dir, with zoo.json): score its checkpoints")
      ("out-dir", value(&out_dir)->default_value(""), "with --zoo: writes <out-dir>/<model>/<checkpoint>.json")
      ("checkpoints", value(&checkpoints)->default_value("all"), "with --zoo: all, or final (each model's last)")
      ("tasks", value(&tasks)->multitoken()->required(), "task .jsonl files or directories of them")
      ("name", value(&job.model_name)->default_value(""), "model_name written in the results (default: directory name)")
      ("limit", value(&job.limit)->default_value(0), "first N items per task (0: all)")
      ("batch-size", value(&job.batch_size)->default_value(32), "sequences per forward pass")
      ("threads", value(&job.threads)->default_value(2), "torch threads")
      ("device", value(&job.device)->default_value("cpu"), "cpu or cuda");
  const auto vm = ibzoo::cli::parse_command_line(cli, args);
  if (!vm) return 0;
  if (job.limit < 0 || job.batch_size < 1 || job.threads < 1) {
    throw ibzoo::UsageError("--limit must be >= 0, --batch-size and --threads >= 1");
  }
  if (job.device != "cpu" && job.device != "cuda") throw ibzoo::UsageError("--device must be cpu or cuda, got \"" + job.device + "\"");
  if (model.empty() == zoo.empty()) throw ibzoo::UsageError("give either --model DIR (with --out) or --zoo ZOO_DIR (with --out-dir)");
  if (!zoo.empty()) {
    if (out_dir.empty()) throw ibzoo::UsageError("--zoo needs --out-dir");
    if (checkpoints != "all" && checkpoints != "final") throw ibzoo::UsageError("--checkpoints must be all or final, got \"" + checkpoints + "\"");
    ibzoo::zoo::EvaluateZooJob zjob{zoo, {}, out_dir, checkpoints == "all", job.limit, job.batch_size, job.threads, job.device};
    for (const auto& t : tasks) zjob.task_paths.emplace_back(t);
    const auto result = ibzoo::zoo::evaluate_zoo(zjob);
    std::ostringstream msg;
    msg << "evaluate: " << result.files.size() << " checkpoints of " << zoo << " in " << result.seconds << " s; wrote "
        << out_dir << "/<model>/<checkpoint>.json";
    ibzoo::io::log_info(msg.str());
    return 0;
  }
  if (out.empty()) throw ibzoo::UsageError("--model needs --out");
  job.model_dir = model;
  job.path_out = out;
  for (const auto& t : tasks) job.task_paths.emplace_back(t);
  log_scores(model, ibzoo::zoo::evaluate(job), out);
  return 0;
}

const bool kRegistered = ibzoo::cli::register_command(
    {"evaluate", ibzoo::cli::model_command_summary("evaluate"), run_evaluate});

}  // namespace
