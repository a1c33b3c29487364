// UTF-8 and Unicode helpers for the tokenizer: decoding and encoding code points,
// validation, the GPT-2 byte-to-unicode table, whitespace classes and NFC/NFKC
// normalisation (through ICU when the build found it). Torch-free, no I/O.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace ibzoo::io::unicode {

// Decodes the code point starting at `pos` of valid UTF-8 `text` and advances
// `pos` past it. The caller guarantees validity (see first_invalid_utf8).
char32_t decode_at(std::string_view text, std::size_t& pos);

// Appends the UTF-8 encoding of `cp` to `out`.
void append_utf8(std::string& out, char32_t cp);

// Byte offset of the first invalid UTF-8 sequence in `text` (overlong forms,
// surrogates and values over U+10FFFF are invalid), or nullopt if it is valid.
std::optional<std::size_t> first_invalid_utf8(std::string_view text);

// Replaces every invalid UTF-8 sequence by U+FFFD, as Rust's from_utf8_lossy.
std::string to_valid_utf8_lossy(std::string_view bytes);

// The GPT-2 byte-level alphabet: printable bytes map to themselves, the other 68
// bytes to U+0100.. in byte order. byte_to_char()[b] is the UTF-8 of b's char.
const std::array<std::string, 256>& byte_to_char();
// The inverse: the byte whose char is `cp`, or nullopt if `cp` is not in the alphabet.
std::optional<std::uint8_t> char_to_byte(char32_t cp);

// Unicode White_Space (as Rust's char::is_whitespace).
bool is_whitespace(char32_t cp);
// A "word" character for single_word added tokens: letters, digits, marks and '_'.
bool is_word_char(char32_t cp);

enum class NormalForm { kNfc, kNfkc, kNfd, kNfkd };
// Whether this build can normalise (ICU was found). Without ICU, normalize()
// still accepts text that is pure ASCII (which every normal form leaves alone).
bool have_normalizer();
// Normalises valid UTF-8. Throws ibzoo::Error if ICU is missing and the text
// is not ASCII, naming the Debian package to install.
std::string normalize(std::string_view text, NormalForm form);

// Lower-cases valid UTF-8 (full Unicode with ICU, ASCII only without).
std::string to_lower(std::string_view text);

}  // namespace ibzoo::io::unicode
