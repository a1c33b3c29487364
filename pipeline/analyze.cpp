#include "pipeline/analyze.h"

#include "io/log.h"

namespace ibzoo::pipeline {

void analyze(const Manifest& manifest, const io::RunDir& run) {
  if (manifest.benchmarks.empty()) {
    io::log_info("analysis: the manifest lists no benchmarks; correlations are skipped");
  }
  (void)run;
}

}  // namespace ibzoo::pipeline
