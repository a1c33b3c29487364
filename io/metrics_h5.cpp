#include "io/metrics_h5.h"

#include "io/fs.h"
#include "io/h5.h"

namespace ibzoo::io {

void write_metrics_h5(const std::filesystem::path& path, const std::vector<MetricRow>& rows,
                      const std::vector<ReferencePointsRecord>& reference_points, const std::string& manifest_json) {
  const auto temp = temp_path_for(path);
  {
    auto file = H5File::create(temp);
    std::vector<std::string> model, family, checkpoint, label_set, metric, scope;
    std::vector<std::int64_t> step, layer;
    std::vector<double> value;
    for (const auto& r : rows) {
      model.push_back(r.model);
      family.push_back(r.family);
      checkpoint.push_back(r.checkpoint);
      step.push_back(r.step);
      auto f = to_file_fields(r);
      layer.push_back(f.layer);
      label_set.push_back(std::move(f.label_set));
      scope.push_back(std::move(f.scope));
      metric.push_back(r.metric);
      value.push_back(r.value);
    }
    const auto n = static_cast<std::int64_t>(rows.size());
    file.write_strings("/metrics/model", model);
    file.write_strings("/metrics/family", family);
    file.write_strings("/metrics/checkpoint", checkpoint);
    file.write("/metrics/step", std::span<const std::int64_t>(step), {n});
    file.write("/metrics/layer", std::span<const std::int64_t>(layer), {n});
    file.write_strings("/metrics/label_set", label_set);
    file.write_strings("/metrics/metric", metric);
    file.write("/metrics/value", std::span<const double>(value), {n});
    file.write_strings("/metrics/scope", scope);
    file.set_attr("/", "manifest", manifest_json);
    for (const auto& rp : reference_points) {
      const auto name = "/reference_points/d" + std::to_string(rp.dim);
      file.write(name, std::span<const float>(rp.w), {rp.n_bins, rp.dim});
      file.set_attr(name, "eps", rp.eps);
      file.set_attr(name, "calibration", rp.calibration);
      file.set_attr(name, "checksum", rp.checksum);
      file.set_attr(name, "seed", rp.seed);
    }
    file.close();
  }
  commit_file(temp, path);
}

void write_reference_points(const std::filesystem::path& path, const ReferencePointsRecord& record) {
  std::error_code ec;
  std::filesystem::create_directories(path.parent_path(), ec);
  const auto temp = temp_path_for(path);
  {
    auto file = H5File::create(temp);
    file.write("/w", std::span<const float>(record.w), {record.n_bins, record.dim});
    file.set_attr("/w", "eps", record.eps);
    file.set_attr("/w", "calibration", record.calibration);
    file.set_attr("/w", "checksum", record.checksum);
    file.set_attr("/w", "seed", record.seed);
    file.close();
  }
  commit_file(temp, path);
}

ReferencePointsRecord read_reference_points(const std::filesystem::path& path) {
  const auto file = H5File::open_read(path);
  const auto w = file.read_f32("/w");
  ReferencePointsRecord r;
  r.n_bins = w.rows();
  r.dim = w.cols();
  r.w = w.data;
  r.eps = file.attr_double("/w", "eps").value_or(0.0);
  r.calibration = file.attr_string("/w", "calibration").value_or("");
  r.checksum = file.attr_string("/w", "checksum").value_or("");
  r.seed = file.attr_int("/w", "seed").value_or(0);
  return r;
}

}  // namespace ibzoo::io
