#include "hf/random_model.h"

#include "errors/error.h"
#include "analysis/reference_points.h"
#include "hf/safetensors.h"
#include "hf/layout.h"

#include <cmath>
#include <cstring>
#include <numbers>

namespace ibzoo::hf {

namespace {

// Uniform in (0, 1) from the SplitMix64 stream: never 0, so log() below is finite.
double uniform(analysis::SplitMix64Stream& rng) { return (static_cast<double>(rng.next() >> 11) + 0.5) * 0x1.0p-53; }

// Box-Muller: tiny, portable, and good enough for initial weights.
double normal(analysis::SplitMix64Stream& rng) {
  const double u1 = uniform(rng);
  const double u2 = uniform(rng);
  return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * std::numbers::pi * u2);
}

std::uint64_t fnv1a(const std::string& s) {
  std::uint64_t h = 0xcbf29ce484222325ull;
  for (const char ch : s) {
    h ^= static_cast<unsigned char>(ch);
    h *= 0x100000001b3ull;
  }
  return h;
}

std::vector<float> draw(const ParamSpec& spec, const RandomModelOptions& o) {
  std::int64_t n = 1;
  for (const auto d : spec.shape) n *= d;
  std::vector<float> v(static_cast<std::size_t>(n));
  analysis::SplitMix64Stream rng(o.seed * 0x9e3779b97f4a7c15ull ^ fnv1a(spec.name));
  const double norm_center = o.config.norm_kind() == hf::NormKind::RmsNormOnePlus ? 0.0 : 1.0;
  for (auto& x : v) {
    switch (spec.init) {
      case ParamInit::NormWeight:
        x = static_cast<float>(norm_center + 0.8 * (uniform(rng) - 0.5));
        break;
      case ParamInit::Normal:
      case ParamInit::NormBias:
        x = static_cast<float>(o.init_std * normal(rng));
        break;
    }
  }
  return v;
}

}  // namespace

void make_random_model(const RandomModelOptions& options, const std::filesystem::path& out_dir) {
  std::error_code ec;
  std::filesystem::create_directories(out_dir, ec);
  if (ec) throw WriteError(out_dir.string() + ": cannot create the model directory (" + ec.message() + ")");
  const auto specs = hf_param_specs(options.config);
  std::vector<std::vector<float>> values;
  values.reserve(specs.size());
  std::vector<hf::TensorToWrite> tensors;
  for (const auto& spec : specs) {
    values.push_back(draw(spec, options));
    const auto& v = values.back();
    tensors.push_back({spec.name, hf::DType::F32, spec.shape,
                       std::span<const std::byte>(reinterpret_cast<const std::byte*>(v.data()), v.size() * sizeof(float))});
  }
  hf::ModelConfig config = options.config;
  config.dtype = "float32";
  hf::write_model_config(out_dir, config);
  hf::write_safetensors(out_dir / "model.safetensors", tensors,
                        {{"format", "pt"}, {"ibzoo_seed", std::to_string(options.seed)}});
}

std::int64_t count_parameters(const hf::ModelConfig& config) {
  std::int64_t n = 0;
  for (const auto& spec : hf_param_specs(config)) {
    std::int64_t k = 1;
    for (const auto d : spec.shape) k *= d;
    n += k;
  }
  return n;
}

}  // namespace ibzoo::hf
