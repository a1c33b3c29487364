// io::StudyProgress on 1, 2 and 4 ranks: rank 0's lines count the items of every rank
// (the whole study, with the items finished before), and halfway through, the time left
// it states is within 30% of the time the loop really still takes. Items are sleeps of
// equal length, each rank doing its share, as extract items of one model are.
#include "io/mpi.h"
#include "io/progress.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace ibzoo::io {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

Communicator& world() {
  static Communicator comm = Communicator::world();
  return comm;
}

std::string shared_temp_dir(const Communicator& comm) {
  std::string dir;
  if (comm.rank() == 0) {
    dir = (fs::temp_directory_path() / "ibzoo_progress_mpi_XXXXXX").string();
    if (mkdtemp(dir.data()) == nullptr) throw std::runtime_error("mkdtemp failed for " + dir);
  }
  comm.broadcast(dir);
  return dir;
}

struct Seen {
  Clock::time_point at;
  ProgressSnapshot snapshot;
};

TEST(StudyProgressMpiTest, CountsEveryRanksItemsAndPredictsTheTimeLeftHalfway) {
  auto& comm = world();
  const auto root = fs::path(shared_temp_dir(comm));
  constexpr int kItemsPerRank = 8;
  constexpr auto kItem = std::chrono::milliseconds(200);
  constexpr std::int64_t kDoneBefore = 5;
  const std::int64_t n_items = static_cast<std::int64_t>(kItemsPerRank) * comm.size();

  std::mutex mutex;
  std::vector<Seen> seen;
  ProgressOptions options;
  options.what = "extract";
  options.dir = root / "progress" / "attempt";
  options.n_items = n_items;
  options.n_done_before = kDoneBefore;
  options.total_weight = 2.0 * static_cast<double>(n_items);  // every item weighs 2
  options.interval = std::chrono::milliseconds(50);
  options.mode = ProgressMode::kLines;
  options.sink = [&](const ProgressSnapshot& s) {
    const std::lock_guard lock(mutex);
    seen.push_back({Clock::now(), s});
  };

  comm.barrier();
  {
    StudyProgress progress(options, comm);
    for (int i = 0; i < kItemsPerRank; ++i) {
      progress.start_item("tiny/step" + std::to_string(i));
      std::this_thread::sleep_for(kItem);
      progress.end_item(100, 2.0);
    }
    progress.finish();
  }
  const auto end = Clock::now();
  if (comm.rank() != 0) {
    SUCCEED();
    return;
  }
  ASSERT_FALSE(seen.empty());
  const auto& last = seen.back().snapshot;
  EXPECT_TRUE(last.final);
  EXPECT_EQ(last.n_total, kDoneBefore + n_items);
  EXPECT_EQ(last.n_done, kDoneBefore + n_items) << "rank 0 must count every rank's items";
  EXPECT_EQ(last.n_positions, 100 * n_items);
  EXPECT_FALSE(std::filesystem::exists(options.dir)) << "the counters' directory is removed at the end";

  // The first line at or past half of this run's items.
  const Seen* half = nullptr;
  for (const auto& s : seen) {
    if (!s.snapshot.final && s.snapshot.n_done - kDoneBefore >= n_items / 2) {
      half = &s;
      break;
    }
  }
  ASSERT_NE(half, nullptr) << "no progress line halfway";
  const double real_left = std::chrono::duration<double>(end - half->at).count();
  std::printf("halfway (%lld of %lld items): %.2f s left stated, %.2f s real\n",
              static_cast<long long>(half->snapshot.n_done - kDoneBefore), static_cast<long long>(n_items),
              half->snapshot.left_s, real_left);
  EXPECT_GE(half->snapshot.left_s, 0.0);
  EXPECT_NEAR(half->snapshot.left_s, real_left, 0.3 * real_left)
      << format_progress("extract", half->snapshot) << " (really " << real_left << " s left)";
  EXPECT_NE(half->snapshot.now.find("tiny/step"), std::string::npos) << half->snapshot.now;
  if (comm.size() > 1) {
    EXPECT_NE(half->snapshot.now.find("rank"), std::string::npos) << half->snapshot.now;
  }
  fs::remove_all(root);
}

TEST(StudyProgressMpiTest, TheLineSaysWhatIsDoneHowFastAndWhatIsLeft) {
  ProgressSnapshot s;
  s.n_done = 37;
  s.n_total = 120;
  s.n_failed = 1;
  s.positions_per_s = 12400;
  s.elapsed_s = 130;
  s.left_s = 282;
  s.now = "pythia-160m/step1000 (3 ranks)";
  EXPECT_EQ(format_progress("extract", s),
            "extract: 37/120 items (30%), 1 failed, 12.4k positions/s, elapsed 2m10s, left ~4m42s; "
            "now pythia-160m/step1000 (3 ranks)");
  s.final = true;
  s.n_done = 120;
  EXPECT_EQ(format_progress("extract", s), "extract: 120/120 items (100%), 1 failed, 12.4k positions/s, 2m10s in all");
}

}  // namespace
}  // namespace ibzoo::io
