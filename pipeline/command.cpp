#include "pipeline/command.h"

#include "analysis/error.h"

#include <iostream>

namespace ibzoo::pipeline {

namespace {
std::vector<Command>& registry() {
  static std::vector<Command> commands;
  return commands;
}
}  // namespace

bool register_command(Command command) {
  registry().push_back(std::move(command));
  return true;
}

const std::vector<Command>& commands() { return registry(); }

std::optional<po::variables_map> parse_command_line(CommandLine& cli,
                                                    const std::vector<std::string>& args) {
  po::options_description all;
  all.add_options()("help,h", "print this help and exit");
  all.add(cli.options);
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
      std::cout << "usage: " << cli.usage << "\n\n" << all << "\n";
      return std::nullopt;
    }
    po::notify(vm);
  } catch (const po::error& e) {
    throw UsageError(std::string(e.what()) + "\nusage: " + cli.usage + " (see --help)");
  }
  for (const auto& name : cli.positional) {
    if (!vm.count(name)) throw UsageError("missing argument " + name + "\nusage: " + cli.usage);
  }
  return vm;
}

}  // namespace ibzoo::pipeline
