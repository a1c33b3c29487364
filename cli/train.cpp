// `ibzoo train ZOO_MANIFEST`: trains (or reuses) the demo model zoo described by a
// zoo manifest (docs/DEMO.md); the work is zoo::train_zoo.
#include "errors/error.h"
#include "io/log.h"
#include "cli/command.h"
#include "cli/handoff.h"
#include "zoo/train.h"

#include <sstream>

namespace {

using ibzoo::cli::po::bool_switch;
using ibzoo::cli::po::value;

int run_train(const std::vector<std::string>& args) {
  ibzoo::cli::CommandLine cli{"ibzoo train ZOO_MANIFEST [--force] [--device cpu|cuda]", {}, {"manifest"},
                                   "  ZOO_MANIFEST   the zoo manifest (YAML, docs/DEMO.md)", ""};
  bool force = false;
  std::string device;
  cli.options.add_options()
      ("force", bool_switch(&force), "retrain even when <out_dir>/zoo.json records the same zoo hash")
      ("device", value(&device)->default_value(""), "cpu or cuda: overrides the manifest's training.device "
                                                    "(part of the zoo hash: another device retrains)");
  const auto vm = ibzoo::cli::parse_command_line(cli, args);
  if (!vm) return 0;
  const auto manifest = (*vm)["manifest"].as<std::string>();
  auto spec = ibzoo::zoo::load_zoo_manifest(manifest);
  if (!device.empty()) {
    if (device != "cpu" && device != "cuda") throw ibzoo::UsageError("--device must be cpu or cuda, got \"" + device + "\"");
    spec.training.device = device;
  }
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
