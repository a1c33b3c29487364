// Byte-level BPE training for the demo zoo (issue 6). The incremental update
// keeps, per pair, its count and the words it occurs in, so a merge touches only
// those words instead of recounting the corpus.
#include "hf/bpe_trainer.h"

#include "errors/error.h"
#include "io/fs.h"
#include "hf/tokenizer_regex.h"
#include "io/unicode.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <queue>
#include <tuple>
#include <unordered_map>

namespace ibzoo::hf {

namespace {

constexpr const char* kGpt2Pattern =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";

using PairKey = std::uint64_t;
PairKey pair_key(std::int32_t left, std::int32_t right) {
  return (std::uint64_t{static_cast<std::uint32_t>(left)} << 32) | static_cast<std::uint32_t>(right);
}
std::int32_t left_of(PairKey key) { return static_cast<std::int32_t>(key >> 32); }
std::int32_t right_of(PairKey key) { return static_cast<std::int32_t>(key & 0xFFFFFFFFu); }

struct Corpus {
  std::vector<std::vector<std::int32_t>> words;  // symbols of each distinct pre-token
  std::vector<std::int64_t> counts;
  std::int64_t n_words = 0;
};

Corpus count_words(std::string_view text) {
  const Regex regex(kGpt2Pattern);
  std::vector<std::pair<std::size_t, std::size_t>> spans;
  regex.find_all(text, spans);
  std::unordered_map<std::string_view, std::int64_t> counts;
  for (const auto& [begin, end] : spans) ++counts[text.substr(begin, end - begin)];
  // Sorted, so the word order (and everything after it) is independent of hashing.
  std::vector<std::pair<std::string_view, std::int64_t>> sorted(counts.begin(), counts.end());
  std::sort(sorted.begin(), sorted.end());
  Corpus corpus;
  corpus.n_words = static_cast<std::int64_t>(spans.size());
  for (const auto& [word, count] : sorted) {
    std::vector<std::int32_t> symbols;
    for (const char c : word) symbols.push_back(static_cast<unsigned char>(c));
    corpus.words.push_back(std::move(symbols));
    corpus.counts.push_back(count);
  }
  return corpus;
}

// Pair statistics with a lazily updated max-heap. Counts of existing pairs only
// fall after a merge (new pairs always contain the new token), so a heap entry
// is either current or too high; a too-high entry is re-pushed when popped.
class PairTable {
 public:
  explicit PairTable(const Corpus& corpus) {
    for (std::size_t w = 0; w < corpus.words.size(); ++w) {
      const auto& symbols = corpus.words[w];
      for (std::size_t k = 0; k + 1 < symbols.size(); ++k) add(pair_key(symbols[k], symbols[k + 1]), corpus.counts[w], w);
    }
    for (const auto& [key, count] : counts_) push(key);
  }

  void add(PairKey key, std::int64_t delta, std::size_t word_idx) {
    counts_[key] += delta;
    if (delta > 0) where_[key].push_back(static_cast<std::int32_t>(word_idx));
  }
  void push(PairKey key) {
    const std::int64_t count = counts_[key];
    if (count > 0) heap_.emplace(count, -left_of(key), -right_of(key));
  }
  // The most frequent pair (smallest ids on ties), or nothing below min_count.
  std::optional<PairKey> pop_best(std::int64_t min_count) {
    while (!heap_.empty()) {
      const auto [count, neg_left, neg_right] = heap_.top();
      heap_.pop();
      const PairKey key = pair_key(-neg_left, -neg_right);
      const std::int64_t current = counts_[key];
      if (current != count) {
        push(key);
        continue;
      }
      if (count < min_count) return std::nullopt;
      return key;
    }
    return std::nullopt;
  }
  // Word indices that may contain `key` (deduplicated; stale ones are harmless).
  std::vector<std::int32_t> take_words(PairKey key) {
    std::vector<std::int32_t> words = std::move(where_[key]);
    where_.erase(key);
    std::sort(words.begin(), words.end());
    words.erase(std::unique(words.begin(), words.end()), words.end());
    return words;
  }

