// Trains a byte-level BPE tokenizer (GPT-2 style) from text, for the demo zoo,
// and writes it as a Hugging Face tokenizer.json that hf::Tokenizer and the
// `tokenizers` library both read. Deterministic: the same text and options give
// the same bytes. Torch-free; single-threaded.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace ibzoo::hf {

struct BpeTrainerOptions {
  // Size of the final vocabulary: 256 byte tokens + merges + special tokens.
  std::int32_t vocab_size = 1024;
  // Added after the merges, in this order; the first is the BOS/EOS token.
  std::vector<std::string> special_tokens = {"<|endoftext|>"};
  // Merging stops early when the most frequent pair occurs fewer times than this.
  std::int64_t min_pair_count = 2;
  // Write merges as "a b" strings (older files) instead of ["a", "b"] pairs.
  bool merges_as_strings = false;
};

struct BpeTrainingResult {
  std::string tokenizer_json;          // the whole tokenizer.json text
  std::string tokenizer_config_json;   // a tokenizer_config.json naming the BOS/EOS token
  std::int32_t vocab_size = 0;         // may be below the request if the text ran out of pairs
  std::int32_t n_merges = 0;
  std::int64_t n_words = 0;            // pre-tokens seen in the text
  std::int64_t n_unique_words = 0;
};

// Trains on `text` (valid UTF-8) with the GPT-2 pre-tokenizer regex. Each step
// merges the most frequent adjacent pair; ties go to the pair with the smaller
// (left id, right id). Byte tokens have ids 0..255 in byte order, merge k makes
// id 256 + k, special tokens follow. Pair counts are updated incrementally
// (only the words that contain the merged pair are touched).
// Throws UsageError (vocab_size below 256 + specials), CorruptDataError (text
// not valid UTF-8, or empty).
BpeTrainingResult train_byte_level_bpe(std::string_view text, const BpeTrainerOptions& options);

// Writes <dir>/tokenizer.json and <dir>/tokenizer_config.json (temporary names,
// then renamed), creating `dir` if needed. Throws WriteError.
void write_trained_tokenizer(const BpeTrainingResult& result, const std::filesystem::path& dir);

}  // namespace ibzoo::hf
