#include "hf/safetensors.h"

#include "errors/error.h"
#include "io/float16.h"

#include <gtest/gtest.h>

#include <cstring>
#include <fstream>
#include <random>

namespace ibzoo::hf {
namespace {

namespace fs = std::filesystem;
using io::bf16_to_float;
using io::f16_to_float;
using io::float_to_bf16;
using io::float_to_f16;

const fs::path kBad = fs::path(IBZOO_FIXTURES) / "safetensors";

// A test's own directory, removed when the test ends (gtest runs each case in a
// process of its own, so a name with the pid would leave one directory per run).
struct TempDir {
  fs::path path;
  explicit TempDir(const std::string& name)
      : path(fs::temp_directory_path() / ("ibzoo_safetensors_" + name + "_" + std::to_string(::getpid()))) {
    fs::remove_all(path);
    fs::create_directories(path);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
};

template <typename T>
std::span<const std::byte> bytes(const std::vector<T>& v) {
  return {reinterpret_cast<const std::byte*>(v.data()), v.size() * sizeof(T)};
}

std::vector<float> floats(const TensorView& t) {
  std::vector<float> out(static_cast<std::size_t>(t.numel()));
  std::memcpy(out.data(), t.data.data(), t.data.size());
  return out;
}

// Expects `fn` to throw E whose message contains every key word.
template <typename E, typename Fn>
void expect_error(Fn fn, std::initializer_list<std::string> words) {
  try {
    fn();
    FAIL() << "no exception";
  } catch (const E& e) {
    const std::string msg = e.what();
    for (const auto& w : words) EXPECT_NE(msg.find(w), std::string::npos) << "'" << w << "' not in: " << msg;
  }
}

TEST(SafetensorsTest, WritesAndReadsBackEveryDtypeShapeAndMetadata) {
  const TempDir scratch("roundtrip");
  const auto& dir = scratch.path;
  const std::vector<float> a = {1.0f, -2.5f, 3.25f, 0.0f, 5.0f, 6.0f};
  const std::vector<std::int64_t> b = {7, -8};
  const std::vector<std::uint16_t> c = {float_to_bf16(1.5f), float_to_bf16(-0.25f), float_to_bf16(3.0f)};
  const std::vector<std::uint8_t> empty;
  write_safetensors(dir / "x.safetensors",
                    {{"layer.a", DType::F32, {2, 3}, bytes(a)},
                     {"b", DType::I64, {2}, bytes(b)},
                     {"c", DType::BF16, {3}, bytes(c)},
                     {"empty", DType::U8, {0, 4}, bytes(empty)}},
                    {{"format", "pt"}});
  const auto f = SafetensorsFile::open(dir / "x.safetensors");
  ASSERT_EQ(f.tensors().size(), 4u);
  EXPECT_EQ(f.metadata().at("format"), "pt");
  const auto* ta = f.find("layer.a");
  ASSERT_NE(ta, nullptr);
  EXPECT_EQ(ta->dtype, DType::F32);
  EXPECT_EQ(ta->shape, (std::vector<std::int64_t>{2, 3}));
  EXPECT_EQ(floats(*ta), a);
  const auto* tc = f.find("c");
  ASSERT_NE(tc, nullptr);
  std::uint16_t bits = 0;
  std::memcpy(&bits, tc->data.data() + 2, 2);
  EXPECT_EQ(bf16_to_float(bits), -0.25f);
  EXPECT_EQ(f.find("empty")->numel(), 0);
  EXPECT_EQ(f.find("nope"), nullptr);
  // The header is padded so that data starts at a multiple of 8.
  std::ifstream in(dir / "x.safetensors", std::ios::binary);
  std::uint64_t n = 0;
  in.read(reinterpret_cast<char*>(&n), 8);
  EXPECT_EQ(n % 8, 0u);
}

TEST(SafetensorsTest, ReadsTheHandMadeGoodFile) {
  const auto f = SafetensorsFile::open(kBad / "good.safetensors");
  ASSERT_EQ(f.tensors().size(), 1u);
  EXPECT_EQ(floats(f.tensors()[0]), (std::vector<float>{1.5f, -2.0f}));
  EXPECT_EQ(f.metadata().at("format"), "pt");
}

TEST(SafetensorsTest, HalfAndBfloatConversionsRoundToNearestEven) {
  // Exhaustive: every finite half and bfloat16 survives a round trip through float.
  for (std::uint32_t h = 0; h < 0x10000; ++h) {
    const auto bits = static_cast<std::uint16_t>(h);
    const float f16 = f16_to_float(bits);
    if (!std::isnan(f16)) {
      EXPECT_EQ(float_to_f16(f16), bits) << h;
    }
    const float bf = bf16_to_float(bits);
    if (!std::isnan(bf)) {
      EXPECT_EQ(float_to_bf16(bf), bits) << h;
    }
  }
  EXPECT_EQ(float_to_f16(1.0f), 0x3c00);
  EXPECT_EQ(float_to_f16(65520.0f), 0x7c00);           // rounds up to inf
  EXPECT_EQ(float_to_f16(1.0f + 0x1.0p-11f), 0x3c00);  // tie -> even
  EXPECT_EQ(float_to_f16(0x1.0p-24f), 0x0001);         // smallest subnormal
  EXPECT_EQ(float_to_bf16(1.0f + 0x1.0p-8f), 0x3f80);  // tie -> even
  EXPECT_EQ(float_to_bf16(1.0f + 0x1.8p-8f), 0x3f81);
}

struct BadCase {
  const char* file;
  std::vector<std::string> words;
};

class BadFileTest : public ::testing::TestWithParam<BadCase> {};

TEST_P(BadFileTest, IsRejectedWithAMessageNamingFileAndProblem) {
  const auto& c = GetParam();
  const auto path = kBad / c.file;
  try {
    SafetensorsFile::open(path);
    FAIL() << c.file << " was accepted";
  } catch (const CorruptDataError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find(c.file), std::string::npos) << msg;
    for (const auto& w : c.words) EXPECT_NE(msg.find(w), std::string::npos) << "'" << w << "' not in: " << msg;
  }
}

INSTANTIATE_TEST_SUITE_P(
    HandMade, BadFileTest,
    ::testing::Values(BadCase{"truncated_length.safetensors", {"3 bytes", "truncated"}},
                      BadCase{"truncated_header.safetensors", {"header length 4096", "truncated"}},
                      BadCase{"truncated_data.safetensors", {"\"a\"", "out of range", "truncated"}},
                      BadCase{"bad_json.safetensors", {"not valid JSON"}},
                      BadCase{"huge_header.safetensors", {"exceeds the limit"}},
                      BadCase{"out_of_range.safetensors", {"\"a\"", "data_offsets [0, 16]", "out of range"}},
                      BadCase{"overlap.safetensors", {"\"a\"", "\"b\"", "overlap"}},
                      BadCase{"dtype_shape_mismatch.safetensors", {"\"a\"", "F16", "mismatch"}},
                      BadCase{"unknown_dtype.safetensors", {"\"a\"", "unknown dtype", "F8_E9M9"}},
                      BadCase{"negative_shape.safetensors", {"\"a\"", "non-negative"}},
                      BadCase{"duplicate_key.safetensors", {"\"a\"", "twice"}},
                      BadCase{"duplicate_nested_key.safetensors", {"\"dtype\"", "twice"}},
                      BadCase{"bad_metadata.safetensors", {"__metadata__", "step"}}));

TEST(SafetensorsTest, HeaderLimitIsConfigurable) {
  expect_error<CorruptDataError>(
      [] { SafetensorsFile::open(kBad / "good.safetensors", SafetensorsLimits{16}); },
      {"good.safetensors", "exceeds the limit of 16 bytes"});
}

TEST(SafetensorsTest, MissingFileIsAMissingInputError) {
  expect_error<MissingInputError>([] { SafetensorsFile::open(kBad / "absent.safetensors"); },
                                  {"absent.safetensors", "no such"});
}

TEST(SafetensorsTest, ParserSurvivesRandomHeaders) {
  // A cheap in-test fuzz: random mutations of a valid header either parse or throw
  // CorruptDataError, never anything else.
  const std::string good = R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"__metadata__":{"k":"v"}})";
  std::mt19937 rng(7);
  int n_ok = 0;
  for (int i = 0; i < 3000; ++i) {
    std::string s = good;
    const int n_mut = 1 + static_cast<int>(rng() % 3);
    for (int m = 0; m < n_mut; ++m) s[rng() % s.size()] = static_cast<char>(rng() % 128);
    try {
      parse_safetensors_header(s, 8, "fuzz");
      ++n_ok;
    } catch (const CorruptDataError&) {
    }
  }
  EXPECT_GT(n_ok, 0);
}

