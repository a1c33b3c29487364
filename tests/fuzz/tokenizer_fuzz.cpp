// libFuzzer target: tokenizer.json (hf/tokenizer.h). The input is the JSON text:
// Tokenizer::from_json(), then encode() of a short fixed text (with and without
// special tokens) and decode() of the ids. Any ibzoo::Error is an expected rejection;
// anything else, or an id outside [0, vocab_size()), is a finding.
#include "errors/error.h"
#include "hf/tokenizer.h"
#include "tests/fuzz/fuzz_util.h"

#include <cstddef>
#include <cstdint>

namespace {

// ASCII, a digit run, whitespace runs, accents, CJK, an emoji and a special-token look-alike.
constexpr const char* kText = "Hello  world!\n 12345 In the beginning\tcafe\xCC\x81 \xE6\x97\xA5\xE6\x9C\xAC "
                              "\xF0\x9F\x98\x80 <|endoftext|><s></s> don't";

void check_ids(const ibzoo::hf::Tokenizer& tokenizer, const std::vector<std::int32_t>& ids) {
  for (const auto id : ids) {
    if (id < 0 || id >= tokenizer.vocab_size()) ibzoo::fuzz::invariant_failed("encode() returned an id out of range");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  try {
    ibzoo::hf::TokenizerOptions options;
    options.cache_capacity = 64;
    const auto tokenizer = ibzoo::hf::Tokenizer::from_json(ibzoo::fuzz::as_text(data, size), "fuzz.json", options);
    for (const bool special : {false, true}) {
      const auto ids = tokenizer.encode(kText, special);
      check_ids(tokenizer, ids);
      (void)tokenizer.decode(ids);
    }
    (void)tokenizer.bos_id();
    (void)tokenizer.eos_id();
  } catch (const ibzoo::Error&) {
  }
  return 0;
}
