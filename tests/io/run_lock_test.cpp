// The run directory's lock: a second holder is refused with the first one's host and
// pid; a lock whose process is gone is taken over; slices of one array run side by
// side, but not beside a whole run; the lock file goes when its holder does.
#include "io/run_lock.h"

#include "io/fs.h"

#include <gtest/gtest.h>

#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

namespace ibzoo::io {
namespace {

namespace fs = std::filesystem;

class RunLockTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() / ("ibzoo_run_lock_test_" + std::to_string(::getpid()) + "_" +
                                         ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(root_);
  }
  void TearDown() override { fs::remove_all(root_); }

  std::optional<RunLock> take(const std::string& scope, std::string* refusal, bool extracts = true) {
    LockOptions o;
    o.scope = scope;
    o.extracts = extracts;
    o.command = "ibzoo run study.yaml";
    return RunLock::acquire(root_, o, refusal);
  }
  // A lock file as another process wrote it.
  void plant(const std::string& name, const std::string& host, long long pid) {
    fs::create_directories(root_ / "locks");
    write_file_atomic(root_ / "locks" / name, "{\"host\": \"" + host + "\", \"pid\": " + std::to_string(pid) +
                                                   ", \"start_ticks\": 0, \"command\": \"ibzoo run other.yaml\"}\n");
  }
  static std::string host() {
    char h[256] = {};
    ::gethostname(h, sizeof h - 1);
    return h;
  }
  static long long dead_pid() {
    const pid_t pid = ::fork();
    if (pid == 0) ::_exit(0);
    ::waitpid(pid, nullptr, 0);
    return pid;
  }

  fs::path root_;
};

TEST_F(RunLockTest, ASecondHolderIsRefusedWithTheFirstOnesHostAndPid) {
  std::string refusal;
  auto first = take("run", &refusal);
  ASSERT_TRUE(first) << refusal;
  EXPECT_EQ(first->path(), root_ / "locks" / "run.lock");
  // Another process on this host: this test's own pid stands for it (alive, same host).
  first.reset();
  plant("run.lock", host(), static_cast<long long>(::getppid()));
  EXPECT_FALSE(take("run", &refusal));
  for (const auto& words : {root_.string(), std::string("another ibzoo process is working in this run directory"),
                            "host " + host(), "pid " + std::to_string(::getppid()), std::string("ibzoo run other.yaml"),
                            (root_ / "locks" / "run.lock").string()}) {
    EXPECT_NE(refusal.find(words), std::string::npos) << words << " not in: " << refusal;
  }
}

TEST_F(RunLockTest, TheLockGoesWithItsHolder) {
  std::string refusal;
  { ASSERT_TRUE(take("run", &refusal)) << refusal; }
  EXPECT_FALSE(fs::exists(root_ / "locks" / "run.lock"));
  EXPECT_FALSE(fs::exists(root_ / "locks"));
  EXPECT_TRUE(take("run", &refusal)) << refusal;
}

TEST_F(RunLockTest, AStaleLockOfAKilledProcessIsTakenOver) {
  plant("run.lock", host(), dead_pid());
  std::string refusal;
  const auto lock = take("run", &refusal);
  ASSERT_TRUE(lock) << refusal;
  EXPECT_NE(read_file(lock->path()).find("\"pid\": " + std::to_string(::getpid())), std::string::npos);
}

TEST_F(RunLockTest, AZombieHoldsNoLock) {
  // A killed child not reaped yet: its /proc entry remains, in state Z.
  const pid_t pid = ::fork();
  if (pid == 0) ::_exit(0);
  for (int i = 0; i < 200; ++i) {
    std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
    std::string text;
    std::getline(stat, text);
    if (text.find(") Z ") != std::string::npos) break;
    ::usleep(5000);
  }
  plant("run.lock", host(), pid);
  std::string refusal;
  const auto lock = take("run", &refusal);
  ::waitpid(pid, nullptr, 0);
  EXPECT_TRUE(lock) << refusal;
}

TEST_F(RunLockTest, ALockOfAnotherHostIsLiveUntilItsHeartbeatStops) {
  plant("run.lock", "some-other-node", 4242);
  std::string refusal;
  EXPECT_FALSE(take("run", &refusal));
  EXPECT_NE(refusal.find("host some-other-node, pid 4242"), std::string::npos) << refusal;
  EXPECT_NE(refusal.find("stale 300 s after its last heartbeat"), std::string::npos) << refusal;
  // Untouched for longer than stale_after: its holder is gone.
  fs::last_write_time(root_ / "locks" / "run.lock", fs::file_time_type::clock::now() - std::chrono::hours(1));
  EXPECT_TRUE(take("run", &refusal)) << refusal;
}

TEST_F(RunLockTest, SlicesRunSideBySideButNotBesideAWholeRun) {
  std::string refusal;
  auto s0 = take("slice-0-of-2", &refusal);
  ASSERT_TRUE(s0) << refusal;
  auto s1 = take("slice-1-of-2", &refusal);
  ASSERT_TRUE(s1) << refusal;
  EXPECT_EQ(live_lock_holders(root_).size(), 2u);
  // The same slice twice, or a whole run that extracts, is refused.
  s0.reset();
  plant("slice-0-of-2.lock", host(), static_cast<long long>(::getppid()));
  EXPECT_FALSE(take("slice-0-of-2", &refusal));
  EXPECT_FALSE(take("run", &refusal));
  EXPECT_FALSE(fs::exists(root_ / "locks" / "run.lock")) << "a refused lock is not left behind";
  // A reduce after the array (Slurm's dependency) is not held up by the slices' locks.
  EXPECT_TRUE(take("run", &refusal, /*extracts=*/false)) << refusal;
}

TEST_F(RunLockTest, ALockOfThisSlurmJobIsAnEarlierRunThatSlurmRequeued) {
  fs::create_directories(root_ / "locks");
  write_file_atomic(root_ / "locks" / "slice-3-of-8.lock",
                    "{\"host\": \"node17\", \"pid\": 4242, \"slurm_job_id\": \"777_3\"}\n");
  std::string refusal;
  ::setenv("SLURM_JOB_ID", "778_3", 1);
  EXPECT_FALSE(take("slice-3-of-8", &refusal)) << "another job's lock is live until it ages out";
  EXPECT_NE(refusal.find("Slurm job 777_3"), std::string::npos) << refusal;
  ::setenv("SLURM_JOB_ID", "777_3", 1);
  const auto lock = take("slice-3-of-8", &refusal);
  ::unsetenv("SLURM_JOB_ID");
  ASSERT_TRUE(lock) << refusal;
  EXPECT_NE(read_file(lock->path()).find("\"slurm_job_id\": \"777_3\""), std::string::npos);
}

TEST_F(RunLockTest, ASliceWaitsForAWholeRun) {
  plant("run.lock", host(), static_cast<long long>(::getppid()));
  std::string refusal;
  EXPECT_FALSE(take("slice-0-of-2", &refusal));
  EXPECT_NE(refusal.find("pid " + std::to_string(::getppid())), std::string::npos) << refusal;
  EXPECT_FALSE(fs::exists(root_ / "locks" / "slice-0-of-2.lock"));
}

}  // namespace
}  // namespace ibzoo::io