// --- WeightStore: model directories --------------------------------------

void write_shard(const fs::path& path, const std::vector<std::string>& names) {
  std::vector<std::vector<float>> data;
  std::vector<TensorToWrite> tensors;
  for (const auto& n : names) data.push_back({static_cast<float>(n.size()), 2.0f});
  for (std::size_t i = 0; i < names.size(); ++i) tensors.push_back({names[i], DType::F32, {2}, bytes(data[i])});
  write_safetensors(path, tensors);
}

TEST(WeightStoreTest, OpensShardedCheckpointsThroughTheIndex) {
  const TempDir scratch("sharded");
  const auto& dir = scratch.path;
  write_shard(dir / "model-00001-of-00002.safetensors", {"w.a", "w.bb"});
  write_shard(dir / "model-00002-of-00002.safetensors", {"w.ccc"});
  std::ofstream(dir / "model.safetensors.index.json")
      << R"({"metadata": {"total_size": 24}, "weight_map": {"w.a": "model-00001-of-00002.safetensors",
            "w.bb": "model-00001-of-00002.safetensors", "w.ccc": "model-00002-of-00002.safetensors"}})";
  const auto store = WeightStore::open_dir(dir);
  EXPECT_EQ(store.names(), (std::vector<std::string>{"w.a", "w.bb", "w.ccc"}));
  EXPECT_EQ(floats(store.at("w.ccc"))[0], 5.0f);
  EXPECT_EQ(store.total_bytes(), 24u);
  expect_error<ModelError>([&] { store.at("w.missing"); },
                           {(dir / "model.safetensors.index.json").string(), "missing tensor", "\"w.missing\"",
                            "the file has 3 tensors", "nearest names being \"w.a\""});
  EXPECT_EQ(store.file_of("w.ccc"), dir / "model-00002-of-00002.safetensors");
}

