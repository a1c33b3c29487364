// Internal to the tokenizer reader: the parts of a tokenizer.json as plain data,
// shared by the JSON parser (tokenizer_parse.cpp), the encoder (tokenizer.cpp) and the
// decoder (tokenizer_decode.cpp).
// Nothing outside hf/tokenizer*.cpp includes this.
#pragma once

#include "hf/tokenizer.h"
#include "hf/tokenizer_regex.h"
#include "io/unicode.h"

#include <array>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <variant>
#include <vector>

namespace ibzoo::hf::tok {

// Lets unordered maps keyed by std::string be searched with a string_view.
struct StringHash {
  using is_transparent = void;
  std::size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
};
template <typename V>
using StringMap = std::unordered_map<std::string, V, StringHash, std::equal_to<>>;

// A string pattern of Replace/Split: a literal or a regex.
struct Pattern {
  std::string literal;                  // used when regex is null
  std::shared_ptr<const Regex> regex;   // shared: Tokenizer parts are immutable
  void find_all(std::string_view text, std::vector<std::pair<std::size_t, std::size_t>>& out) const;
};

// ---- normalizers -------------------------------------------------------------
struct NormalizeStep { io::unicode::NormalForm form; };
struct LowercaseStep {};
struct ReplaceStep { Pattern pattern; std::string content; };
struct PrependStep { std::string prepend; };
struct StripStep { bool left = false; bool right = false; };
using NormalizerStep = std::variant<NormalizeStep, LowercaseStep, ReplaceStep, PrependStep, StripStep>;

// ---- pre-tokenizers ----------------------------------------------------------
enum class SplitBehavior { kRemoved, kIsolated, kMergedWithPrevious, kMergedWithNext, kContiguous };
struct SplitStep { Pattern pattern; SplitBehavior behavior = SplitBehavior::kIsolated; bool invert = false; };
// ByteLevel maps bytes to the GPT-2 alphabet; it must be the last step, so the
// encoder hands raw bytes to the model and maps each byte to its id there.
struct ByteLevelStep {
  bool add_prefix_space = false;
  std::shared_ptr<const Regex> regex;  // the GPT-2 pattern when use_regex, else null
};
enum class PrependScheme { kAlways, kFirst, kNever };
struct MetaspaceStep { std::string replacement = "\xE2\x96\x81"; PrependScheme prepend = PrependScheme::kAlways; bool split = true; };
using PreTokenizerStep = std::variant<SplitStep, ByteLevelStep, MetaspaceStep>;

// ---- model -------------------------------------------------------------------
struct MergeTarget { std::int32_t rank; std::int32_t new_id; };
struct BpeModel {
  StringMap<std::int32_t> vocab;
  std::unordered_map<std::uint64_t, MergeTarget> merges;  // key: (left id << 32) | right id
  std::optional<std::int32_t> unk_id;
  bool fuse_unk = false;
  bool byte_fallback = false;
  bool ignore_merges = false;
  std::array<std::int32_t, 256> byte_fallback_ids{};  // id of "<0xNN>", -1 if absent
  std::array<std::int32_t, 256> byte_level_ids{};     // id of the byte's GPT-2 char, -1 if absent
};

// ---- added tokens ------------------------------------------------------------
struct AddedToken {
  std::string content;
  std::int32_t id = 0;
  bool special = false;
  bool lstrip = false;
  bool rstrip = false;
  bool single_word = false;
  bool normalized = false;
};
// Leftmost-longest matching of a set of added tokens.
struct AddedMatcher {
  std::vector<AddedToken> tokens;                       // `content` as matched (normalised if needed)
  std::array<std::vector<std::int32_t>, 256> by_first;  // indices into tokens, longest first
  bool empty() const { return tokens.empty(); }
};

// ---- decoders ----------------------------------------------------------------
struct ByteLevelDecode {};
struct MetaspaceDecode { std::string replacement = "\xE2\x96\x81"; bool strip_first_space = true; };
struct ReplaceDecode { Pattern pattern; std::string content; };
struct ByteFallbackDecode {};
struct FuseDecode {};
struct StripDecode { std::string content; std::size_t start = 0; std::size_t stop = 0; };
using DecoderStep = std::variant<ByteLevelDecode, MetaspaceDecode, ReplaceDecode, ByteFallbackDecode,
                                 FuseDecode, StripDecode>;

}  // namespace ibzoo::hf::tok

namespace ibzoo::hf {

struct Tokenizer::Impl {
  std::filesystem::path path;
  std::string sha256;
  TokenizerOptions options;

  std::vector<tok::NormalizerStep> normalizer;   // empty: none
  std::vector<tok::PreTokenizerStep> pre_tokenizer;
  bool byte_level = false;                       // pre_tokenizer ends with ByteLevel
  tok::BpeModel model;
  tok::AddedMatcher added_raw;                   // normalized == false, matched on the raw text
  tok::AddedMatcher added_normalized;            // normalized == true, matched after normalising
  std::vector<std::int32_t> post_prefix;         // added before the sequence (add_special_tokens)
  std::vector<std::int32_t> post_suffix;         // added after it
  bool has_decoder = false;
  std::vector<tok::DecoderStep> decoder;

  std::vector<std::string> id_to_token;          // "" for holes
  std::vector<char> special;                     // per id
  std::optional<std::int32_t> config_bos_id;     // from tokenizer_config.json
  std::optional<std::int32_t> config_eos_id;

  // Bounded cache of BPE results per pre-token (raw bytes), in shards chosen by the word's
  // hash, each with its own lock: documents encode on many threads at once
  // (stages/labels.cpp), and one lock for every word serialised them.
  struct CacheShard {
    std::mutex mutex;
    tok::StringMap<std::vector<std::int32_t>> words;
  };
  static constexpr std::size_t kCacheShards = 64;
  mutable std::array<CacheShard, kCacheShards> cache;
};

namespace tok {
// Parses the JSON text of a tokenizer.json into `impl` (tokenizer_parse.cpp).
// Throws CorruptDataError naming `source_name` and the JSON path.
void parse_tokenizer_json(std::string_view json_text, const std::string& source_name, Tokenizer::Impl& impl);
// Normalises `text` through `steps` (tokenizer.cpp).
std::string apply_normalizer(const std::vector<NormalizerStep>& steps, std::string text);
// Every match of `pattern` in `text` replaced by `content`.
std::string replace_all(const Pattern& pattern, std::string_view text, std::string_view content);
// `text` with every occurrence of `from` replaced by `to`.
std::string replace_all_literal(std::string_view text, std::string_view from, std::string_view to);
}  // namespace tok

}  // namespace ibzoo::hf
