// pipeline/model_cache: which checkpoint a ModelCache holds after preloads, loads and
// failures, the weight hashes it makes in the background (against io::sha256_file), and
// its reading of IBZOO_FIXED_ROWS.
#include "pipeline/model_cache.h"

#include "errors/error.h"
#include "hf/config.h"
#include "hf/random_model.h"
#include "io/fs.h"

#include <gtest/gtest.h>

#include <stdlib.h>
#include <unistd.h>

#include <fstream>

namespace ibzoo::pipeline {
namespace {

namespace fs = std::filesystem;

class ModelCacheTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() / ("ibzoo_model_cache_" + std::to_string(::getpid()));
    fs::remove_all(root_);
    for (std::uint64_t seed : {1, 2}) {
      auto config = hf::default_model_config(hf::Family::Llama, {});
      hf::make_random_model({config, seed, 0.05}, root_ / ("ckpt" + std::to_string(seed)));
    }
    manifest_.compute.device = "cpu";
    manifest_.compute.dtype = "float32";
  }
  void TearDown() override { fs::remove_all(root_); }

  Checkpoint checkpoint(const std::string& name) const { return {name, 0, 0, root_ / name, "", ""}; }

  // A checkpoint whose weights file is cut short: its load throws.
  Checkpoint broken() const {
    const auto dir = root_ / "broken";
    fs::create_directories(dir);
    fs::copy_file(root_ / "ckpt1" / "config.json", dir / "config.json", fs::copy_options::overwrite_existing);
    std::ofstream(dir / "model.safetensors", std::ios::binary) << "\x08\x00\x00\x00";
    return checkpoint("broken");
  }

  fs::path root_;
  Manifest manifest_;
};

TEST_F(ModelCacheTest, APreloadedCheckpointIsTheOneGetReturns) {
  ModelCache cache(manifest_, 1);
  cache.preload(checkpoint("ckpt1"));
  const auto& model = cache.get(checkpoint("ckpt1"));
  EXPECT_EQ(model.dir(), root_ / "ckpt1");
  EXPECT_EQ(&cache.get(checkpoint("ckpt1")), &model);  // held, not loaded again
}

TEST_F(ModelCacheTest, AWrongGuessIsDroppedAndTheAskedCheckpointLoads) {
  ModelCache cache(manifest_, 1);
  cache.preload(checkpoint("ckpt1"));
  EXPECT_EQ(cache.get(checkpoint("ckpt2")).dir(), root_ / "ckpt2");
  EXPECT_EQ(cache.get(checkpoint("ckpt1")).dir(), root_ / "ckpt1");
}

TEST_F(ModelCacheTest, AFailedPreloadFailsOnlyTheItemThatNeedsIt) {
  ModelCache cache(manifest_, 1);
  const auto bad = broken();
  cache.preload(bad);
  EXPECT_ANY_THROW(cache.get(bad));
  EXPECT_EQ(cache.get(checkpoint("ckpt2")).dir(), root_ / "ckpt2");
  // A broken guess that nobody asks for costs a warning, not the item.
  cache.preload(bad);
  EXPECT_EQ(cache.get(checkpoint("ckpt1")).dir(), root_ / "ckpt1");
}

TEST_F(ModelCacheTest, WeightHashesAreTheFilesSha256FromPrefetchOrLoad) {
  ModelCache cache(manifest_, 1);
  const auto a = checkpoint("ckpt1");
  const auto b = checkpoint("ckpt2");
  (void)cache.get(a);
  cache.prefetch(b, a);
  for (const auto& c : {a, b}) {
    const auto& hashes = cache.weight_hashes(c);
    ASSERT_EQ(hashes.size(), 2u) << c.name;
    EXPECT_EQ(hashes.at("config.json"), io::sha256_file(c.path / "config.json"));
    EXPECT_EQ(hashes.at("model.safetensors"), io::sha256_file(c.path / "model.safetensors"));
  }
  EXPECT_ANY_THROW(cache.weight_hashes(checkpoint("missing")));
}

// IBZOO_FIXED_ROWS (docs/GPU.md): a bad value is a usage error naming the variable, what
// it must be and what it got; a good one leaves a CPU model's forward as it is.
TEST_F(ModelCacheTest, FixedRowsMustBeAMultipleOf128AndApplyToGpuRunsOnly) {
  for (const char* bad : {"1000", "abc", "-128", "2097152"}) {
    ::setenv("IBZOO_FIXED_ROWS", bad, 1);
    try {
      ModelCache cache(manifest_, 1);
      ADD_FAILURE() << "IBZOO_FIXED_ROWS=" << bad << " was accepted";
    } catch (const UsageError& e) {
      const std::string what = e.what();
      EXPECT_NE(what.find("IBZOO_FIXED_ROWS must be a multiple of 128"), std::string::npos) << what;
      EXPECT_NE(what.find(std::string("got '") + bad + "'"), std::string::npos) << what;
    }
  }
  ::setenv("IBZOO_FIXED_ROWS", "4096", 1);
  ModelCache cache(manifest_, 1);
  ::unsetenv("IBZOO_FIXED_ROWS");
  EXPECT_EQ(cache.get(checkpoint("ckpt1")).options().fixed_rows, 0);  // a CPU run
  // Unset, a GPU run gets blocks of 4096 rows; 0 turns them off; a CPU run still none.
  EXPECT_EQ(fixed_rows_setting(), 4096);
  ModelCache by_default(manifest_, 1);
  EXPECT_EQ(by_default.get(checkpoint("ckpt1")).options().fixed_rows, 0);
  ::setenv("IBZOO_FIXED_ROWS", "0", 1);
  EXPECT_EQ(fixed_rows_setting(), 0);
  ::setenv("IBZOO_FIXED_ROWS", "8192", 1);
  EXPECT_EQ(fixed_rows_setting(), 8192);
  ::unsetenv("IBZOO_FIXED_ROWS");
}

}  // namespace
}  // namespace ibzoo::pipeline
