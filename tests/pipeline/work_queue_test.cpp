// Work stealing through claim files: every item goes to exactly one taker, owners walk
// their slice front to back, thieves take from the end of the slice with the most
// unclaimed cost, claims of earlier attempts never block, stale attempts are removed.
#include "pipeline/work_queue.h"
#include "pipeline/test_hooks.h"

#include "errors/error.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <numeric>
#include <stdlib.h>
#include <thread>

#include <unistd.h>

namespace ibzoo::pipeline {
namespace {

namespace fs = std::filesystem;

class WorkQueueTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() /
            ("ibzoo_work_queue_test_" + std::to_string(::getpid()) + "_" +
             ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(root_);
    run_ = io::RunDir(root_);
  }
  void TearDown() override { fs::remove_all(root_); }

  static std::vector<std::string> ids(std::size_t n) {
    std::vector<std::string> out;
    for (std::size_t i = 0; i < n; ++i) out.push_back("item" + std::to_string(i));
    return out;
  }
  WorkQueue queue(const std::string& attempt, const std::vector<std::vector<std::size_t>>& slices,
                  const std::vector<double>& cost, int rank) {
    return WorkQueue(run_, attempt, slices, ids(cost.size()), cost, rank, "rank " + std::to_string(rank));
  }
  // Drains a queue; returns the items and whether each was stolen.
  static std::vector<std::pair<std::size_t, bool>> drain(WorkQueue& q) {
    std::vector<std::pair<std::size_t, bool>> out;
    while (const auto n = q.next()) out.emplace_back(n->item_idx, n->stolen);
    return out;
  }

