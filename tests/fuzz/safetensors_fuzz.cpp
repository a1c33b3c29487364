// libFuzzer target: the safetensors header (hf/safetensors.h). The input is a whole
// .safetensors file: parse_safetensors_header() on its JSON part, then
// SafetensorsFile::open() on the file itself (length prefix, limits, mapping). Any
// ibzoo::Error is an expected rejection; everything else (another exception, a
// sanitizer report, a broken invariant of an accepted header) is a finding.
#include "errors/error.h"
#include "hf/safetensors.h"
#include "tests/fuzz/fuzz_util.h"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <utility>
#include <vector>

namespace {

using ibzoo::fuzz::invariant_failed;

// What open() promises about an accepted header.
void check_header(const ibzoo::hf::SafetensorsHeader& header, std::uint64_t data_size) {
  std::uint64_t previous_end = 0;
  std::vector<std::pair<std::uint64_t, std::uint64_t>> spans;
  for (const auto& e : header.entries) {
    if (e.begin > e.end || e.end > data_size) invariant_failed("tensor span outside the data");
    std::uint64_t numel = 1;
    for (const auto d : e.shape) {
      if (d < 0) invariant_failed("negative dimension accepted");
      const auto ud = static_cast<std::uint64_t>(d);
      if (ud != 0 && numel > std::numeric_limits<std::uint64_t>::max() / ud) invariant_failed("numel overflows");
      numel *= ud;
    }
    if (numel > std::numeric_limits<std::uint64_t>::max() / ibzoo::hf::dtype_size(e.dtype)) {
      invariant_failed("byte size overflows");
    }
    if (numel * ibzoo::hf::dtype_size(e.dtype) != e.end - e.begin) invariant_failed("span != dtype size x numel");
    spans.emplace_back(e.begin, e.end);
  }
  std::sort(spans.begin(), spans.end());
  for (const auto& [begin, end] : spans) {
    if (begin != end && begin < previous_end) invariant_failed("two tensors overlap");
    if (begin != end) previous_end = end;
  }
}

void fuzz_header(const std::uint8_t* data, std::size_t size) {
  if (size < 8) return;
  std::uint64_t n_header = 0;
  for (int i = 7; i >= 0; --i) n_header = (n_header << 8) | data[i];
  if (n_header > size - 8) return;
  const std::uint64_t data_size = size - 8 - n_header;
  try {
    const auto header = ibzoo::hf::parse_safetensors_header(
        ibzoo::fuzz::as_text(data + 8, static_cast<std::size_t>(n_header)), data_size, "fuzz");
    check_header(header, data_size);
  } catch (const ibzoo::Error&) {
  }
}

void fuzz_file(const std::uint8_t* data, std::size_t size) {
  const auto path = ibzoo::fuzz::write_input("input.safetensors", data, size);
  try {
    const auto file = ibzoo::hf::SafetensorsFile::open(path);
    // Touch every byte of every tensor: ASan or a SEGV catches a span past the mapping.
    unsigned sum = 0;
    for (const auto& t : file.tensors()) {
      if (static_cast<std::uint64_t>(t.numel()) * ibzoo::hf::dtype_size(t.dtype) != t.data.size()) {
        invariant_failed("TensorView size != dtype size x numel");
      }
      for (const auto b : t.data) sum += std::to_integer<unsigned>(b);
      if (file.find(t.name) != &t) invariant_failed("find() does not return the tensor by its name");
    }
    if (sum == 0xFFFFFFFFu) std::fputc(' ', stderr);  // keeps the reads
  } catch (const ibzoo::Error&) {
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  fuzz_header(data, size);
  fuzz_file(data, size);
  return 0;
}
