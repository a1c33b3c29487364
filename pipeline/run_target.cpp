#include "pipeline/run_target.h"

#include "errors/error.h"

#include <yaml-cpp/yaml.h>

namespace ibzoo::pipeline {

namespace fs = std::filesystem;

fs::path manifest_run_dir(const fs::path& path_manifest) {
  if (!fs::is_regular_file(path_manifest)) {
    throw MissingInputError("manifest " + path_manifest.string() + " does not exist; pass the path of a YAML manifest");
  }
  YAML::Node manifest;
  try {
    manifest = YAML::LoadFile(path_manifest.string());
  } catch (const YAML::Exception& e) {
    throw ManifestError("manifest " + path_manifest.string() + ":" + std::to_string(e.mark.line + 1) + ": " + e.msg);
  }
  const auto run_dir = manifest.IsMap() ? manifest["run_dir"] : YAML::Node();
  const auto study = manifest.IsMap() ? manifest["study"] : YAML::Node();
  fs::path path;
  if (run_dir && run_dir.IsScalar()) {
    path = run_dir.Scalar();
  } else if (study && study.IsScalar()) {
    path = fs::path("runs") / study.Scalar();
  } else {
    throw ManifestError("manifest " + path_manifest.string() + " names neither run_dir nor study; pass --run-dir DIR");
  }
  const auto base = fs::absolute(path_manifest).parent_path();
  return fs::weakly_canonical(path.is_absolute() ? path : base / path);
}

fs::path resolve_run_target(const std::string& target, const std::optional<std::string>& run_dir) {
  if (run_dir) return fs::weakly_canonical(fs::absolute(*run_dir));
  std::error_code ec;
  const fs::path path = target;
  if (fs::is_directory(path, ec)) return path;
  if (fs::is_regular_file(path, ec)) return manifest_run_dir(path);
  throw MissingInputError(target + ": no such run directory or manifest; pass the run directory or the study's "
                          "manifest (`ibzoo run MANIFEST` creates the run directory)");
}

}  // namespace ibzoo::pipeline
