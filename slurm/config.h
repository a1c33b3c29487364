// The manifest's `slurm:` section (docs/SLURM.md): resources, arrays, the launcher.
// pipeline/manifest.cpp validates it with every other section; the normalised manifest
// carries it as JSON (pipeline::Manifest::slurm).
#pragma once

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

namespace YAML {
class Node;
}

namespace ibzoo::slurm {

// The manifest's `slurm:` section (docs/SLURM.md). Empty strings and zeros mean "not set":
// the corresponding sbatch option is left out and the cluster's default applies.
struct SlurmConfig {
  std::string partition;
  std::string account;
  std::string qos;
  std::string time;                  // Slurm time limit, e.g. "02:00:00" or "1-00:00:00"
  int nodes = 1;
  int ntasks_per_node = 1;
  int gpus_per_node = 0;
  int cpus_per_task = 1;
  std::string mem;                   // per node, e.g. "16G"
  int array_throttle = 0;            // %K: at most K tasks of one array run at once; 0 = no limit
  int items_per_task = 1;            // slice size: work items per array task
  int max_array_size = 0;            // 0: read MaxArraySize from `scontrol show config`
  std::vector<std::string> launcher = {"srun", "--mpi=pmix"};  // split on whitespace
  std::vector<std::string> extra_flags;                        // extra #SBATCH lines, e.g. "--constraint=a100"
  int signal_grace_s = 120;          // USR1 this long before the time limit; 0: no signal
  bool operator==(const SlurmConfig&) const = default;
};

// parse_slurm_section's result: the config (defaults where a key is missing or invalid)
// and every problem found, each "FILE:LINE: slurm.KEY: message".
struct SlurmSection {
  SlurmConfig config;
  std::vector<std::string> errors;
};

// Validates a manifest's `slurm:` node (a map; a null/undefined node gives the defaults).
// Reports every problem at once (unknown keys, wrong types, out-of-range values, control
// characters) instead of throwing; `path_manifest` only labels the messages.
SlurmSection parse_slurm_section(const YAML::Node& slurm, const std::string& path_manifest);

// Round trip through the normalised manifest JSON (pipeline::Manifest::slurm).
// slurm_config_from_json throws ManifestError on a malformed object.
nlohmann::json to_json(const SlurmConfig& config);
SlurmConfig slurm_config_from_json(const nlohmann::json& j);

}  // namespace ibzoo::slurm
