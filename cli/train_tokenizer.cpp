// `ibzoo train-tokenizer`: trains the demo zoo's byte-level BPE tokenizer on a
// text file and writes tokenizer.json + tokenizer_config.json into a directory.
#include "errors/error.h"
#include "hf/bpe_trainer.h"
#include "io/corpus.h"
#include "io/fs.h"
#include "io/log.h"
#include "cli/command.h"

#include <chrono>
#include <sstream>

namespace {

using ibzoo::cli::po::bool_switch;
using ibzoo::cli::po::value;

int run_train_tokenizer(const std::vector<std::string>& args) {
  ibzoo::cli::CommandLine cli{"ibzoo train-tokenizer --text-file F --vocab-size N --out DIR", {}, {}, "", ""};
  std::string text_file;
  std::string out;
  ibzoo::hf::BpeTrainerOptions options;
  cli.options.add_options()
      ("text-file", value(&text_file)->required(), "UTF-8 training text")
      ("vocab-size", value(&options.vocab_size)->required(),
       "final vocabulary size: 256 bytes + merges + <|endoftext|>")
      ("out", value(&out)->required(), "output directory (created); gets tokenizer.json and tokenizer_config.json")
      ("min-pair-count", value(&options.min_pair_count)->default_value(2), "stop when the best pair is rarer")
      ("merges-as-strings", bool_switch(&options.merges_as_strings),
       "write merges as \"a b\" strings (older files) instead of [a, b] pairs");
  const auto vm = ibzoo::cli::parse_command_line(cli, args);
  if (!vm) return 0;
  if (options.min_pair_count < 1) throw ibzoo::UsageError("--min-pair-count must be at least 1");

  const auto start = std::chrono::steady_clock::now();
  const std::string text = ibzoo::io::read_utf8_text(text_file);
  const auto result = ibzoo::hf::train_byte_level_bpe(text, options);
  ibzoo::hf::write_trained_tokenizer(result, out);
  const std::chrono::duration<double> elapsed = std::chrono::steady_clock::now() - start;
  std::ostringstream msg;
  msg << "train-tokenizer: " << text.size() << " bytes, " << result.n_words << " words (" << result.n_unique_words
      << " distinct), " << result.n_merges << " merges, vocab " << result.vocab_size << ", " << elapsed.count()
      << " s; wrote " << out << "/tokenizer.json";
  ibzoo::io::log_info(msg.str());
  if (result.vocab_size < options.vocab_size) {
    ibzoo::io::log_warn("train-tokenizer: the text ran out of pairs seen at least --min-pair-count times; vocab is " +
                        std::to_string(result.vocab_size) + ", not " + std::to_string(options.vocab_size));
  }
  return 0;
}

const bool kRegistered = ibzoo::cli::register_command(
    {"train-tokenizer", "train a byte-level BPE tokenizer.json on a text file (demo zoo)", run_train_tokenizer});

}  // namespace
