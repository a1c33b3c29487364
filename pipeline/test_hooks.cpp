#include "pipeline/test_hooks.h"

#include "errors/error.h"
#include "io/log.h"

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <limits>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace ibzoo::pipeline {

namespace {

// "INDEX:VALUE[,INDEX:VALUE...]" of the variable `name` -> {INDEX: VALUE}; empty when unset.
// `value_name` names VALUE in the usage message, `meaning` says what it is.
std::map<std::size_t, std::size_t> index_pairs(const char* name, const std::string& value_name, const std::string& meaning) {
  std::map<std::size_t, std::size_t> pairs;
  const char* env = std::getenv(name);
  if (!env || !*env) return pairs;
  const std::string text = env;
  std::size_t pos = 0;
  while (pos <= text.size()) {
    const auto comma = std::min(text.find(',', pos), text.size());
    const auto part = text.substr(pos, comma - pos);
    const auto colon = part.find(':');
    try {
      if (colon == std::string::npos || part.find_first_of("+-") != std::string::npos) {
        throw std::invalid_argument("no colon or a sign");
      }
      std::size_t used_index = 0, used_value = 0;
      const auto index = std::stoull(part.substr(0, colon), &used_index);
      const auto value = std::stoull(part.substr(colon + 1), &used_value);
      if (used_index != colon || used_value != part.size() - colon - 1) throw std::invalid_argument("trailing");
      pairs[static_cast<std::size_t>(index)] = static_cast<std::size_t>(value);
    } catch (const std::exception&) {
      throw UsageError(std::string(name) + " must be INDEX:" + value_name + "[,INDEX:" + value_name + "...] (plan index, " +
                       meaning + "), got '" + text + "'; unset it outside the scheduling tests");
    }
    pos = comma + 1;
  }
  return pairs;
}

}  // namespace

// Test hooks (docs/SCALE.md) that give items uneven costs in the scheduling tests; they
// only delay, results do not change. IBZOO_TEST_ITEM_DELAY_MS=INDEX:MS makes the rank
// that computes plan item INDEX sleep MS milliseconds first; IBZOO_TEST_ITEM_HOLD=
// INDEX:OTHER makes it wait until plan item OTHER is claimed (by a thief: the only way a
// test can make a steal certain rather than likely on a loaded machine).
std::map<std::size_t, TestItemWait> test_item_waits(std::size_t n_items) {
  std::map<std::size_t, TestItemWait> waits;
  for (const auto& [index, ms] : index_pairs("IBZOO_TEST_ITEM_DELAY_MS", "MS", "milliseconds")) {
    if (ms > static_cast<std::size_t>(std::numeric_limits<int>::max())) {
      throw UsageError("IBZOO_TEST_ITEM_DELAY_MS: " + std::to_string(ms) + " ms is too long");
    }
    waits[index].ms = static_cast<int>(ms);
  }
  for (const auto& [index, other] : index_pairs("IBZOO_TEST_ITEM_HOLD", "OTHER", "another plan index")) {
    if (other >= n_items) {
      throw UsageError("IBZOO_TEST_ITEM_HOLD: plan item " + std::to_string(other) + " does not exist (the plan has " +
                       std::to_string(n_items) + " items)");
    }
    waits[index].until_claimed = other;
  }
  return waits;
}

void wait_for_test(const std::map<std::size_t, TestItemWait>& waits, std::size_t item_idx,
                   const std::function<bool(std::size_t)>& is_claimed, std::chrono::milliseconds hold_limit) {
  const auto w = waits.find(item_idx);
  if (w == waits.end()) return;
  std::this_thread::sleep_for(std::chrono::milliseconds(w->second.ms));
  if (!w->second.until_claimed) return;
  const auto other = *w->second.until_claimed;
  const auto deadline = std::chrono::steady_clock::now() + hold_limit;
  while (!is_claimed(other)) {
    if (std::chrono::steady_clock::now() >= deadline) {
      io::log_warn("IBZOO_TEST_ITEM_HOLD: plan item " + std::to_string(other) + " was not claimed within " +
                   std::to_string(hold_limit.count()) + " ms; computing plan item " + std::to_string(item_idx) +
                   " anyway");
      return;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
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
