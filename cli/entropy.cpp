// `ibzoo entropy`: soft entropy and mutual information of one representation
// matrix with label sets, from one HDF5 file, as JSON. The work is in cli/tools/entropy.
#include "errors/error.h"
#include "io/fs.h"
#include "io/log.h"
#include "cli/command.h"
#include "pipeline/manifest.h"
#include "cli/tools/entropy.h"

#include <iostream>

namespace {

using ibzoo::UsageError;

std::pair<std::filesystem::path, std::string> split_file_dataset(const std::string& spec) {
  const auto colon = spec.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == spec.size()) {
    throw UsageError("--reference-points must be FILE.h5:DATASET, got '" + spec + "'");
  }
  return {spec.substr(0, colon), spec.substr(colon + 1)};
}

// The job of the command line's options (after --write-example, which needs none).
ibzoo::tools::EntropyJob entropy_job(const ibzoo::cli::po::variables_map& vm) {
  for (const char* required : {"input", "z", "label"}) {
    if (!vm.count(required)) throw UsageError(std::string("missing --") + required + " (ibzoo entropy --help)");
  }
  ibzoo::tools::EntropyJob job;
  job.input = vm["input"].as<std::string>();
  job.z_dataset = vm["z"].as<std::string>();
  for (const auto& spec : vm["label"].as<std::vector<std::string>>()) {
    const auto eq = spec.find('=');
    if (eq == std::string::npos || eq == 0 || eq + 1 == spec.size()) {
      throw UsageError("--label must be NAME=DATASET, got '" + spec + "'");
    }
    job.labels.push_back({spec.substr(0, eq), spec.substr(eq + 1)});
  }
  if (vm.count("reference-points")) {
    auto [file, dataset] = split_file_dataset(vm["reference-points"].as<std::string>());
    job.reference_points_file = file;
    job.reference_points_dataset = dataset;
  }
  job.seed = vm["seed"].as<std::uint64_t>();
  job.n_bins = vm["bins"].as<std::int64_t>();
  job.calibration = ibzoo::analysis::parse_calibration(vm["calibration"].as<std::string>());
  if (vm.count("eps")) {
    if (!vm["calibration"].defaulted()) throw UsageError("give either --calibration or --eps, not both");
    job.calibration = ibzoo::analysis::Calibration::kGiven;
    job.eps = vm["eps"].as<double>();
  } else if (job.calibration == ibzoo::analysis::Calibration::kGiven) {
    throw UsageError("--calibration given needs --eps E");
  }
  job.weighting = ibzoo::analysis::parse_weighting(vm["weighting"].as<std::string>());
  job.min_count = vm["min-count"].as<std::int64_t>();
  job.null = vm.count("null") > 0;
  job.n_bootstrap = vm["bootstrap"].as<std::int64_t>();
  if (vm.count("groups")) job.groups_dataset = vm["groups"].as<std::string>();
  job.confidence = vm["confidence"].as<double>();
  if (!(job.confidence > 0.0 && job.confidence < 1.0)) throw UsageError("--confidence must be in (0, 1)");
  job.n_threads = vm["threads"].as<int>();
  return job;
}

int run_entropy_command(const std::vector<std::string>& args) {
  namespace po = ibzoo::cli::po;
  ibzoo::cli::CommandLine cli{
      "ibzoo entropy --input IN.h5 --z DATASET --label NAME=DATASET [...] [options]",
      po::options_description("options"), {}, "", ""};
  const ibzoo::pipeline::EstimatorSpec est;  // the manifest's estimator: defaults
  cli.options.add_options()
      ("input", po::value<std::string>(), "HDF5 file with Z, labels and groups")
      ("z", po::value<std::string>(), "dataset of representations [N, d], float32 or float64")
      ("label", po::value<std::vector<std::string>>(), "NAME=DATASET, [N] or [N, n] integers (repeatable)")
      ("reference-points", po::value<std::string>(), "FILE.h5:DATASET with W [m, d] (rows normalised on load)")
      ("seed", po::value<std::uint64_t>()->default_value(est.seed), "seed of W, the null and the bootstrap")
      ("bins", po::value<std::int64_t>()->default_value(est.bins), "number of reference points m (generated W)")
      ("calibration", po::value<std::string>()->default_value(est.calibration), "bounds | exact | leading")
      ("eps", po::value<double>(), "use this temperature instead of a calibration")
      ("weighting", po::value<std::string>()->default_value(est.weighting), "frequency | uniform")
      ("min-count", po::value<std::int64_t>()->default_value(est.min_count), "uniform weighting: drop labels seen fewer times")
      ("null", "also report the MI of labels shuffled within each group (document)")
      ("bootstrap", po::value<std::int64_t>()->default_value(est.bootstrap), "Poisson bootstrap replicates over groups")
      ("groups", po::value<std::string>(), "dataset [N] of document ids (bootstrap unit, null shuffling unit)")
      ("confidence", po::value<double>()->default_value(0.95, "0.95"), "bootstrap interval level")
      ("threads", po::value<int>()->default_value(1), "worker threads")
      ("json", po::value<std::string>()->default_value("-"), "output path, or - for stdout")
      ("write-example", po::value<std::string>(), "write a small synthetic input file to this path and exit");
  const auto vm = ibzoo::cli::parse_command_line(cli, args);
  if (!vm) return 0;
  if (vm->count("write-example")) {
    ibzoo::tools::write_entropy_example((*vm)["write-example"].as<std::string>(), 400, 16, 7);
    return 0;
  }
  const auto job = entropy_job(*vm);

  const std::string text = ibzoo::tools::to_json(ibzoo::tools::run_entropy(job)).dump(2) + "\n";
  const std::string out = (*vm)["json"].as<std::string>();
  if (out == "-") {
    std::cout << text;
  } else {
    ibzoo::io::write_file_atomic(out, text);
  }
  return 0;
}

const bool kRegistered = ibzoo::cli::register_command(
    {"entropy", "soft entropy and mutual information of one representation matrix (HDF5 in, JSON out)",
     run_entropy_command});

}  // namespace