  fs::path root_;
  io::RunDir run_;
};

// Naive reference: the part of an item is floor(cost midpoint / total * parts).
TEST_F(WorkQueueTest, BalancedSlicesAreContiguousCoverEveryItemAndMatchTheMidpointRule) {
  const std::vector<double> cost = {5, 1, 1, 1, 1, 1, 10, 2, 2, 1};
  std::vector<std::size_t> items = {0, 1, 2, 3, 5, 6, 7, 8, 9};  // item 4 is done already
  const auto slices = balanced_slices(items, cost, 3);
  ASSERT_EQ(slices.size(), 3u);
  std::vector<std::size_t> joined;
  for (const auto& s : slices) joined.insert(joined.end(), s.begin(), s.end());
  EXPECT_EQ(joined, items);  // contiguous runs, in plan order
  const double total = 23;   // 5+1+1+1+1+10+2+2+1
  double acc = 0;
  for (auto i : items) {
    const auto expected = static_cast<std::size_t>((acc + cost[i] / 2) / total * 3);
    acc += cost[i];
    const auto& part = slices[std::min<std::size_t>(expected, 2)];
    EXPECT_NE(std::find(part.begin(), part.end(), i), part.end()) << "item " << i;
  }
}

TEST_F(WorkQueueTest, OneRankTakesItsSliceInOrderAndLeavesAClaimFilePerItem) {
  run_.begin_attempt("all.a");
  auto q = queue("all.a", {{0, 1, 2}}, {1, 1, 1}, 0);
  EXPECT_EQ(q.peek(), std::optional<std::size_t>(0));
  const auto got = drain(q);
  ASSERT_EQ(got.size(), 3u);
  for (std::size_t k = 0; k < 3; ++k) {
    EXPECT_EQ(got[k].first, k);
    EXPECT_FALSE(got[k].second);
    EXPECT_TRUE(fs::exists(run_.claim_path("all.a", "item" + std::to_string(k))));
  }
  EXPECT_EQ(q.n_own_passed(), 3u);
  EXPECT_FALSE(q.peek());
  EXPECT_TRUE(q.stolen_from().empty());
}

TEST_F(WorkQueueTest, AnIdleRankStealsFromTheEndOfTheOtherSliceAndTheOwnerSkipsStolenItems) {
  run_.begin_attempt("all.a");
  const std::vector<std::vector<std::size_t>> slices = {{0, 1, 2, 3, 4}, {5}};
  const std::vector<double> cost(6, 1.0);
  auto owner = queue("all.a", slices, cost, 0);
  auto thief = queue("all.a", slices, cost, 1);
  ASSERT_EQ(owner.next()->item_idx, 0u);  // the owner is busy with item 0
  const auto own = thief.next();
  ASSERT_TRUE(own && !own->stolen);
  EXPECT_EQ(own->item_idx, 5u);
  const auto s1 = thief.next();
  ASSERT_TRUE(s1 && s1->stolen);
  EXPECT_EQ(s1->item_idx, 4u);  // from the end
  EXPECT_EQ(s1->owner, 0);
  EXPECT_EQ(s1->left_in_owner, 3u);  // 1, 2, 3
  EXPECT_EQ(thief.peek(), std::optional<std::size_t>(3));
  EXPECT_EQ(thief.next()->item_idx, 3u);
  // The owner goes on from the front and skips what was stolen.
  const auto rest = drain(owner);
  ASSERT_EQ(rest.size(), 2u);
  EXPECT_EQ(rest[0].first, 1u);
  EXPECT_EQ(rest[1].first, 2u);
  EXPECT_EQ(owner.n_own_passed(), 5u);
  EXPECT_FALSE(thief.next());
  EXPECT_EQ(thief.stolen_from().at(0), 2u);
}

TEST_F(WorkQueueTest, AThiefPicksTheSliceWithTheMostUnclaimedCost) {
  run_.begin_attempt("all.a");
  // Rank 0: many cheap items; rank 1: two expensive ones; rank 2: nothing.
  const std::vector<std::vector<std::size_t>> slices = {{0, 1, 2, 3}, {4, 5}, {}};
  const std::vector<double> cost = {1, 1, 1, 1, 10, 10};
  auto thief = queue("all.a", slices, cost, 2);
  const auto first = thief.next();
  ASSERT_TRUE(first && first->stolen);
  EXPECT_EQ(first->owner, 1);
  EXPECT_EQ(first->item_idx, 5u);
  const auto second = thief.next();
  EXPECT_EQ(second->owner, 1);  // 10 left there against 4 on rank 0
  EXPECT_EQ(second->item_idx, 4u);
  const auto third = thief.next();
  EXPECT_EQ(third->owner, 0);
  EXPECT_EQ(third->item_idx, 3u);
}

TEST_F(WorkQueueTest, ClaimsOfAnEarlierAttemptDoNotBlock) {
  run_.begin_attempt("all.old");
  auto old = queue("all.old", {{0, 1, 2}}, {1, 1, 1}, 0);
  EXPECT_EQ(drain(old).size(), 3u);
  run_.begin_attempt("all.new");
  auto fresh = queue("all.new", {{0, 1, 2}}, {1, 1, 1}, 0);
  EXPECT_EQ(drain(fresh).size(), 3u);
}

TEST_F(WorkQueueTest, ConcurrentRanksTakeEveryItemExactlyOnce) {
  run_.begin_attempt("all.a");
  constexpr int kRanks = 4;
  constexpr std::size_t kItems = 60;
  std::vector<double> cost(kItems, 1.0);
  std::vector<std::size_t> items(kItems);
  std::iota(items.begin(), items.end(), 0);
  const auto slices = balanced_slices(items, cost, kRanks);
  std::vector<std::atomic<int>> taken(kItems);
  std::atomic<int> n_stolen{0};
  std::vector<std::thread> ranks;
  for (int r = 0; r < kRanks; ++r) {
    ranks.emplace_back([&, r] {
      auto q = queue("all.a", slices, cost, r);
      while (const auto n = q.next()) {
        taken[n->item_idx]++;
        if (n->stolen) n_stolen++;
        // Rank 0 is slow: the others must steal from it.
        if (r == 0) std::this_thread::sleep_for(std::chrono::milliseconds(5));
      }
    });
  }
  for (auto& t : ranks) t.join();
  for (std::size_t i = 0; i < kItems; ++i) EXPECT_EQ(taken[i].load(), 1) << "item " << i;
  EXPECT_GT(n_stolen.load(), 0);
}

TEST_F(WorkQueueTest, StaleAttemptsOfTheSameScopeOrAWeekOldAreRemovedOthersKept) {
  for (const auto* a : {"all.1", "all.2", "slice0of2.1", "slice1of2.1", "slice1of2.2"}) run_.begin_attempt(a);
  const auto week_ago = fs::file_time_type::clock::now() - std::chrono::hours(24 * 8);
  fs::last_write_time(run_.claims() / "slice1of2.1", week_ago);
  auto removed = run_.remove_stale_attempts("all.2", "all", std::chrono::hours(24 * 7));
  std::sort(removed.begin(), removed.end());
  EXPECT_EQ(removed, (std::vector<std::string>{"all.1", "slice1of2.1"}));
  EXPECT_TRUE(fs::exists(run_.claims() / "all.2"));
  EXPECT_TRUE(fs::exists(run_.claims() / "slice0of2.1"));  // a concurrent array slice: left alone
  EXPECT_TRUE(fs::exists(run_.claims() / "slice1of2.2"));
  // No claims directory at all: nothing to do, no error.
  EXPECT_TRUE(io::RunDir(root_ / "nowhere").remove_stale_attempts("x", "all", std::chrono::hours(1)).empty());
}

TEST_F(WorkQueueTest, AClaimThatCannotBeCreatedNamesThePathAndWhatToCheck) {
  // No begin_attempt: the attempt directory does not exist.
  try {
    run_.try_claim("all.missing", "item0", "rank 0");
    FAIL() << "expected WriteError";
  } catch (const WriteError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("all.missing/item0"), std::string::npos) << what;
    EXPECT_NE(what.find("cannot create the claim of item item0"), std::string::npos) << what;
    EXPECT_NE(what.find("writable by every rank"), std::string::npos) << what;
  }
}

