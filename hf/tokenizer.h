// Native reader of Hugging Face tokenizer.json files: encodes text to token ids
// exactly as the `tokenizers` library does, without Python. Torch-free.
//
// Supported (docs/TOKENIZER.md has the details and the exact JSON fields):
//   model        BPE: vocab; merges as "a b" strings or [a, b] pairs; ignore_merges;
//                byte_fallback (<0xNN> tokens); unk_token and fuse_unk.
//   normalizer   NFC, NFKC, NFD, NFKD (ICU), Lowercase, Replace, Prepend, Strip, Sequence.
//   pre_tokenizer ByteLevel (GPT-2 regex or none; add_prefix_space), Split (Regex or
//                String pattern, every behavior, invert), Metaspace, Digits,
//                Whitespace, WhitespaceSplit, Sequence.
//   added_tokens special and non-special; matched before pre-tokenisation, leftmost
//                longest; lstrip, rstrip, single_word, normalized.
//   post_processor TemplateProcessing, RobertaProcessing, BertProcessing, ByteLevel,
//                Sequence: applied only when encode(..., add_special_tokens = true).
//   decoder      ByteLevel, Metaspace, Replace, ByteFallback, Fuse, Strip, Sequence.
// Anything else is rejected when the file is read, with the JSON path of the field.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace ibzoo::hf {

struct TokenizerOptions {
  // Files larger than this are rejected before parsing (real ones are 2-35 MB).
  std::uint64_t max_file_bytes = std::uint64_t{256} << 20;
  // Pre-token words whose BPE result is cached; the cache is cleared when full.
  std::size_t cache_capacity = 1 << 16;
};

class Tokenizer {
 public:
  // Reads `path`: a tokenizer.json, or a model directory that contains one. If a
  // tokenizer_config.json sits beside it, its bos_token/eos_token are used by
  // bos_id()/eos_id() when the post-processor names none.
  // Throws MissingInputError (no such file), CorruptDataError (over the size
  // limit, bad JSON, unsupported or inconsistent content; the message names the
  // file and the JSON path, e.g. "/model/merges/12").
  static Tokenizer from_file(const std::filesystem::path& path, const TokenizerOptions& options = {});
  // Same, from JSON text already in memory; `source_name` stands for the file in messages.
  static Tokenizer from_json(std::string_view json_text, const std::string& source_name,
                             const TokenizerOptions& options = {});

  // Token ids of `text` (must be valid UTF-8, else CorruptDataError with the byte
  // offset). With add_special_tokens the post-processor adds its tokens (e.g. a
  // BOS); without, none are added. Special tokens written in the text are always
  // recognised, as in `tokenizers`. Thread-safe.
  std::vector<std::int32_t> encode(std::string_view text, bool add_special_tokens) const;

  // Text of `ids` through the file's decoder (special tokens kept). Throws
  // CorruptDataError for an id outside the vocabulary.
  std::string decode(std::span<const std::int32_t> ids) const;

  // One more than the largest id of the model vocabulary and the added tokens.
  std::int32_t vocab_size() const;
  // The token the post-processor puts first (e.g. <|begin_of_text|>), else
  // tokenizer_config.json's bos_token, else none. eos_id(): the token it puts
  // last, else tokenizer_config.json's eos_token, else none.
  std::optional<std::int32_t> bos_id() const;
  std::optional<std::int32_t> eos_id() const;
  // Whether `id` is an added token marked special.
  bool is_special(std::int32_t id) const;
  std::optional<std::int32_t> token_to_id(std::string_view token) const;
  std::optional<std::string> id_to_token(std::int32_t id) const;

  // Lower-case hex SHA-256 of the tokenizer.json bytes (for provenance).
  const std::string& sha256() const;
  // The tokenizer.json that was read ("" for from_json).
  const std::filesystem::path& path() const;

  ~Tokenizer();
  Tokenizer(Tokenizer&&) noexcept;
  Tokenizer& operator=(Tokenizer&&) noexcept;
  Tokenizer(const Tokenizer&) = delete;
  Tokenizer& operator=(const Tokenizer&) = delete;

  struct Impl;

 private:
  explicit Tokenizer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace ibzoo::hf
