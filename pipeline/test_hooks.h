// Test hooks of the accumulate stage (docs/SCALE.md): they delay work or change how
// much memory the tables may take, never a result.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>

namespace ibzoo::pipeline {

// IBZOO_TEST_ITEM_DELAY_MS=INDEX:MS[,INDEX:MS...]: plan index -> milliseconds (empty when
// unset). Throws UsageError naming the value when it is malformed.
std::map<std::size_t, int> test_item_delays();
// Sleeps the delay of plan item item_idx, if it has one.
void delay_for_test(const std::map<std::size_t, int>& delays, std::size_t item_idx);

// IBZOO_TEST_TABLE_BUDGET_BYTES=B or B0,B1,...: the bytes one pass's tables may take on
// team rank r (B(r mod count)), alone (no per-layer buffers beside them), to force layer
// groups and row shares on a tiny study (tests/scripts/memory_fallback_test.sh).
std::optional<std::int64_t> forced_table_budget(int team_rank);

}  // namespace ibzoo::pipeline
