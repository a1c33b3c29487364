// Parity of models::Model with transformers 5.17 on the committed fixtures
// (tests/fixtures/models/<f>, tests/fixtures/reference/<f>.safetensors), plus the
// streaming contract, padded batches, the legacy config spelling and error paths.
#include "models/model.h"

#include "errors/error.h"
#include "analysis/reference_points.h"
#include "analysis/soft_entropy.h"
#include "hf/config.h"
#include "hf/safetensors.h"
#include "hf/random_model.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>

namespace ibzoo::models {
namespace {

namespace fs = std::filesystem;

const fs::path kFixtures(IBZOO_FIXTURES);
constexpr double kTol = 1e-4;  // relative L2 error per layer, float32 on CPU

const std::vector<std::string> kFamilies = {"gpt2", "gpt_neox", "llama", "smollm2", "mistral", "qwen2", "olmo2", "gemma2"};

fs::path temp_dir(const std::string& name) {
  const auto dir = fs::temp_directory_path() / ("ibzoo_model_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

template <typename T>
std::vector<T> read_vec(const hf::TensorView& t) {
  std::vector<T> out(static_cast<std::size_t>(t.numel()));
  std::memcpy(out.data(), t.data.data(), t.data.size());
  return out;
}

std::vector<std::int32_t> ids_of(const hf::SafetensorsFile& ref, const std::string& name) {
  std::vector<std::int32_t> ids;
  for (const auto v : read_vec<std::int64_t>(*ref.find(name))) ids.push_back(static_cast<std::int32_t>(v));
  return ids;
}

double rel_err(const float* ours, const float* ref, std::size_t n) {
  double num = 0.0, den = 0.0;
  for (std::size_t i = 0; i < n; ++i) {
    const double d = static_cast<double>(ours[i]) - ref[i];
    num += d * d;
    den += static_cast<double>(ref[i]) * ref[i];
  }
  return std::sqrt(num / std::max(den, 1e-300));
}

// All layers of one forward, [L + 1][rows * d].
std::vector<std::vector<float>> collect(const Model& m, const std::vector<std::vector<std::int32_t>>& seqs) {
  std::vector<std::vector<float>> layers(static_cast<std::size_t>(m.n_layers() + 1));
  int expected = 0;
  m.forward_layers(seqs, [&](int idx, const float* rows, std::int64_t n, std::int64_t d) {
    EXPECT_EQ(idx, expected++);  // streamed in order
    EXPECT_EQ(d, m.hidden_size());
    layers[static_cast<std::size_t>(idx)].assign(rows, rows + n * d);
  });
  return layers;
}

void expect_layers_match(const std::vector<std::vector<float>>& ours, const hf::TensorView& ref, const std::string& what) {
  const auto r = read_vec<float>(ref);
  const auto n_layers = static_cast<std::size_t>(ref.shape[0]);
  ASSERT_EQ(ours.size(), n_layers) << what;
  const auto per_layer = r.size() / n_layers;
  for (std::size_t l = 0; l < n_layers; ++l) {
    ASSERT_EQ(ours[l].size(), per_layer) << what << " layer " << l;
    EXPECT_LT(rel_err(ours[l].data(), r.data() + l * per_layer, per_layer), kTol) << what << " layer " << l;
  }
}

class FixtureParityTest : public ::testing::TestWithParam<std::string> {};

TEST_P(FixtureParityTest, HiddenStatesAndLogitsMatchTransformersInFloat32) {
  const auto& family = GetParam();
  const auto model = Model::load(kFixtures / "models" / family, {});
  const auto ref = hf::SafetensorsFile::open(kFixtures / "reference" / (family + ".safetensors"));
  int n_texts = 0;
  for (int k = 0; ref.find("input_ids_" + std::to_string(k)); ++k, ++n_texts) {
    const auto key = std::to_string(k);
    const auto ids = ids_of(ref, "input_ids_" + key);
    expect_layers_match(collect(*model, {ids}), *ref.find("hidden_states_" + key), family + " text " + key);
    if (const auto* ref_logits = ref.find("logits_" + key)) {
      const auto ours = model->logits({ids});
      const auto r = read_vec<float>(*ref_logits);
      ASSERT_EQ(ours[0].size(), r.size());
      EXPECT_LT(rel_err(ours[0].data(), r.data(), r.size()), kTol) << family << " logits " << key;
    }
  }
  EXPECT_GE(n_texts, 10);
}

TEST_P(FixtureParityTest, PaddedBatchEqualsTheUnpaddedSequences) {
  const auto& family = GetParam();
  const auto model = Model::load(kFixtures / "models" / family, {});
  const auto ref = hf::SafetensorsFile::open(kFixtures / "reference" / (family + ".safetensors"));
  const auto* batch_ids = ref.find("input_ids_batch");
  ASSERT_NE(batch_ids, nullptr);
  const auto ids = read_vec<std::int64_t>(*batch_ids);
  const auto mask = read_vec<std::int64_t>(*ref.find("attention_mask_batch"));
  const auto b = batch_ids->shape[0];
  const auto t = batch_ids->shape[1];
  std::vector<std::vector<std::int32_t>> seqs(static_cast<std::size_t>(b));
  for (std::int64_t i = 0; i < b; ++i) {
    for (std::int64_t j = 0; j < t; ++j) {
      if (mask[static_cast<std::size_t>(i * t + j)]) seqs[static_cast<std::size_t>(i)].push_back(static_cast<std::int32_t>(ids[static_cast<std::size_t>(i * t + j)]));
    }
  }
  ASSERT_NE(seqs[0].size(), seqs[2].size()) << "the batch must actually be padded";
  const auto batched = collect(*model, seqs);
  // Ours, one sequence at a time, concatenated in input order.
  std::vector<std::vector<float>> single(batched.size());
  for (const auto& s : seqs) {
    const auto one = collect(*model, {s});
    for (std::size_t l = 0; l < one.size(); ++l) single[l].insert(single[l].end(), one[l].begin(), one[l].end());
  }
  // The reference batch, padding removed.
  const auto r = read_vec<float>(*ref.find("hidden_states_batch"));
  const auto d = model->hidden_size();
  for (std::size_t l = 0; l < batched.size(); ++l) {
    ASSERT_EQ(batched[l].size(), single[l].size());
    EXPECT_LT(rel_err(batched[l].data(), single[l].data(), single[l].size()), 1e-5) << family << " layer " << l;
    std::vector<float> ref_rows;
    for (std::int64_t i = 0; i < b; ++i) {
      for (std::int64_t j = 0; j < t; ++j) {
        if (!mask[static_cast<std::size_t>(i * t + j)]) continue;
        const auto off = ((static_cast<std::int64_t>(l) * b + i) * t + j) * d;
        ref_rows.insert(ref_rows.end(), r.begin() + off, r.begin() + off + d);
      }
    }
    EXPECT_LT(rel_err(batched[l].data(), ref_rows.data(), ref_rows.size()), kTol) << family << " layer " << l;
  }
}

TEST_P(FixtureParityTest, LegacyConfigSpellingGivesTheSameHiddenStates) {
  const auto& family = GetParam();
  const auto src = kFixtures / "models" / family;
  const auto dir = temp_dir("legacy_" + family);
  hf::write_model_config(dir, hf::read_model_config(src), hf::ConfigSpelling::Legacy);
  fs::create_symlink(fs::absolute(src / "model.safetensors"), dir / "model.safetensors");
  std::ifstream in(dir / "config.json");
  const auto legacy = nlohmann::json::parse(in);
  EXPECT_FALSE(legacy.contains("rope_parameters"));
  EXPECT_TRUE(legacy.contains("torch_dtype"));
  const auto model = Model::load(dir, {});
  const auto ref = hf::SafetensorsFile::open(kFixtures / "reference" / (family + ".safetensors"));
  expect_layers_match(collect(*model, {ids_of(ref, "input_ids_11")}), *ref.find("hidden_states_11"), family + " legacy");
  fs::remove_all(dir);
}

INSTANTIATE_TEST_SUITE_P(AllFamilies, FixtureParityTest, ::testing::ValuesIn(kFamilies));

TEST(ModelTest, StreamsOnlyTheRequestedLayersAndSkipsTheFinalNormOnRequest) {
  const auto dir = kFixtures / "models" / "llama";
  const auto with_norm = Model::load(dir, {});
  RunOptions raw_opts;
  raw_opts.final_norm = false;
  const auto raw = Model::load(dir, raw_opts);
  const std::vector<std::vector<std::int32_t>> seqs = {{1, 2, 3, 4}, {5, 6}};
  std::vector<int> seen;
  const std::vector<int> wanted = {0, 2};
  with_norm->forward_layers(seqs, [&](int idx, const float*, std::int64_t n, std::int64_t) {
    seen.push_back(idx);
    EXPECT_EQ(n, 6);
  }, wanted);
  EXPECT_EQ(seen, wanted);
  const auto a = collect(*with_norm, seqs);
  const auto b = collect(*raw, seqs);
  EXPECT_EQ(a[1], b[1]);
  EXPECT_GT(rel_err(a[2].data(), b[2].data(), a[2].size()), 0.05);  // L differs: final norm skipped
  // The raw last block, normalised per row (RMSNorm times weight), gives index L.
  EXPECT_EQ(with_norm->n_layers(), 2);
}

TEST(ModelTest, RandomModelsOfEveryFamilyLoadAndRunInEveryDtype) {
  for (const auto f : hf::all_families()) {
    const auto dir = temp_dir(std::string("random_") + std::string(hf::family_name(f)));
    hf::make_random_model({hf::default_model_config(f, {}), 3, 0.08}, dir);
    const auto m32 = Model::load(dir, {});
    EXPECT_EQ(m32->n_parameters(), hf::count_parameters(m32->config())) << hf::family_name(f);
    const std::vector<std::vector<std::int32_t>> seqs = {{1, 2, 3, 4, 5, 6, 7, 8, 9}, {10, 11}};
    const auto ref = collect(*m32, seqs);
    for (const auto dt : {DType::BFloat16, DType::Float16}) {
      RunOptions o;
      o.dtype = dt;
      if (!dtype_supported(o.device, dt)) {
        try {
          Model::load(dir, o);
          ADD_FAILURE() << "unsupported dtype accepted";
        } catch (const ModelError& e) {
          EXPECT_NE(std::string(e.what()).find("use --dtype bfloat16"), std::string::npos) << e.what();
        }
        continue;
      }
      const auto m = Model::load(dir, o);
      const auto low = collect(*m, seqs);
      for (std::size_t l = 0; l < low.size(); ++l) {
        EXPECT_LT(rel_err(low[l].data(), ref[l].data(), ref[l].size()), 5e-2) << hf::family_name(f) << " " << dtype_name(dt) << " layer " << l;
      }
    }
    fs::remove_all(dir);
  }
}

TEST(ModelTest, ResumingFromAHiddenStateGivesTheSameBitsAsTheWholePass) {
  // What the CPU passes of later layer groups do (stages/spill.h): the hidden states
  // after layer l, fed back, give every later layer bit for bit, in every family, for
  // one sequence and for a padded batch.
  for (const auto f : hf::all_families()) {
    const auto dir = temp_dir(std::string("resume_") + std::string(hf::family_name(f)));
    hf::make_random_model({hf::default_model_config(f, {}), 3, 0.08}, dir);
    const auto m = Model::load(dir, {});
    ASSERT_GE(m->n_layers(), 2);
    for (const auto& seqs : {std::vector<std::vector<std::int32_t>>{{1, 2, 3, 4, 5, 6, 7, 8, 9}},
                                                              std::vector<std::vector<std::int32_t>>{{1, 2, 3, 4, 5, 6, 7}, {10, 11}}}) {
      const auto whole = collect(*m, seqs);
      for (int from = 1; from < m->n_layers(); ++from) {
        int expected = from + 1;
        m->forward_layers_from(seqs, from, whole[static_cast<std::size_t>(from)], [&](int idx, const float* rows, std::int64_t n, std::int64_t d) {
          EXPECT_EQ(idx, expected++);
          const std::vector<float> got(rows, rows + n * d);
          EXPECT_EQ(got, whole[static_cast<std::size_t>(idx)]) << hf::family_name(f) << " from " << from << " layer " << idx
                                                                << ", " << seqs.size() << " sequence(s)";
        });
        EXPECT_EQ(expected, m->n_layers() + 1) << hf::family_name(f) << " from " << from;
      }
    }
    EXPECT_THROW(m->forward_layers_from({{1, 2, 3}}, 1, std::vector<float>(5), [](int, const float*, std::int64_t, std::int64_t) {}),
                 ModelError);
    fs::remove_all(dir);
  }
}

TEST(ModelTest, SameSeedSameBytes) {
  const auto a = temp_dir("seed_a");
  const auto b = temp_dir("seed_b");
  const auto cfg = hf::default_model_config(hf::Family::Gpt2, {});
  hf::make_random_model({cfg, 5, 0.02}, a);
  hf::make_random_model({cfg, 5, 0.02}, b);
  const auto read = [](const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  };
  EXPECT_EQ(read(a / "model.safetensors"), read(b / "model.safetensors"));
  hf::make_random_model({cfg, 6, 0.02}, b);
  EXPECT_NE(read(a / "model.safetensors"), read(b / "model.safetensors"));
  fs::remove_all(a);
  fs::remove_all(b);
}

TEST(ModelTest, MissingTensorAndWrongShapeAreModelErrors) {
  const auto dir = temp_dir("broken");
  const auto cfg = hf::default_model_config(hf::Family::Llama, {});
  hf::make_random_model({cfg, 1, 0.02}, dir);
  // Drop one tensor.
  {
    const auto f = hf::SafetensorsFile::open(dir / "model.safetensors");
    std::vector<hf::TensorToWrite> keep;
    for (const auto& t : f.tensors()) {
      if (t.name != "model.layers.1.mlp.up_proj.weight") keep.push_back({t.name, t.dtype, t.shape, t.data});
    }
    hf::write_safetensors(dir / "model2.safetensors", keep);
  }
  fs::rename(dir / "model2.safetensors", dir / "model.safetensors");
  try {
    Model::load(dir, {});
    FAIL();
  } catch (const ModelError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("missing tensor"), std::string::npos) << msg;
    EXPECT_NE(msg.find("model.layers.1.mlp.up_proj.weight"), std::string::npos) << msg;
  }
  // A config that disagrees with the weights.
  auto wide = cfg;
  wide.intermediate_size = 512;
  hf::make_random_model({cfg, 1, 0.02}, dir);
  hf::write_model_config(dir, wide);
  try {
    Model::load(dir, {});
    FAIL();
  } catch (const ModelError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("has shape [256, 64], expected [512, 64]"), std::string::npos) << msg;
  }
  fs::remove_all(dir);
}

TEST(ModelTest, UnknownArchitectureAndBadTokenIdsAreModelErrors) {
  const auto dir = temp_dir("unknown");
  std::ofstream(dir / "config.json") << R"({"model_type": "mamba", "architectures": ["MambaForCausalLM"]})";
  try {
    Model::load(dir, {});
    FAIL();
  } catch (const ModelError& e) {
    EXPECT_NE(std::string(e.what()).find("unknown architecture"), std::string::npos) << e.what();
  }
  const auto m = Model::load(kFixtures / "models" / "gpt2", {});
  try {
    m->forward_layers({{1, 2, 5000}}, [](int, const float*, std::int64_t, std::int64_t) {});
    FAIL();
  } catch (const ModelError& e) {
    EXPECT_NE(std::string(e.what()).find("token id 5000"), std::string::npos) << e.what();
  }
  fs::remove_all(dir);
}

// Fixed shapes (RunOptions::fixed_rows, projections by blocks of 16 rows here): on a
// GPU (bfloat16) a sequence's hidden states are the same bits alone, in a small padded
// batch and in a batch of eleven, for each inference block (gated, plain, folded
// GPT-NeoX, sliding window, general, general with soft-capped attention). On the CPU
// (float32; its pipeline runs one sequence at a time, stages/accumulate.cpp) the blocks
// and their padding give the default path's values. Prints how far each path moves a
// sequence with its batch.
TEST(ModelTest, FixedRowsKeepASequencesBitsInAnyBatchOnAGpu) {
  std::vector<std::pair<Device, DType>> runs = {{Device::Cpu, DType::Float32}};
  if (cuda_available()) runs.emplace_back(Device::Cuda, DType::BFloat16);
  for (const auto& family : {"llama", "gpt2", "gpt_neox", "mistral", "olmo2", "gemma2"}) {
    const auto ref = hf::SafetensorsFile::open(kFixtures / "reference" / (std::string(family) + ".safetensors"));
    std::vector<std::vector<std::int32_t>> texts;
    for (int k = 0; k < 11; ++k) texts.push_back(ids_of(ref, "input_ids_" + std::to_string(k)));
    std::stable_sort(texts.begin(), texts.end(), [](const auto& a, const auto& b) { return a.size() < b.size(); });
    const auto target = texts[5];  // the median length; the others pad it or are padded
    texts.erase(texts.begin() + 5);
    ASSERT_LT(texts.front().size(), target.size());
    ASSERT_GT(texts.back().size(), target.size());
    auto eleven = texts;
    eleven.push_back(target);
    std::size_t eleven_at = 0;
    for (const auto& t : texts) eleven_at += t.size();
    // (batch, the row where the target's rows start: padding removed, input order)
    const std::vector<std::pair<std::vector<std::vector<std::int32_t>>, std::size_t>> batches = {
        {{target}, 0}, {{texts.back(), target, texts.front()}, texts.back().size()}, {eleven, eleven_at}};
    for (const auto& [device, dtype] : runs) {
      const auto what = std::string(family) + " " + device_name(device);
      std::vector<std::unique_ptr<Model>> models;  // default, fixed shapes
      for (const std::int64_t fixed_rows : {0, 16}) {
        RunOptions o;
        o.device = device;
        o.dtype = dtype;
        o.fixed_rows = fixed_rows;
        models.push_back(Model::load(kFixtures / "models" / family, o));
      }
      const auto d = static_cast<std::size_t>(models[0]->hidden_size());
      std::vector<std::vector<std::vector<float>>> alone(2);  // [path][layer]: the target alone
      double moves[2] = {0.0, 0.0};
      for (const auto& [batch, start] : batches) {
        std::vector<std::vector<float>> target_rows[2];
        for (int path = 0; path < 2; ++path) {
          const auto layers = collect(*models[static_cast<std::size_t>(path)], batch);
          for (const auto& layer : layers) {
            const auto* rows = layer.data() + start * d;
            target_rows[path].emplace_back(rows, rows + target.size() * d);
          }
          if (alone[path].empty()) alone[path] = target_rows[path];
        }
        for (std::size_t l = 0; l < target_rows[0].size(); ++l) {
          const auto n = target_rows[0][l].size();
          EXPECT_LT(rel_err(target_rows[1][l].data(), target_rows[0][l].data(), n), dtype == DType::Float32 ? 1e-5 : 1e-2)
              << what << " layer " << l << " in a batch of " << batch.size() << ": fixed shapes against the default path";
          for (int path = 0; path < 2; ++path) {
            for (std::size_t i = 0; i < n; ++i) {
              moves[path] = std::max(moves[path], static_cast<double>(std::abs(target_rows[path][l][i] - alone[path][l][i])));
            }
          }
          if (device == Device::Cuda) {
            EXPECT_EQ(0, std::memcmp(target_rows[1][l].data(), alone[1][l].data(), n * sizeof(float)))
                << what << " fixed shapes: layer " << l << " differs in a batch of " << batch.size();
          }
        }
      }
      std::printf("batch invariance %-9s %s: a sequence moves with its batch by up to %.3g (default), %.3g (fixed shapes)\n",
                  family, device_name(device).c_str(), moves[0], moves[1]);
    }
  }
}

// On a GPU machine: bfloat16 on CUDA within 2e-2 of the float32 transformers
// reference for every family. Without CUDA: the request is a clear ModelError.
TEST(ModelTest, CudaBfloat16MatchesTheReferenceOrIsRefusedClearly) {
  RunOptions o;
  o.device = Device::Cuda;
  o.dtype = DType::BFloat16;
  if (!cuda_available()) {
    try {
      Model::load(kFixtures / "models" / "gpt2", o);
      FAIL() << "cuda accepted without a device";
    } catch (const ModelError& e) {
      EXPECT_NE(std::string(e.what()).find("no CUDA device"), std::string::npos) << e.what();
    }
    return;
  }
  for (const auto& family : kFamilies) {
    const auto model = Model::load(kFixtures / "models" / family, o);
    const auto ref = hf::SafetensorsFile::open(kFixtures / "reference" / (family + ".safetensors"));
    const auto ours = collect(*model, {ids_of(ref, "input_ids_11")});
    const auto r = read_vec<float>(*ref.find("hidden_states_11"));
    const auto per_layer = r.size() / ours.size();
    for (std::size_t l = 0; l < ours.size(); ++l) {
      const double err = rel_err(ours[l].data(), r.data() + l * per_layer, per_layer);
      EXPECT_LT(err, 2e-2) << family << " layer " << l;
      std::printf("cuda bf16 %-9s layer %zu rel err %.2e\n", family.c_str(), l, err);
    }
  }
}

TEST(ModelTest, NextTokenLogProbsAreTheLogSoftmaxOfTheLogitsAtTheNextToken) {
  for (const std::string family : {"gpt2", "llama"}) {
    const auto model = Model::load(kFixtures / "models" / family, {});
    const std::vector<std::vector<std::int32_t>> seqs = {{5, 9, 2, 7, 1, 3}, {4, 4}, {8, 1, 0, 6}, {3}};
    const auto got = model->next_token_log_probs(seqs);
    ASSERT_EQ(got.size(), seqs.size());
    const auto v = model->vocab_size();
    for (std::size_t i = 0; i < seqs.size(); ++i) {
      ASSERT_EQ(got[i].size(), seqs[i].size() - 1) << family << " sequence " << i;
      auto logits = model->logits({seqs[i]})[0];
      log_softmax_rows(logits, v);
      for (std::size_t t = 1; t < seqs[i].size(); ++t) {
        const auto want = logits[(t - 1) * static_cast<std::size_t>(v) + static_cast<std::size_t>(seqs[i][t])];
        EXPECT_NEAR(got[i][t - 1], want, 1e-5) << family << " sequence " << i << " token " << t;
      }
    }
  }
}

TEST(ModelTest, LogSoftmaxRowsSumToOne) {
  std::vector<float> v = {1.0f, 2.0f, 3.0f, 1000.0f, 1000.0f, -1000.0f};
  log_softmax_rows(v, 3);
  for (int r = 0; r < 2; ++r) {
    double s = 0.0;
    for (int c = 0; c < 3; ++c) s += std::exp(static_cast<double>(v[static_cast<std::size_t>(r * 3 + c)]));
    EXPECT_NEAR(s, 1.0, 1e-6);
  }
  EXPECT_NEAR(v[3], -std::log(2.0), 1e-6);
}

}  // namespace
}  // namespace ibzoo::models
