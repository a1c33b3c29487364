// `ibzoo extract`: one model over one text file, every layer's hidden states to HDF5.
#include "errors/error.h"
#include "io/log.h"
#include "models/model.h"
#include "cli/command.h"
#include "cli/handoff.h"
#include "pipeline/manifest.h"
#include "cli/tools/extract_file.h"

#include <sstream>

namespace {

using ibzoo::cli::po::bool_switch;
using ibzoo::cli::po::value;

int run_extract(const std::vector<std::string>& args) {
  ibzoo::cli::CommandLine cli{
      "ibzoo extract --model DIR --text-file F --out OUT.h5 [--device cpu|cuda] "
      "[--dtype float32|bfloat16|float16] [--logits] [--add-special-tokens]",
      {}, {}, "", ""};
  ibzoo::tools::ExtractFileJob job;
  std::string model, text, out, device = "cpu", dtype = "float32", final_norm = "apply";
  int threads = 0;
  const ibzoo::pipeline::ComputeSpec compute;  // the manifest's compute: defaults
  cli.options.add_options()
      ("model", value(&model)->required(), "Hugging Face model directory (config.json, safetensors, tokenizer.json)")
      ("text-file", value(&text)->required(), "UTF-8 text, tokenized as one sequence")
      ("out", value(&out)->required(), "HDF5 file to write (/input_ids, /hidden_states, /logits)")
      ("device", value(&device)->default_value(compute.device), "cpu or cuda")
      ("dtype", value(&dtype)->default_value(compute.dtype), "float32, bfloat16 or float16")
      ("threads", value(&threads)->default_value(0), "torch threads (0: torch's default)")
      ("final-norm", value(&final_norm)->default_value("apply"), "last layer after the final norm (apply) or raw (skip)")
      ("logits", bool_switch(&job.logits), "also write /logits (float32 [T, V])")
      ("add-special-tokens", bool_switch(&job.add_special_tokens), "let the tokenizer add its special tokens (e.g. BOS)");
  const auto vm = ibzoo::cli::parse_command_line(cli, args);
  if (!vm) return 0;
  if (final_norm != "apply" && final_norm != "skip") throw ibzoo::UsageError("--final-norm must be apply or skip");
  if (threads < 0) throw ibzoo::UsageError("--threads must be >= 0");
  job.model_dir = model;
  job.text_file = text;
  job.out = out;
  job.run.device = ibzoo::models::parse_device(device);
  job.run.dtype = ibzoo::models::parse_dtype(dtype);
  job.run.threads = threads;
  job.run.final_norm = final_norm == "apply";
  const auto r = ibzoo::tools::extract_file(job);
  std::ostringstream msg;
  msg << "extract: " << out << ": " << r.n_tokens << " tokens, " << r.n_layers + 1 << " layers x d " << r.hidden_size;
  ibzoo::io::log_info(msg.str());
  return 0;
}

const bool kRegistered = ibzoo::cli::register_command(
    {"extract", ibzoo::cli::model_command_summary("extract"), run_extract});

}  // namespace
