// Builds label sets by sorting positions by their label tuple: a radix sort of one packed
// key per position when the tuple fits 64 bits, else a comparison sort of positions (no
// hash of tuples); row ids come out deterministic.
#include "analysis/labels.h"

#include "errors/check.h"
#include "errors/error.h"
#include "analysis/reference_points.h"

#include <algorithm>
#include <cstdint>
#include <limits>
#include <numeric>
#include <optional>
#include <span>
#include <string>
#include <utility>

namespace ibzoo::analysis {
namespace {

std::size_t sz(std::int64_t v) { return static_cast<std::size_t>(v); }

// One position's label packed into one integer, and the position.
struct Keyed {
  std::uint64_t key;
  std::int64_t pos;
};

constexpr int kMaxDigitBits = 12;  // 4,096 buckets: the counts of a digit stay in L1

// Sorts by key, least significant digit first; each pass is stable, so equal keys keep
// their position order. The counts of every digit come from one read of the keys, and a
// digit on which every key agrees is skipped.
void radix_sort(std::vector<Keyed>& items, int key_bits) {
  const int n_passes = std::max(1, (key_bits + kMaxDigitBits - 1) / kMaxDigitBits);
  const int digit_bits = (key_bits + n_passes - 1) / n_passes;
  const std::uint64_t mask = (std::uint64_t{1} << digit_bits) - 1;
  const std::size_t n_buckets = static_cast<std::size_t>(mask) + 1;
  std::vector<std::size_t> counts(static_cast<std::size_t>(n_passes) * n_buckets, 0);
  for (const Keyed& item : items) {
    std::size_t* pass_counts = counts.data();
    for (int shift = 0; shift < key_bits; shift += digit_bits, pass_counts += n_buckets) {
      ++pass_counts[(item.key >> shift) & mask];
    }
  }
  std::vector<Keyed> scratch(items.size());
  std::size_t* offsets = counts.data();
  for (int shift = 0; shift < key_bits; shift += digit_bits, offsets += n_buckets) {
    if (std::find(offsets, offsets + n_buckets, items.size()) != offsets + n_buckets) continue;
    std::exclusive_scan(offsets, offsets + n_buckets, offsets, std::size_t{0});
    for (const Keyed& item : items) scratch[offsets[(item.key >> shift) & mask]++] = item;
    items.swap(scratch);
  }
}

// The label of every position as one key that orders as the tuple does, when every
// entry is non-negative and the tuple packs into 64 bits (token n-grams up to order 4
// with a 32k vocabulary do), sorted by key then position; nullopt when it does not pack.
template <typename Element>
std::optional<std::vector<Keyed>> sorted_packed(std::int64_t n_positions, std::int64_t width, const Element& element) {
  std::int64_t max_value = 0;
  for (std::int64_t pos = 0; pos < n_positions; ++pos) {
    for (std::int64_t k = 0; k < width; ++k) {
      const std::int64_t v = element(pos, k);
      if (v < 0) return std::nullopt;
      max_value = std::max(max_value, v);
    }
  }
  int bits = 1;
  while (bits < 63 && (max_value >> bits) != 0) ++bits;
  if (bits * width > 64) return std::nullopt;
  std::vector<Keyed> keyed(static_cast<std::size_t>(n_positions));
  for (std::int64_t pos = 0; pos < n_positions; ++pos) {
    std::uint64_t key = 0;
    for (std::int64_t k = 0; k < width; ++k) key = (key << bits) | static_cast<std::uint64_t>(element(pos, k));
    keyed[static_cast<std::size_t>(pos)] = {key, pos};
  }
  radix_sort(keyed, static_cast<int>(bits * width));
  return keyed;
}

// Gives every group of equal labels its id, in sorted order: position_at(k) is the k-th
// position in label order, same_as_previous(k) whether its label equals the (k-1)-th's.
template <typename PositionAt, typename SameAsPrevious>
void assign_ids(LabelSet& set, std::size_t n, const PositionAt& position_at, const SameAsPrevious& same_as_previous) {
  const std::int64_t row_threshold = std::max<std::int64_t>(2, set.min_count);
  std::size_t begin = 0;
  while (begin < n) {
    std::size_t end = begin + 1;
    while (end < n && same_as_previous(end)) ++end;
    const auto count = static_cast<std::int64_t>(end - begin);
    std::int32_t id = kDropped;
    if (count >= row_threshold) {
      IBZOO_CHECK(set.n_rows() < INT32_MAX, "too many label rows");
      id = static_cast<std::int32_t>(set.n_rows());
      set.row_counts.push_back(count);
    } else if (count == 1 && set.min_count <= 1) {
      id = kSingleton;
      ++set.n_singletons;
    } else {
      ++set.n_dropped_labels;
    }
    for (std::size_t k = begin; k < end; ++k) set.ids[static_cast<std::size_t>(position_at(k))] = id;
    ++set.n_labels;
    begin = end;
  }
}

// Positions sorted by their tuple (then by position), compared entry by entry.
template <typename Element>
std::vector<std::int64_t> sorted_by_tuple(std::int64_t n_positions, std::int64_t width, const Element& element) {
  std::vector<std::int64_t> order(static_cast<std::size_t>(n_positions));
  std::iota(order.begin(), order.end(), std::int64_t{0});
  std::sort(order.begin(), order.end(), [&](std::int64_t a, std::int64_t b) {
    for (std::int64_t k = 0; k < width; ++k) {
      const std::int64_t x = element(a, k);
      const std::int64_t y = element(b, k);
      if (x != y) return x < y;
    }
    return a < b;
  });
  return order;
}

// Groups positions with equal tuples; `element(pos, k)` gives the k-th entry of
// the label tuple at position pos. Row ids follow the lexicographic order of the
// tuples, whether they are sorted packed (radix) or entry by entry.
template <typename Element>
LabelSet build(std::string name, std::int64_t n_positions, std::int64_t width, std::int64_t min_count,
               const Element& element) {
  if (min_count < 1) throw UsageError("min_count must be >= 1, got " + std::to_string(min_count));
  LabelSet set;
  set.name = std::move(name);
  set.min_count = min_count;
  set.ids.assign(static_cast<std::size_t>(n_positions), kDropped);
  const auto n = static_cast<std::size_t>(n_positions);
  if (const auto keyed = sorted_packed(n_positions, width, element)) {
    const Keyed* items = keyed->data();
    assign_ids(set, n, [items](std::size_t k) { return items[k].pos; },
               [items](std::size_t k) { return items[k].key == items[k - 1].key; });
    return set;
  }
  const auto order = sorted_by_tuple(n_positions, width, element);
  assign_ids(set, n, [&order](std::size_t k) { return order[k]; }, [&](std::size_t k) {
    for (std::int64_t e = 0; e < width; ++e) {
      if (element(order[k - 1], e) != element(order[k], e)) return false;
    }
    return true;
  });
  return set;
}

}  // namespace

LabelSet label_set_from_rows(std::string name, std::span<const std::int64_t> values, std::int64_t n_positions,
                             std::int64_t width, std::int64_t min_count) {
  if (width < 1 || n_positions < 0 || static_cast<std::int64_t>(values.size()) != n_positions * width) {
    throw UsageError("label set '" + name + "': expected " + std::to_string(n_positions) + " x " +
                     std::to_string(width) + " values, got " + std::to_string(values.size()));
  }
  const std::int64_t* data = values.data();
  return build(std::move(name), n_positions, width, min_count,
               [data, width](std::int64_t pos, std::int64_t k) { return data[pos * width + k]; });
}

Positions ngram_positions(const Corpus& corpus, int max_order) {
  if (max_order < 1) throw UsageError("n-gram order must be >= 1, got " + std::to_string(max_order));
  const auto n_docs = static_cast<std::size_t>(corpus.n_docs());
  if (corpus.doc_offsets.size() != n_docs + 1 || corpus.doc_offsets.front() != 0 ||
      corpus.doc_offsets.back() != static_cast<std::int64_t>(corpus.tokens.size())) {
    throw CorruptDataError("corpus: doc_offsets must have n_docs + 1 entries from 0 to the number of tokens");
  }
  Positions positions;
  for (std::size_t k = 0; k < n_docs; ++k) {
    const std::int64_t begin = corpus.doc_offsets[k];
    const std::int64_t end = corpus.doc_offsets[k + 1];
    if (end < begin) throw CorruptDataError("corpus: doc_offsets decrease at document " + std::to_string(k));
    // i from N-1 to len-N-1 inclusive
    for (std::int64_t i = max_order - 1; i <= end - begin - max_order - 1; ++i) {
      positions.token_idx.push_back(begin + i);
      positions.doc_ids.push_back(corpus.doc_ids[k]);
    }
  }
  return positions;
}

LabelSet ngram_label_set(std::string name, const Corpus& corpus, const Positions& positions, int order,
                         NgramDirection direction, std::int64_t min_count) {
  if (order < 1) throw UsageError("n-gram order must be >= 1, got " + std::to_string(order));
  const std::int64_t* tokens = corpus.tokens.data();
  const std::int64_t* idx = positions.token_idx.data();
  const std::int64_t first = direction == NgramDirection::kInput ? 1 - order : 1;
  return build(std::move(name), positions.size(), order, min_count,
               [tokens, idx, first](std::int64_t pos, std::int64_t k) { return tokens[idx[pos] + first + k]; });
}

std::vector<std::int32_t> within_document_shuffle(std::span<const std::int64_t> doc_ids, std::uint64_t seed) {
  const auto n = doc_ids.size();
  if (n > static_cast<std::size_t>(std::numeric_limits<std::int32_t>::max())) {
    throw UsageError("the shuffled null takes at most 2^31 - 1 positions per sample, got " + std::to_string(n));
  }
  // Positions grouped by document, each group in order of appearance.
  std::vector<std::int32_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  if (!std::is_sorted(doc_ids.begin(), doc_ids.end())) {
    std::stable_sort(order.begin(), order.end(), [&](std::int32_t a, std::int32_t b) { return doc_ids[sz(a)] < doc_ids[sz(b)]; });
  }
  std::vector<std::int32_t> source(n);
  const std::uint64_t seed_mix = splitmix64(seed);
  for (std::size_t begin = 0; begin < n;) {
    const auto doc = doc_ids[sz(order[begin])];
    auto end = begin + 1;
    while (end < n && doc_ids[sz(order[end])] == doc) ++end;
    // Fisher-Yates over the group's positions; then member k takes the label of src[k].
    const std::span<const std::int32_t> members(order.data() + begin, end - begin);
    std::vector<std::int32_t> src(members.begin(), members.end());
    std::uint64_t state = seed_mix ^ splitmix64(static_cast<std::uint64_t>(doc));
    for (std::size_t k = src.size(); k > 1; --k) {
      state = splitmix64(state);
      const std::size_t j = static_cast<std::size_t>(state % k);
      std::swap(src[k - 1], src[j]);
    }
    for (std::size_t k = 0; k < members.size(); ++k) source[sz(members[k])] = src[k];
    begin = end;
  }
  return source;
}

LabelSet shuffle_within_documents(const LabelSet& labels, std::span<const std::int64_t> doc_ids, std::uint64_t seed,
                                  std::string name) {
  IBZOO_CHECK(static_cast<std::int64_t>(doc_ids.size()) == labels.n_positions(),
              doc_ids.size() << " document ids for " << labels.n_positions() << " positions");
  const auto source = within_document_shuffle(doc_ids, seed);
  LabelSet shuffled = labels;
  shuffled.name = std::move(name);
  for (std::size_t i = 0; i < source.size(); ++i) shuffled.ids[i] = labels.ids[sz(source[i])];
  return shuffled;
}

PreferenceText preference_text(std::span<const PreferenceTokens> pairs, std::span<const std::int64_t> pair_ids,
                               bool prompt_labelled, std::int64_t max_tokens, std::string name, std::int64_t min_count) {
  if (pairs.size() != pair_ids.size()) {
    throw UsageError("preference_text: " + std::to_string(pairs.size()) + " pairs but " +
                     std::to_string(pair_ids.size()) + " pair ids");
  }
  if (max_tokens < 1) throw UsageError("preference max_tokens must be >= 1, got " + std::to_string(max_tokens));
  PreferenceText out;
  out.corpus.doc_offsets.push_back(0);
  std::vector<std::int64_t> values;
  const auto prompt_len = [&](const PreferenceTokens& pair) {
    return std::min(static_cast<std::int64_t>(pair.prompt.size()), max_tokens);
  };
  const auto doc_len = [&](const PreferenceTokens& pair, const std::vector<std::int64_t>& completion) {
    return std::min(static_cast<std::int64_t>(pair.prompt.size() + completion.size()), max_tokens);
  };
  for (std::size_t k = 0; k < pairs.size(); ++k) {
    const auto& pair = pairs[k];
    const std::int64_t first = prompt_labelled ? 0 : prompt_len(pair);
    if (doc_len(pair, pair.chosen) <= first || doc_len(pair, pair.rejected) <= first) {
      ++out.n_pairs_dropped;
      continue;
    }
    for (const bool chosen : {true, false}) {
      const auto& completion = chosen ? pair.chosen : pair.rejected;
      const auto begin = static_cast<std::int64_t>(out.corpus.tokens.size());
      const std::int64_t len = doc_len(pair, completion);
      for (std::int64_t t = 0; t < len; ++t) {
        const auto p = static_cast<std::size_t>(t);
        out.corpus.tokens.push_back(p < pair.prompt.size() ? pair.prompt[p] : completion[p - pair.prompt.size()]);
      }
      for (std::int64_t t = first; t < len; ++t) {
        out.positions.token_idx.push_back(begin + t);
        out.positions.doc_ids.push_back(pair_ids[k]);
        values.push_back(chosen ? 1 : 0);
      }
      out.corpus.doc_offsets.push_back(static_cast<std::int64_t>(out.corpus.tokens.size()));
      out.corpus.doc_ids.push_back(pair_ids[k]);
    }
  }
  out.labels = label_set_from_rows(std::move(name), values, static_cast<std::int64_t>(values.size()), 1, min_count);
  return out;
}

}  // namespace ibzoo::analysis
