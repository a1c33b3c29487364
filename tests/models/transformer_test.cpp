// The torch module itself: the HF <-> internal weight mapping is invertible, the
// module trains (gradients reach every parameter), and the rotary tables match a
// naive per-element formula including llama3 scaling.
#include "models/transformer.h"

#include "hf/safetensors.h"
#include "hf/layout.h"
#include "hf/random_model.h"

#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstring>
#include <numbers>

namespace ibzoo::models {
namespace {

namespace fs = std::filesystem;

fs::path temp_dir(const std::string& name) {
  const auto dir = fs::temp_directory_path() / ("ibzoo_transformer_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

// io::float_to_f16 (the host path of float16 assignments) rounds exactly as torch's
// float -> half conversion (the device path), and f16_to_float widens as torch does:
// every half value, and floats across the whole range, with ties and subnormals.
TEST(HalfConversionTest, MatchesTorch) {
  for (std::uint32_t h = 0; h < (1u << 16); ++h) {
    const auto bits = static_cast<std::uint16_t>(h);
    const float ours = io::f16_to_float(bits);
    const float theirs = static_cast<float>(c10::Half(bits, c10::Half::from_bits()));
    if (std::isnan(theirs)) {
      EXPECT_TRUE(std::isnan(ours)) << h;
    } else {
      EXPECT_EQ(std::bit_cast<std::uint32_t>(ours), std::bit_cast<std::uint32_t>(theirs)) << h;
    }
  }
  std::size_t checked = 0;
  const auto check = [&](std::uint32_t x) {
    const float f = std::bit_cast<float>(x);
    const std::uint16_t theirs = c10::Half(f).x;
    const std::uint16_t ours = io::float_to_f16(f);
    ++checked;
    if (std::isnan(f)) {
      ASSERT_EQ(ours & 0x7c00u, 0x7c00u) << x;
      ASSERT_NE(ours & 0x3ffu, 0u) << x;
    } else {
      ASSERT_EQ(ours, theirs) << "float bits 0x" << std::hex << x;
    }
  };
  for (std::uint64_t x = 0; x < (1ull << 32); x += 4099) check(static_cast<std::uint32_t>(x));
  // Around every half value: the ties between neighbours and one float ulp either side.
  for (std::uint32_t h = 0; h < 0x7c00u; ++h) {
    const float lo = io::f16_to_float(static_cast<std::uint16_t>(h));
    const float hi = io::f16_to_float(static_cast<std::uint16_t>(h + 1));
    const auto mid = std::bit_cast<std::uint32_t>((lo + hi) / 2);  // exact: halves have 11 bits
    for (std::uint32_t sign : {0u, 0x80000000u}) {
      for (std::uint32_t x : {mid - 1, mid, mid + 1}) check(x | sign);
    }
  }
  EXPECT_GT(checked, 1000000u);
}

TEST(TransformerTest, HfTensorsRoundTripExactlyForEveryFamily) {
  for (const auto f : hf::all_families()) {
    const auto dir = temp_dir(std::string(hf::family_name(f)));
    const auto cfg = hf::default_model_config(f, {});
    hf::make_random_model({cfg, 11, 0.05}, dir);
    const auto store = hf::WeightStore::open_dir(dir);
    const auto model = load_transformer(store, cfg, torch::kFloat, torch::kCPU);
    const auto tensors = to_hf_tensors(*model);
    ASSERT_EQ(tensors.size(), store.size()) << hf::family_name(f);
    for (const auto& [name, t] : tensors) {
      const auto& view = store.at(name);
      ASSERT_EQ(static_cast<std::size_t>(t.numel()) * 4, view.data.size()) << name;
      EXPECT_EQ(std::memcmp(t.data_ptr<float>(), view.data.data(), view.data.size()), 0) << name;
    }
    fs::remove_all(dir);
  }
}

TEST(TransformerTest, GradientsReachEveryParameter) {
  for (const auto f : hf::all_families()) {
    const auto dir = temp_dir(std::string("grad_") + std::string(hf::family_name(f)));
    const auto cfg = hf::default_model_config(f, {});
    hf::make_random_model({cfg, 2, 0.05}, dir);
    const auto model = load_transformer(hf::WeightStore::open_dir(dir), cfg, torch::kFloat, torch::kCPU);
    const auto ids = torch::tensor({{1, 2, 3, 4, 5, 6}, {7, 8, 9, 0, 0, 0}}, torch::kLong);
    ForwardOptions o;
    o.want_logits = true;
    const auto logits = model->forward(ids, {6, 3}, {}, o);
    const auto loss = torch::nn::functional::cross_entropy(logits.reshape({-1, cfg.vocab_size}), ids.reshape({-1}));
    loss.backward();
    for (const auto& p : model->named_parameters()) {
      ASSERT_TRUE(p.value().grad().defined()) << hf::family_name(f) << " " << p.key();
      EXPECT_GT(p.value().grad().abs().sum().item<double>(), 0.0) << hf::family_name(f) << " " << p.key();
    }
    fs::remove_all(dir);
  }
}

TEST(TransformerTest, RotaryTablesMatchANaiveFormulaWithLlama3Scaling) {
  auto cfg = hf::default_model_config(hf::Family::Llama, {});
  cfg.rope.type = hf::RopeType::Llama3;
  cfg.rope.theta = 500000.0;
  cfg.rope.factor = 8.0;
  cfg.rope.original_max_position_embeddings = 64;
  const auto positions = torch::arange(0, 40, torch::kLong).unsqueeze(0);
  const auto [cos, sin] = rotary_tables(cfg, positions);
  const auto rot = cfg.rotary_dims();
  ASSERT_EQ(cos.size(-1), rot);
  const auto& r = cfg.rope;
  for (std::int64_t i = 0; i < rot / 2; ++i) {
    double inv = 1.0 / std::pow(r.theta, static_cast<double>(2 * i) / static_cast<double>(rot));
    const double wavelen = 2 * std::numbers::pi / inv;
    const double low_wl = static_cast<double>(r.original_max_position_embeddings) / r.low_freq_factor;
    const double high_wl = static_cast<double>(r.original_max_position_embeddings) / r.high_freq_factor;
    if (wavelen > low_wl) {
      inv /= r.factor;
    } else if (wavelen >= high_wl) {
      const double s = (static_cast<double>(r.original_max_position_embeddings) / wavelen - r.low_freq_factor) /
                       (r.high_freq_factor - r.low_freq_factor);
      inv = (1 - s) * inv / r.factor + s * inv;
    }
    for (std::int64_t p = 0; p < 40; p += 13) {
      const double angle = static_cast<double>(p) * inv;
      EXPECT_NEAR(cos[0][p][i].item<double>(), std::cos(angle), 1e-4) << i << " " << p;
      EXPECT_NEAR(sin[0][p][i + rot / 2].item<double>(), std::sin(angle), 1e-4) << i << " " << p;
    }
  }
}

}  // namespace
}  // namespace ibzoo::models
