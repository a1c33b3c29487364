// `ibzoo train ZOO_MANIFEST`: trains (or reuses) the demo model zoo described by a
// zoo manifest (docs/DEMO.md); the work is zoo::train_zoo.
#include "io/log.h"
#include "cli/command.h"
#include "cli/handoff.h"
#include "zoo/train.h"

#include <sstream>

namespace {

using ibzoo::cli::po::bool_switch;

int run_train(const std::vector<std::string>& args) {
  ibzoo::cli::CommandLine cli{"ibzoo train ZOO_MANIFEST [--force]", {}, {"manifest"},
                                   "  ZOO_MANIFEST   the demo zoo manifest (YAML, docs/DEMO.md)", ""};
  bool force = false;
  cli.options.add_options()
      ("force", bool_switch(&force), "retrain even when <out_dir>/zoo.json records the same zoo hash");
  const auto vm = ibzoo::cli::parse_command_line(cli, args);
  if (!vm) return 0;
  const auto manifest = (*vm)["manifest"].as<std::string>();
  const auto spec = ibzoo::zoo::load_zoo_manifest(manifest);
  const auto result = ibzoo::zoo::train_zoo(spec, force);
  std::ostringstream msg;
  msg << "train: zoo " << spec.zoo << (result.cached ? " reused" : " trained") << ", " << result.models.size()
      << " models; " << result.path_zoo_json.string();
  ibzoo::io::log_info(msg.str());
  return 0;
}

const bool kRegistered = ibzoo::cli::register_command(
    {"train", ibzoo::cli::model_command_summary("train"), run_train});

}  // namespace
