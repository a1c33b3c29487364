#include "pipeline/test_hooks.h"

#include "errors/error.h"

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace ibzoo::pipeline {

// Test hook (docs/SCALE.md): IBZOO_TEST_ITEM_DELAY_MS=INDEX:MS[,INDEX:MS...] makes the
// rank that computes plan item INDEX sleep MS milliseconds first, to give items uneven
// costs in the scheduling tests. Only delays; results do not change.
std::map<std::size_t, int> test_item_delays() {
  std::map<std::size_t, int> delays;
  const char* env = std::getenv("IBZOO_TEST_ITEM_DELAY_MS");
  if (!env || !*env) return delays;
  const std::string text = env;
  std::size_t pos = 0;
  while (pos <= text.size()) {
    const auto comma = std::min(text.find(',', pos), text.size());
    const auto part = text.substr(pos, comma - pos);
    const auto colon = part.find(':');
    try {
      if (colon == std::string::npos) throw std::invalid_argument("no colon");
      std::size_t used_index = 0, used_ms = 0;
      const auto index = std::stoull(part.substr(0, colon), &used_index);
      const auto ms = std::stoi(part.substr(colon + 1), &used_ms);
      if (used_index != colon || used_ms != part.size() - colon - 1 || ms < 0) throw std::invalid_argument("trailing");
      delays[static_cast<std::size_t>(index)] = ms;
    } catch (const std::exception&) {
      throw UsageError("IBZOO_TEST_ITEM_DELAY_MS must be INDEX:MS[,INDEX:MS...] (plan index, milliseconds), got '" +
                       text + "'; unset it outside the scheduling tests");
    }
    pos = comma + 1;
  }
  return delays;
}

void delay_for_test(const std::map<std::size_t, int>& delays, std::size_t item_idx) {
  if (const auto d = delays.find(item_idx); d != delays.end()) {
    std::this_thread::sleep_for(std::chrono::milliseconds(d->second));
  }
}

std::optional<std::int64_t> forced_table_budget(int team_rank) {
  const char* forced = std::getenv("IBZOO_TEST_TABLE_BUDGET_BYTES");
  if (!forced) return std::nullopt;
  std::vector<std::int64_t> budgets;
  std::stringstream list(forced);
  for (std::string item; std::getline(list, item, ',');) budgets.push_back(std::stoll(item));
  return budgets.at(static_cast<std::size_t>(team_rank) % budgets.size());
}

}  // namespace ibzoo::pipeline
