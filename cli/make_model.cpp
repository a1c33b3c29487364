// `ibzoo make-model`: writes a random-weight model directory (config.json +
// model.safetensors in the Hugging Face layout) for tests, demos and benchmarks.
#include "errors/error.h"
#include "hf/config.h"
#include "io/log.h"
#include "hf/random_model.h"
#include "cli/command.h"

#include <sstream>

namespace {

using ibzoo::cli::po::value;

int run_make_model(const std::vector<std::string>& args) {
  ibzoo::cli::CommandLine cli{"ibzoo make-model --family F --out DIR [options]", {}, {}, "", ""};
  std::string family_name;
  std::string out;
  ibzoo::hf::ModelSizes sizes;
  std::uint64_t seed = 1;
  double init_std = 0.02;
  std::string tie = "default";
  cli.options.add_options()
      ("family", value(&family_name)->required(), "gpt2, gpt_neox, llama, mistral, qwen2, olmo2 or gemma2")
      ("out", value(&out)->required(), "output directory (created)")
      ("layers", value(&sizes.n_layers)->default_value(2), "number of blocks")
      ("hidden", value(&sizes.hidden_size)->default_value(64), "hidden size d")
      ("heads", value(&sizes.n_heads)->default_value(4), "attention heads")
      ("kv-heads", value(&sizes.n_kv_heads)->default_value(0), "key/value heads (0: family default)")
      ("intermediate", value(&sizes.intermediate_size)->default_value(0), "MLP width (0: 4 x hidden)")
      ("vocab", value(&sizes.vocab_size)->default_value(256), "vocabulary size")
      ("max-positions", value(&sizes.max_position_embeddings)->default_value(1024), "maximum sequence length")
      ("seed", value(&seed)->default_value(1), "weight seed: same seed, same bytes")
      ("init-std", value(&init_std)->default_value(0.02, "0.02"), "standard deviation of weights and biases")
      ("tie", value(&tie)->default_value("default"), "tie the LM head to the embeddings: yes, no or default");
  const auto vm = ibzoo::cli::parse_command_line(cli, args);
  if (!vm) return 0;

  const auto family = ibzoo::hf::parse_family(family_name);
  if (!family) throw ibzoo::UsageError("--family \"" + family_name + "\" is unknown; use gpt2, gpt_neox, llama, mistral, qwen2, olmo2 or gemma2");
  if (sizes.n_layers <= 0 || sizes.hidden_size <= 0 || sizes.n_heads <= 0 || sizes.vocab_size <= 0 ||
      sizes.max_position_embeddings <= 0 || sizes.n_kv_heads < 0 || sizes.intermediate_size < 0) {
    throw ibzoo::UsageError("--layers, --hidden, --heads, --vocab and --max-positions must be positive");
  }
  if (sizes.hidden_size % sizes.n_heads != 0) {
    throw ibzoo::UsageError("--heads " + std::to_string(sizes.n_heads) + " must divide --hidden " +
                            std::to_string(sizes.hidden_size));
  }
  if (sizes.n_kv_heads > 0 && sizes.n_heads % sizes.n_kv_heads != 0) {
    throw ibzoo::UsageError("--kv-heads must divide --heads");
  }
  if (tie != "yes" && tie != "no" && tie != "default") throw ibzoo::UsageError("--tie must be yes, no or default");
  if (!(init_std > 0)) throw ibzoo::UsageError("--init-std must be positive");

  ibzoo::hf::RandomModelOptions options{ibzoo::hf::default_model_config(*family, sizes), seed, init_std};
  if (tie != "default") options.config.tie_word_embeddings = tie == "yes";
  ibzoo::hf::make_random_model(options, out);
  std::ostringstream msg;
  msg << "make-model: wrote " << out << " (" << family_name << ", " << sizes.n_layers << " layers, d "
      << sizes.hidden_size << ", vocab " << sizes.vocab_size << ", "
      << ibzoo::hf::count_parameters(options.config) << " parameters, seed " << seed << ")";
  ibzoo::io::log_info(msg.str());
  return 0;
}

const bool kRegistered = ibzoo::cli::register_command(
    {"make-model", "write a random-weight model directory (config.json + model.safetensors)", run_make_model});

}  // namespace
