// A run directory belongs to one study: the identity of a manifest, how two identities
// differ (another study, a changed setting, something left out, only additions), the
// refusal's words, where the recorded identity comes from, and which run directory a
// command given a manifest means (pipeline/run_target.h).
#include "pipeline/run_identity.h"

#include "errors/error.h"
#include "io/fs.h"
#include "pipeline/run_target.h"

#include <gtest/gtest.h>

#include <unistd.h>

namespace ibzoo::pipeline {
namespace {

namespace fs = std::filesystem;

const fs::path kModel = IBZOO_SOURCE_DIR "/manifests/test/models/tiny-gpt2";

Checkpoint checkpoint(const std::string& name, std::int64_t step) {
  Checkpoint c;
  c.name = name;
  c.step = step;
  c.path = kModel;
  return c;
}

BenchmarkSource benchmark(const std::string& file) {
  BenchmarkSource b;
  b.file = file;
  b.format = "long";
  return b;
}

Manifest study(const fs::path& run_dir = "/runs/tiny") {
  Manifest m;
  m.source = "/studies/tiny.yaml";
  m.study = "tiny";
  m.run_dir = run_dir;
  ModelSpec model;
  model.id = "tiny-gpt2";
  model.family = "gpt2";
  model.tokenizer = kModel;
  model.checkpoints = {checkpoint("step1", 1), checkpoint("step2", 2)};
  m.models = {model};
  m.text.files = {"/data/genesis.txt"};
  m.benchmarks = {benchmark("/data/scores.csv")};
  return m;
}

IdentityDiff diff(const Manifest& recorded, const Manifest& wanted) {
  return compare_identity(study_identity(recorded), study_identity(wanted));
}

bool has(const std::vector<std::string>& lines, const std::string& text) {
  for (const auto& l : lines) {
    if (l.find(text) != std::string::npos) return true;
  }
  return false;
}

class RunIdentityTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() / ("ibzoo_run_identity_test_" + std::to_string(::getpid()) + "_" +
                                         ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(root_);
    fs::create_directories(root_);
  }
  void TearDown() override { fs::remove_all(root_); }
  fs::path root_;
};

TEST_F(RunIdentityTest, SettingsThatOnlyChangeSpeedOrPlacementKeepTheIdentity) {
  auto other = study();
  other.compute.threads = 7;
  other.compute.tokens_per_batch = 64;
  other.text.documents_per_shard = 3;
  other.storage.representations = true;
  other.analysis.report = false;
  other.slurm = {{"partition", "gpu"}};
  other.run_dir = "/elsewhere";
  other.source = "/studies/copy.yaml";
  EXPECT_TRUE(diff(study(), other).same());
}

TEST_F(RunIdentityTest, AnotherStudyNameIsAnotherStudy) {
  auto other = study();
  other.study = "other";
  const auto d = diff(study(), other);
  EXPECT_TRUE(d.other_study());
  EXPECT_FALSE(d.additive());
  const auto p = identity_problem(other, d);
  for (const auto* words : {"/runs/tiny: this run directory holds the study 'tiny'", "its finished items are in /runs/tiny/items",
                            "the manifest /studies/tiny.yaml is the study 'other'", "--run-dir /runs/tiny-2"}) {
    EXPECT_NE(p.find(words), std::string::npos) << words << " not in: " << p;
  }
}

TEST_F(RunIdentityTest, AChangedSettingIsNamedWithBothValues) {
  auto other = study();
  other.estimator.bins = 50;
  other.estimator.orders = {1, 2};
  other.compute.dtype = "bfloat16";
  const auto d = diff(study(), other);
  EXPECT_FALSE(d.additive());
  EXPECT_TRUE(has(d.changed, "estimator.bins: 100 in the run directory, 50 in the manifest"));
  EXPECT_TRUE(has(d.changed, "estimator.orders[1]: (none) in the run directory, 2 in the manifest"));
  EXPECT_TRUE(has(d.changed, "compute.dtype: \"float32\" in the run directory, \"bfloat16\" in the manifest"));
  // Opt-in outputs (per-position assignments, representations) are not results.
  EXPECT_FALSE(has(d.changed, "storage.assignments_float16: false in the run directory, true in the manifest"));
  const auto p = identity_problem(other, d);
  EXPECT_NE(p.find("changed (the finished results depend on these):\n  "), std::string::npos) << p;
  EXPECT_NE(p.find("may add models, checkpoints and benchmarks"), std::string::npos) << p;
}

TEST_F(RunIdentityTest, OtherAnalysisSettingsArePointedToRegress) {
  auto other = study();
  other.analysis.bootstrap = 50;
  const auto d = diff(study(), other);
  EXPECT_TRUE(has(d.changed, "analysis.bootstrap: 1000 in the run directory, 50 in the manifest"));
  const auto p = identity_problem(other, d);
  EXPECT_NE(p.find("Only the analysis differs: `ibzoo regress --metrics /runs/tiny/results/metrics.csv"), std::string::npos)
      << p;
}

TEST_F(RunIdentityTest, AddingModelsCheckpointsAndBenchmarksExtendsTheRun) {
  auto more = study();
  more.models[0].checkpoints.push_back(checkpoint("step3", 3));
  auto second = more.models[0];
  second.id = "tiny-b";
  more.models.push_back(second);
  more.benchmarks.push_back(benchmark("/data/more.csv"));
  const auto d = diff(study(), more);
  EXPECT_TRUE(d.additive());
  EXPECT_FALSE(d.same());
  EXPECT_EQ(d.added, (std::vector<std::string>{"checkpoint 'tiny-gpt2/step3'", "model 'tiny-b' (3 checkpoint(s))",
                                                "benchmark file /data/more.csv"}));
  EXPECT_EQ(identity_problem(more, d), "");
}

TEST_F(RunIdentityTest, LeavingOutOrChangingAModelIsRefused) {
  auto fewer = study();
  fewer.models[0].checkpoints.pop_back();
  fewer.models[0].family = "pythia";
  fewer.benchmarks.clear();
  const auto d = diff(study(), fewer);
  EXPECT_FALSE(d.additive());
  EXPECT_EQ(d.removed, (std::vector<std::string>{"checkpoint 'tiny-gpt2/step2'", "benchmark file /data/scores.csv"}));
  EXPECT_TRUE(has(d.changed, "model 'tiny-gpt2'.family: \"gpt2\" in the run directory, \"pythia\" in the manifest"));
  const auto p = identity_problem(fewer, d);
  EXPECT_NE(p.find("left out (the run directory has results for these):\n  checkpoint 'tiny-gpt2/step2'"),
            std::string::npos)
      << p;
}

TEST_F(RunIdentityTest, TheRecordedIdentityComesFromIdentityJsonElseFromManifestJson) {
  EXPECT_FALSE(recorded_identity(root_));
  // A run made before identities were recorded: its manifest.json tells.
  auto m = study(root_);
  io::write_file_atomic(root_ / "manifest.json", to_json(m).dump());
  ASSERT_TRUE(recorded_identity(root_));
  EXPECT_EQ(*recorded_identity(root_), study_identity(m));
  m.study = "recorded";
  io::write_file_atomic(root_ / "identity.json", study_identity(m).dump());
  EXPECT_EQ(recorded_identity(root_)->at("study"), "recorded");
  io::write_file_atomic(root_ / "identity.json", "{\"study\": ");
  EXPECT_THROW(recorded_identity(root_), CorruptDataError);
}

TEST_F(RunIdentityTest, CheckIdentityRecordsANewOrExtendedStudyAndRefusesAnother) {
  auto m = study(root_ / "run");
  check_identity(m, /*record=*/false);
  EXPECT_FALSE(fs::exists(root_ / "run" / "identity.json"));
  check_identity(m, /*record=*/true);
  EXPECT_EQ(*recorded_identity(root_ / "run"), study_identity(m));
  m.models[0].checkpoints.push_back(checkpoint("step3", 3));
  check_identity(m, true);
  EXPECT_EQ(*recorded_identity(root_ / "run"), study_identity(m));
  m.estimator.seed = 9;
  EXPECT_THROW(check_identity(m, true), UsageError);
}

TEST_F(RunIdentityTest, AFreshRunDirectoryIsSuggestedBesideTheOldOne) {
  fs::create_directories(root_ / "run");
  EXPECT_EQ(fresh_run_dir(root_ / "run"), root_ / "run-2");
  fs::create_directories(root_ / "run-2");
  EXPECT_EQ(fresh_run_dir(root_ / "run"), root_ / "run-3");
}

TEST_F(RunIdentityTest, CommandsTakeTheRunDirectoryOrTheManifest) {
  io::write_file_atomic(root_ / "a.yaml", "study: tiny\nmodels: []\n");
  io::write_file_atomic(root_ / "b.yaml", "study: tiny\nrun_dir: out/here\n");
  fs::create_directories(root_ / "run");
  EXPECT_EQ(resolve_run_target((root_ / "a.yaml").string()), root_ / "runs" / "tiny");
  EXPECT_EQ(resolve_run_target((root_ / "b.yaml").string()), root_ / "out" / "here");
  EXPECT_EQ(resolve_run_target((root_ / "run").string()), root_ / "run");
  EXPECT_EQ(resolve_run_target((root_ / "a.yaml").string(), (root_ / "x").string()), root_ / "x");
  try {
    resolve_run_target((root_ / "nothing").string());
    FAIL();
  } catch (const MissingInputError& e) {
    EXPECT_NE(std::string(e.what()).find("nothing: no such run directory or manifest"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace ibzoo::pipeline
