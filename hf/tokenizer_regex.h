// A compiled PCRE2 regular expression (UTF + UCP, JIT when available) for the
// tokenizer's Split and ByteLevel pre-tokenizers. Patterns in tokenizer.json are
// written for Oniguruma; the ones Hugging Face ships (GPT-2, Llama 3, Qwen2, ...)
// mean the same in PCRE2, including the negative lookahead \s+(?!\S).
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace ibzoo::hf {

class Regex {
 public:
  // Compiles `pattern`. Throws ibzoo::Error with PCRE2's message and the offset
  // in the pattern; the caller adds the file and JSON path.
  explicit Regex(const std::string& pattern);
  ~Regex();
  Regex(Regex&&) noexcept;
  Regex& operator=(Regex&&) noexcept;
  Regex(const Regex&) = delete;
  Regex& operator=(const Regex&) = delete;

  // Appends the [begin, end) byte ranges of all non-overlapping, non-empty
  // matches in `text`, left to right. `text` must be valid UTF-8 (not checked
  // again). Thread-safe: each call uses its own match data.
  void find_all(std::string_view text, std::vector<std::pair<std::size_t, std::size_t>>& out) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace ibzoo::hf
