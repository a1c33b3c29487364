// <run>/results/metrics.h5: the tidy metrics table as columns, plus the reference
// points W of every hidden width used (so results can be compared exactly with
// other implementations). docs/RUN_LAYOUT.md lists every dataset.
#pragma once

#include "io/metrics_csv.h"

#include <filesystem>
#include <string>
#include <vector>

namespace ibzoo::io {

struct ReferencePointsRecord {
  std::int64_t dim = 0;
  std::int64_t n_bins = 0;
  std::vector<float> w;       // [m, d]
  double eps = 0;
  std::string calibration;
  std::string checksum;
  std::int64_t seed = 0;
};

// Written atomically. Throws WriteError.
void write_metrics_h5(const std::filesystem::path& path, const std::vector<MetricRow>& rows,
                      const std::vector<ReferencePointsRecord>& reference_points, const std::string& manifest_json);

// <run>/reference_points/d<dim>.h5 (one per width, written once, atomically).
void write_reference_points(const std::filesystem::path& path, const ReferencePointsRecord& record);
ReferencePointsRecord read_reference_points(const std::filesystem::path& path);

}  // namespace ibzoo::io