 private:
  std::unordered_map<PairKey, std::int64_t> counts_;
  std::unordered_map<PairKey, std::vector<std::int32_t>> where_;
  std::priority_queue<std::tuple<std::int64_t, std::int32_t, std::int32_t>> heap_;
};

// Replaces every (left, right) in `symbols` by `new_id`, left to right, and
// records the pair-count changes (weighted by the word's count) in `table`.
void merge_word(std::vector<std::int32_t>& symbols, PairKey key, std::int32_t new_id, std::int64_t count,
                std::size_t word_idx, PairTable& table, std::vector<PairKey>& touched) {
  const std::int32_t left = left_of(key);
  const std::int32_t right = right_of(key);
  for (std::size_t i = 0; i + 1 < symbols.size(); ++i) {
    if (symbols[i] != left || symbols[i + 1] != right) continue;
    table.add(key, -count, word_idx);
    if (i > 0) {
      table.add(pair_key(symbols[i - 1], left), -count, word_idx);
      table.add(pair_key(symbols[i - 1], new_id), count, word_idx);
      touched.push_back(pair_key(symbols[i - 1], new_id));
    }
    if (i + 2 < symbols.size()) {
      table.add(pair_key(right, symbols[i + 2]), -count, word_idx);
      table.add(pair_key(new_id, symbols[i + 2]), count, word_idx);
      touched.push_back(pair_key(new_id, symbols[i + 2]));
    }
    symbols[i] = new_id;
    symbols.erase(symbols.begin() + static_cast<std::ptrdiff_t>(i) + 1);
  }
}

std::string byte_level_string(const std::string& bytes) {
  std::string out;
  for (const char c : bytes) out += io::unicode::byte_to_char()[static_cast<unsigned char>(c)];
  return out;
}

nlohmann::ordered_json tokenizer_json(const std::vector<std::string>& token_bytes,
                                      const std::vector<std::pair<std::int32_t, std::int32_t>>& merges,
                                      const BpeTrainerOptions& options) {
  using nlohmann::ordered_json;
  ordered_json added = ordered_json::array();
  const auto n_model = static_cast<std::int32_t>(token_bytes.size());
  for (std::size_t k = 0; k < options.special_tokens.size(); ++k) {
    added.push_back({{"id", n_model + static_cast<std::int32_t>(k)}, {"content", options.special_tokens[k]},
                     {"single_word", false}, {"lstrip", false}, {"rstrip", false}, {"normalized", false},
                     {"special", true}});
  }
  ordered_json vocab = ordered_json::object();
  for (std::size_t id = 0; id < token_bytes.size(); ++id) vocab[byte_level_string(token_bytes[id])] = id;
  for (std::size_t k = 0; k < options.special_tokens.size(); ++k) vocab[options.special_tokens[k]] = n_model + static_cast<std::int32_t>(k);
  ordered_json merge_list = ordered_json::array();
  for (const auto& [left, right] : merges) {
    const std::string l = byte_level_string(token_bytes[static_cast<std::size_t>(left)]);
    const std::string r = byte_level_string(token_bytes[static_cast<std::size_t>(right)]);
    if (options.merges_as_strings) merge_list.push_back(l + " " + r);
    else merge_list.push_back(ordered_json::array({l, r}));
  }
  const ordered_json byte_level = {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", true}, {"use_regex", true}};
  return ordered_json{
      {"version", "1.0"}, {"truncation", nullptr}, {"padding", nullptr}, {"added_tokens", added},
      {"normalizer", nullptr}, {"pre_tokenizer", byte_level}, {"post_processor", byte_level}, {"decoder", byte_level},
      {"model", {{"type", "BPE"}, {"dropout", nullptr}, {"unk_token", nullptr}, {"continuing_subword_prefix", nullptr},
                 {"end_of_word_suffix", nullptr}, {"fuse_unk", false}, {"byte_fallback", false},
                 {"ignore_merges", false}, {"vocab", vocab}, {"merges", merge_list}}}};
}

std::string tokenizer_config_json(const BpeTrainerOptions& options) {
  nlohmann::ordered_json config = {{"tokenizer_class", "PreTrainedTokenizerFast"},
                                   {"add_bos_token", false}, {"add_eos_token", false},
                                   {"add_prefix_space", false}, {"clean_up_tokenization_spaces", false}};
  if (!options.special_tokens.empty()) {
    config["bos_token"] = options.special_tokens.front();
    config["eos_token"] = options.special_tokens.front();
    config["unk_token"] = options.special_tokens.front();
  }
  return config.dump(2) + "\n";
}

}  // namespace

BpeTrainingResult train_byte_level_bpe(std::string_view text, const BpeTrainerOptions& options) {
  const auto n_special = static_cast<std::int32_t>(options.special_tokens.size());
  if (options.vocab_size < 256 + n_special) {
    throw UsageError("BPE vocab size " + std::to_string(options.vocab_size) + " is too small: it must hold the 256 "
                     "byte tokens and " + std::to_string(n_special) + " special token(s)");
  }
  if (const auto bad = io::unicode::first_invalid_utf8(text)) {
    throw CorruptDataError("training text is not valid UTF-8 at byte " + std::to_string(*bad));
  }
  if (text.empty()) throw CorruptDataError("training text is empty; a BPE tokenizer needs some text to learn from");
  Corpus corpus = count_words(text);
  PairTable table(corpus);
  std::vector<std::string> token_bytes;
  for (int b = 0; b < 256; ++b) token_bytes.emplace_back(1, static_cast<char>(b));
  std::vector<std::pair<std::int32_t, std::int32_t>> merges;
  const std::int32_t n_merges_wanted = options.vocab_size - 256 - n_special;
  std::vector<PairKey> touched;
  while (static_cast<std::int32_t>(merges.size()) < n_merges_wanted) {
    const auto best = table.pop_best(options.min_pair_count);
    if (!best) break;
    const auto new_id = static_cast<std::int32_t>(token_bytes.size());
    token_bytes.push_back(token_bytes[static_cast<std::size_t>(left_of(*best))] +
                          token_bytes[static_cast<std::size_t>(right_of(*best))]);
    merges.emplace_back(left_of(*best), right_of(*best));
    touched.clear();
    for (const std::int32_t w : table.take_words(*best)) {
      const auto idx = static_cast<std::size_t>(w);
      merge_word(corpus.words[idx], *best, new_id, corpus.counts[idx], idx, table, touched);
    }
    std::sort(touched.begin(), touched.end());
    touched.erase(std::unique(touched.begin(), touched.end()), touched.end());
    for (const PairKey key : touched) table.push(key);
  }
  BpeTrainingResult result;
  result.tokenizer_json = tokenizer_json(token_bytes, merges, options).dump(2) + "\n";
  result.tokenizer_config_json = tokenizer_config_json(options);
  result.n_merges = static_cast<std::int32_t>(merges.size());
  result.vocab_size = static_cast<std::int32_t>(token_bytes.size()) + n_special;
  result.n_words = corpus.n_words;
  result.n_unique_words = static_cast<std::int64_t>(corpus.words.size());
  return result;
}

void write_trained_tokenizer(const BpeTrainingResult& result, const std::filesystem::path& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) throw WriteError(dir.string() + ": could not create the output directory (" + ec.message() + ")");
  io::write_file_atomic(dir / "tokenizer.json", result.tokenizer_json);
  io::write_file_atomic(dir / "tokenizer_config.json", result.tokenizer_config_json);
}

}  // namespace ibzoo::hf
