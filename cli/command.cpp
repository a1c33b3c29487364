#include "cli/command.h"

#include "errors/error.h"
#include "io/text.h"

#include <algorithm>
#include <charconv>
#include <iostream>

namespace ibzoo::cli {

namespace {
std::vector<Command>& registry() {
  static std::vector<Command> commands;
  return commands;
}

// Every option of `options` as the user types it ("--run-dir").
std::vector<std::string> option_names(const po::options_description& options) {
  std::vector<std::string> names;
  for (const auto& o : options.options()) names.push_back("--" + o->long_name());
  return names;
}

void print_help(const CommandLine& cli, const po::options_description& options) {
  std::cout << "usage: " << cli.usage << "\n";
  if (!cli.arguments.empty()) std::cout << "\narguments:\n" << cli.arguments << (cli.arguments.ends_with('\n') ? "" : "\n");
  std::cout << "\n" << options << "\n" << kExitCodes << "\n";
  if (!cli.exit_codes.empty()) std::cout << "            " << cli.exit_codes << "\n";
}
}  // namespace

bool register_command(Command command) {
  registry().push_back(std::move(command));
  return true;
}

const std::vector<Command>& commands() { return registry(); }

int exit_code_for(const std::exception& e) {
  if (dynamic_cast<const UsageError*>(&e) || dynamic_cast<const ManifestError*>(&e) ||
      dynamic_cast<const MissingInputError*>(&e) || dynamic_cast<const CorruptDataError*>(&e) ||
      dynamic_cast<const ModelError*>(&e)) {
    return 2;
  }
  return 1;
}

std::string did_you_mean(const std::string& word, const std::vector<std::string>& candidates) {
  std::string best;
  std::size_t best_d = std::max<std::size_t>(1, word.size() / 3) + 1;  // at most a third of the letters wrong
  for (const auto& c : candidates) {
    const auto d = io::edit_distance(word, c);
    if (d < best_d) {
      best_d = d;
      best = c;
    }
  }
  if (best.empty() && word.size() >= 2) {
    for (const auto& c : candidates) {
      if (c.starts_with(word)) return " (did you mean '" + c + "'?)";
    }
  }
  return best.empty() ? "" : " (did you mean '" + best + "'?)";
}

std::string default_text(double value) {
  char buf[64];
  const auto r = std::to_chars(buf, buf + sizeof buf, value);
  return std::string(buf, r.ptr);
}

std::optional<po::variables_map> parse_command_line(CommandLine& cli,
                                                    const std::vector<std::string>& args) {
  // One flat group: --help first, then the command's own options (an empty group would
  // print a bare "options:" header).
  po::options_description all("options", 100, 50);
  all.add_options()("help,h", "print this help and exit");
  for (const auto& o : cli.options.options()) all.add(o);
  po::options_description hidden;
  po::positional_options_description pos;
  for (const auto& name : cli.positional) {
    hidden.add_options()(name.c_str(), po::value<std::string>());
    pos.add(name.c_str(), 1);
  }
  po::options_description parse_set;
  parse_set.add(all).add(hidden);

  po::variables_map vm;
  try {
    po::store(po::command_line_parser(args).options(parse_set).positional(pos).run(), vm);
    if (vm.count("help")) {
      print_help(cli, all);
      return std::nullopt;
    }
    po::notify(vm);
  } catch (const po::unknown_option& e) {
    throw UsageError("unknown option '" + e.get_option_name() + "'" + did_you_mean(e.get_option_name(), option_names(all)) +
                     "\nusage: " + cli.usage + " (see --help)");
  } catch (const po::error& e) {
    throw UsageError(std::string(e.what()) + "\nusage: " + cli.usage + " (see --help)");
  }
  for (const auto& name : cli.positional) {
    if (!vm.count(name)) throw UsageError("missing argument " + name + "\nusage: " + cli.usage);
  }
  return vm;
}

}  // namespace ibzoo::cli
