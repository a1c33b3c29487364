// Which run directory a command means: `status`, `cancel`, `report` and `submit` take
// either the run directory itself or the study's manifest (whose run_dir, default
// runs/<study> beside the manifest, is the run directory), and --run-dir overrides it.
#pragma once

#include <filesystem>
#include <optional>
#include <string>

namespace ibzoo::pipeline {

// The run directory of a manifest, read from its YAML as `ibzoo run` resolves it
// (run_dir, else runs/<study>, relative to the manifest's directory), without
// validating the rest of the manifest. Throws MissingInputError, ManifestError.
std::filesystem::path manifest_run_dir(const std::filesystem::path& path_manifest);

// `target` is a directory (the run directory) or a manifest file; `run_dir` (--run-dir)
// wins over both. Throws MissingInputError naming `target` when it is neither.
std::filesystem::path resolve_run_target(const std::string& target, const std::optional<std::string>& run_dir = {});

// Help text for the RUN argument of these commands.
inline constexpr const char* kRunTargetHelp =
    "  RUN   the run directory, or the study's manifest (its run_dir; --run-dir overrides it)";

}  // namespace ibzoo::pipeline
