// Writes that cannot half-happen: a failed write leaves the earlier file as it was and
// no temporary file behind; files staged together replace the earlier set together.
#include "io/fs.h"

#include "errors/error.h"

#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>

namespace ibzoo::io {
namespace {

namespace fs = std::filesystem;

class FsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() / ("ibzoo_fs_test_" + std::to_string(::getpid()) + "_" +
                                         ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(root_);
    fs::create_directories(root_);
  }
  void TearDown() override { fs::remove_all(root_); }
  std::size_t n_entries(const fs::path& dir) const {
    return static_cast<std::size_t>(std::distance(fs::directory_iterator(dir), fs::directory_iterator{}));
  }
  fs::path root_;
};

TEST_F(FsTest, AnAtomicFileWithoutCommitLeavesTheOldFileAndNoTemporary) {
  write_file_atomic(root_ / "a.csv", "old\n");
  {
    AtomicFile f(root_ / "a.csv");
    f.write("new, but never committed");
  }
  EXPECT_EQ(read_file(root_ / "a.csv"), "old\n");
  EXPECT_EQ(n_entries(root_), 1u);
  AtomicFile f(root_ / "a.csv");
  f.write("new");
  f.write("\n");
  f.commit();
  EXPECT_EQ(read_file(root_ / "a.csv"), "new\n");
}

TEST_F(FsTest, AFailedWriteNamesTheFileAndWhy) {
  const auto path = root_ / "no-such-dir" / "metrics.csv";
  try {
    write_file_atomic(path, "x");
    FAIL() << "expected a WriteError";
  } catch (const WriteError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find(path.string() + ": cannot create file: No such file or directory"), std::string::npos) << msg;
    EXPECT_NE(msg.find("the earlier version of the file, if any, is unchanged"), std::string::npos) << msg;
  }
}

TEST_F(FsTest, StagedFilesReplaceTheEarlierSetOnlyOnCommit) {
  const auto dir = root_ / "results";
  fs::create_directories(dir);
  write_file_atomic(dir / "metrics.csv", "old metrics\n");
  write_file_atomic(dir / "summary.csv", "old summary\n");
  {
    StagedFiles staged(dir);
    write_file_atomic(staged.path("metrics.csv"), "new metrics\n");
    // The second file fails (e.g. disk full): no commit.
  }
  EXPECT_EQ(read_file(dir / "metrics.csv"), "old metrics\n");
  EXPECT_EQ(read_file(dir / "summary.csv"), "old summary\n");
  EXPECT_EQ(n_entries(dir), 2u) << "the staging directory is removed";
  StagedFiles staged(dir);
  write_file_atomic(staged.path("metrics.csv"), "new metrics\n");
  write_file_atomic(staged.path("summary.csv"), "new summary\n");
  staged.commit();
  EXPECT_EQ(read_file(dir / "metrics.csv"), "new metrics\n");
  EXPECT_EQ(read_file(dir / "summary.csv"), "new summary\n");
}

TEST_F(FsTest, AStagingDirectoryAKilledProcessLeftIsRemoved) {
  const auto dir = root_ / "results";
  fs::create_directories(dir / ".staging.999999.0");
  write_file_atomic(dir / ".staging.999999.0" / "metrics.csv", "half\n");
  {
    StagedFiles staged(dir);
    EXPECT_FALSE(fs::exists(dir / ".staging.999999.0"));
  }
  EXPECT_EQ(n_entries(dir), 0u);
}

}  // namespace
}  // namespace ibzoo::io
