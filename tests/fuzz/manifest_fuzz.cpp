// libFuzzer target: the YAML study manifest (pipeline/manifest.h). The input is
// the manifest text, written to a scratch file and loaded with load_manifest();
// an accepted manifest must also survive the JSON round trip that rank 0
// broadcasts. A ManifestError (any ibzoo::Error) is an expected rejection; any
// other exception (yaml-cpp's own, std::filesystem's, nlohmann's) is a finding.
#include "errors/error.h"
#include "pipeline/manifest.h"
#include "tests/fuzz/fuzz_util.h"

#include <cstddef>
#include <cstdint>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto path = ibzoo::fuzz::write_input("manifest.yaml", data, size);
  try {
    const auto manifest = ibzoo::pipeline::load_manifest(path);
    const auto json = ibzoo::pipeline::to_json(manifest);
    if (!(ibzoo::pipeline::manifest_from_json(json) == manifest)) {
      ibzoo::fuzz::invariant_failed("manifest does not round-trip through JSON");
    }
    (void)ibzoo::pipeline::manifest_hash(manifest);
  } catch (const ibzoo::Error&) {
  }
  return 0;
}
