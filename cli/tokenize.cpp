// `ibzoo tokenize`: prints the token ids of a text file on one line, as the
// model's own tokenizer (tokenizer.json) produces them. For parity checks and scripts.
#include "errors/error.h"
#include "io/corpus.h"
#include "io/fs.h"
#include "hf/tokenizer.h"
#include "cli/command.h"

#include <iostream>
#include <string>

namespace {

using ibzoo::cli::po::bool_switch;
using ibzoo::cli::po::value;

int run_tokenize(const std::vector<std::string>& args) {
  ibzoo::cli::CommandLine cli{"ibzoo tokenize --tokenizer PATH --text-file F [--add-special-tokens]", {}, {}, "", ""};
  std::string tokenizer_path;
  std::string text_file;
  bool add_special_tokens = false;
  cli.options.add_options()
      ("tokenizer", value(&tokenizer_path)->required(), "a tokenizer.json, or a model directory containing one")
      ("text-file", value(&text_file)->required(), "UTF-8 text; the whole file is encoded as one text")
      ("add-special-tokens", bool_switch(&add_special_tokens),
       "let the post-processor add its tokens (e.g. a BOS); default: none");
  const auto vm = ibzoo::cli::parse_command_line(cli, args);
  if (!vm) return 0;

  const auto tokenizer = ibzoo::hf::Tokenizer::from_file(tokenizer_path);
  const std::string text = ibzoo::io::read_utf8_text(text_file);
  const auto ids = tokenizer.encode(text, add_special_tokens);
  std::string line;
  line.reserve(ids.size() * 6 + 1);
  for (std::size_t k = 0; k < ids.size(); ++k) {
    if (k > 0) line.push_back(' ');
    line += std::to_string(ids[k]);
  }
  line.push_back('\n');
  std::cout << line << std::flush;
  if (!std::cout) throw ibzoo::WriteError("tokenize: could not write the ids to standard output");
  return 0;
}

const bool kRegistered = ibzoo::cli::register_command(
    {"tokenize", "print the token ids of a text file (tokenizer.json or model directory)", run_tokenize});

}  // namespace
