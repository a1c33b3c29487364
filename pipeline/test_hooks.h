// Test hooks of the accumulate stage's scheduling (docs/SCALE.md): they only delay work,
// never change a result.
#pragma once

#include <cstddef>
#include <map>

namespace ibzoo::pipeline {

// IBZOO_TEST_ITEM_DELAY_MS=INDEX:MS[,INDEX:MS...]: plan index -> milliseconds (empty when
// unset). Throws UsageError naming the value when it is malformed.
std::map<std::size_t, int> test_item_delays();
// Sleeps the delay of plan item item_idx, if it has one.
void delay_for_test(const std::map<std::size_t, int>& delays, std::size_t item_idx);

}  // namespace ibzoo::pipeline
