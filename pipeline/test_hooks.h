// Test hooks of the accumulate stage (docs/SCALE.md): they delay work or change how
// much memory the tables may take, never a result.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>

namespace ibzoo::pipeline {

// What the rank that computes a plan item waits for before computing it.
struct TestItemWait {
  int ms = 0;                                // IBZOO_TEST_ITEM_DELAY_MS: sleep this long
  std::optional<std::size_t> until_claimed;  // IBZOO_TEST_ITEM_HOLD: until this plan item is claimed
};

// IBZOO_TEST_ITEM_DELAY_MS=INDEX:MS[,...] and IBZOO_TEST_ITEM_HOLD=INDEX:OTHER[,...]: plan
// index -> wait (empty when both are unset). Throws UsageError naming the variable and
// its value when one is malformed or OTHER is not below n_items.
std::map<std::size_t, TestItemWait> test_item_waits(std::size_t n_items);
// Waits as `waits` says for plan item item_idx, if it has a wait. A hold polls
// is_claimed(OTHER) and gives up with a warning after hold_limit.
void wait_for_test(const std::map<std::size_t, TestItemWait>& waits, std::size_t item_idx,
                   const std::function<bool(std::size_t)>& is_claimed,
                   std::chrono::milliseconds hold_limit = std::chrono::minutes(2));

// IBZOO_TEST_TABLE_BUDGET_BYTES=B or B0,B1,...: the bytes one pass's tables may take on
// team rank r (B(r mod count)), alone (no per-layer buffers beside them), to force layer
// groups and row shares on a tiny study (tests/scripts/memory_fallback_test.sh).
std::optional<std::int64_t> forced_table_budget(int team_rank);

}  // namespace ibzoo::pipeline