TEST_F(WorkQueueTest, TheClaimFileSaysWhoClaimedIt) {
  run_.begin_attempt("all.a");
  EXPECT_TRUE(run_.try_claim("all.a", "item0", "rank 3 host n1 pid 7"));
  EXPECT_FALSE(run_.try_claim("all.a", "item0", "rank 1 host n2 pid 8"));
  EXPECT_TRUE(run_.is_claimed("all.a", "item0"));
  EXPECT_FALSE(run_.is_claimed("all.a", "item1"));
  std::ifstream in(run_.claim_path("all.a", "item0"));
  std::string line;
  std::getline(in, line);
  EXPECT_EQ(line, "rank 3 host n1 pid 7");
}

// The scheduling tests' hooks (tests/scripts/work_stealing_test.sh): a hold ends when the
// other item is claimed, whoever claims it, and gives up after its limit.
TEST_F(WorkQueueTest, AHeldItemWaitsUntilTheOtherItemIsClaimed) {
  ::setenv("IBZOO_TEST_ITEM_HOLD", "0:1", 1);
  ::setenv("IBZOO_TEST_ITEM_DELAY_MS", "2:5,0:1", 1);
  EXPECT_THROW(test_item_waits(1), UsageError);  // plan item 1 of a 1-item plan
  const auto waits = test_item_waits(2);
  ::unsetenv("IBZOO_TEST_ITEM_HOLD");
  ::unsetenv("IBZOO_TEST_ITEM_DELAY_MS");
  ASSERT_EQ(waits.size(), 2u);
  EXPECT_EQ(waits.at(0).ms, 1);
  EXPECT_EQ(waits.at(0).until_claimed, std::optional<std::size_t>(1));
  EXPECT_EQ(waits.at(2).ms, 5);
  EXPECT_FALSE(waits.at(2).until_claimed);

  run_.begin_attempt("all.h");
  const auto is_claimed = [&](std::size_t i) { return run_.is_claimed("all.h", "item" + std::to_string(i)); };
  std::atomic<bool> released{false};
  std::thread holder([&] {
    wait_for_test(waits, 0, is_claimed, std::chrono::minutes(10));
    released = true;
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  EXPECT_FALSE(released.load());  // item1 is not claimed yet
  EXPECT_TRUE(run_.try_claim("all.h", "item1", "thief"));
  const auto claimed_at = std::chrono::steady_clock::now();
  holder.join();
  EXPECT_TRUE(released.load());
  // Released by the claim, not by the 10-minute limit.
  EXPECT_LT(std::chrono::steady_clock::now() - claimed_at, std::chrono::seconds(30));

  // Nobody claims item3: the hold gives up after its limit instead of hanging the run.
  const std::map<std::size_t, TestItemWait> never{{0, TestItemWait{0, 3}}};
  const auto start = std::chrono::steady_clock::now();
  wait_for_test(never, 0, is_claimed, std::chrono::milliseconds(100));
  EXPECT_GE(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(100));
}

TEST_F(WorkQueueTest, AMalformedHookValueNamesTheVariable) {
  for (const auto& [name, value] : std::vector<std::pair<const char*, const char*>>{
           {"IBZOO_TEST_ITEM_HOLD", "0:x"}, {"IBZOO_TEST_ITEM_HOLD", "0"}, {"IBZOO_TEST_ITEM_DELAY_MS", "0:-5"},
           {"IBZOO_TEST_ITEM_DELAY_MS", "1:2,3"}}) {
    ::setenv(name, value, 1);
    try {
      test_item_waits(10);
      ADD_FAILURE() << name << "=" << value << " was accepted";
    } catch (const UsageError& e) {
      EXPECT_NE(std::string(e.what()).find(std::string(name) + " must be INDEX:"), std::string::npos) << e.what();
    }
    ::unsetenv(name);
  }
}

}  // namespace
}  // namespace ibzoo::pipeline
