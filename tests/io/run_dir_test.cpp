// Which directories a run may write into: new, empty, an earlier run, or one that holds
// only what ibzoo writes (a run another array slice is starting right now); anything
// else is refused with the offending entry named.
#include "io/run_dir.h"

#include "io/fs.h"

#include <gtest/gtest.h>

#include <filesystem>

#include <unistd.h>

namespace ibzoo::io {
namespace {

namespace fs = std::filesystem;

class RunDirTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() / ("ibzoo_run_dir_test_" + std::to_string(::getpid()) + "_" +
                                         ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(root_);
  }
  void TearDown() override { fs::remove_all(root_); }
  std::string problem() const { return RunDir(root_).foreign_directory_problem(); }

  fs::path root_;
};

TEST_F(RunDirTest, NewAndEmptyDirectoriesAreUsable) {
  EXPECT_EQ(problem(), "");
  fs::create_directories(root_);
  EXPECT_EQ(problem(), "");
}

TEST_F(RunDirTest, ADirectoryBeingStartedByAnotherSliceIsUsable) {
  // What rank 0 of a concurrent `run --slice` creates before its manifest.json is in place.
  fs::create_directories(root_ / "items");
  fs::create_directories(root_ / "claims" / "slice0of2.x");
  fs::create_directories(root_ / "tokens");
  write_file_atomic(root_ / "tokens" / "a.h5", "x");
  write_file_atomic(root_ / ".manifest.json.tmp.123.0", "{");
  EXPECT_EQ(problem(), "");
}

TEST_F(RunDirTest, SomeoneElsesDirectoryIsRefusedNamingAnEntry) {
  fs::create_directories(root_ / "items");
  write_file_atomic(root_ / "thesis.tex", "x");
  const auto p = problem();
  EXPECT_NE(p.find(root_.string()), std::string::npos) << p;
  EXPECT_NE(p.find("is not an ibzoo run"), std::string::npos) << p;
  EXPECT_NE(p.find("'thesis.tex'"), std::string::npos) << p;
  EXPECT_NE(p.find("--run-dir"), std::string::npos) << p;
}

TEST_F(RunDirTest, AnEarlierRunKeepsItsOwnersExtraFiles) {
  fs::create_directories(root_);
  write_file_atomic(root_ / "notes.txt", "mine");
  ASSERT_NE(problem(), "");
  write_file_atomic(root_ / "plan.json", "{}");  // `ibzoo submit` was here
  EXPECT_EQ(problem(), "");
  fs::remove(root_ / "plan.json");
  write_file_atomic(root_ / "manifest.json", "{}");  // `ibzoo run` was here
  EXPECT_EQ(problem(), "");
}

TEST_F(RunDirTest, AFileIsNotARunDirectory) {
  fs::create_directories(root_.parent_path());
  write_file_atomic(root_, "x");
  EXPECT_NE(problem().find("is not a directory"), std::string::npos);
}

}  // namespace
}  // namespace ibzoo::io