TEST(WeightStoreTest, AMissingTensorOfASingleFileNamesThatFile) {
  const TempDir scratch("single_missing");
  const auto& dir = scratch.path;
  write_shard(dir / "model.safetensors", {"transformer.h.0.attn.c_attn.weight", "transformer.wpe.weight"});
  const auto store = WeightStore::open_dir(dir);
  expect_error<ModelError>([&] { store.at("transformer.wte.weight"); },
                           {(dir / "model.safetensors").string() + ": missing tensor \"transformer.wte.weight\"",
                            "nearest names being \"transformer.wpe.weight\"", "does not match its config.json"});
}

TEST(WeightStoreTest, IndexNamingATensorItsShardLacksIsRejected) {
  const TempDir scratch("badindex");
  const auto& dir = scratch.path;
  write_shard(dir / "s1.safetensors", {"w.a"});
  std::ofstream(dir / "model.safetensors.index.json") << R"({"weight_map": {"w.a": "s1.safetensors", "w.z": "s1.safetensors"}})";
  expect_error<CorruptDataError>([&] { WeightStore::open_dir(dir); }, {"index.json", "\"w.z\"", "s1.safetensors", "no such tensor"});
}

TEST(WeightStoreTest, IndexCannotPointOutsideTheDirectory) {
  const TempDir scratch("escape");
  const auto& dir = scratch.path;
  std::ofstream(dir / "model.safetensors.index.json") << R"({"weight_map": {"w.a": "../other/s1.safetensors"}})";
  expect_error<CorruptDataError>([&] { WeightStore::open_dir(dir); }, {"weight_map", "\"w.a\"", "same directory"});
}

TEST(WeightStoreTest, PickleOnlyDirectoryExplainsHowToConvert) {
  const TempDir scratch("pickle");
  const auto& dir = scratch.path;
  std::ofstream(dir / "pytorch_model.bin") << "not really a pickle";
  expect_error<ModelError>([&] { WeightStore::open_dir(dir); },
                           {"pytorch_model.bin", "never loads pickle", "safe_serialization=True"});
}

TEST(WeightStoreTest, EmptyOrMissingDirectoryIsAMissingInputError) {
  const TempDir scratch("empty");
  const auto& dir = scratch.path;
  expect_error<MissingInputError>([&] { WeightStore::open_dir(dir); }, {"no model.safetensors"});
  expect_error<MissingInputError>([&] { WeightStore::open_dir(dir / "nope"); }, {"does not exist"});
}

}  // namespace
}  // namespace ibzoo::hf
