// Helpers shared by the libFuzzer targets (tests/fuzz/*_fuzz.cpp): a per-process
// scratch directory for the parsers that read from a path, and the one "this must
// never happen" exit, which libFuzzer reports as a crash with the input saved.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>

namespace ibzoo::fuzz {

// A directory of its own under $TMPDIR (or /tmp), made once per process and
// removed at exit. Each input overwrites the same few files in it.
inline const std::filesystem::path& scratch_dir() {
  static const std::filesystem::path dir = [] {
    const char* tmp = std::getenv("TMPDIR");
    std::string pattern = std::string(tmp && *tmp ? tmp : "/tmp") + "/ibzoo_fuzz_XXXXXX";
    if (::mkdtemp(pattern.data()) == nullptr) {
      std::perror("ibzoo fuzz: mkdtemp");
      std::abort();
    }
    return std::filesystem::path(pattern);
  }();
  static const struct Cleanup {
    ~Cleanup() {
      std::error_code ec;
      std::filesystem::remove_all(scratch_dir(), ec);
    }
  } cleanup;
  return dir;
}

// Writes the fuzzer's bytes to scratch_dir()/name and returns that path.
inline std::filesystem::path write_input(const std::string& name, const std::uint8_t* data, std::size_t size) {
  const auto path = scratch_dir() / name;
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  out.close();
  if (!out) {
    std::perror("ibzoo fuzz: writing the input file");
    std::abort();
  }
  return path;
}

// A broken invariant: print what and crash, so libFuzzer keeps the input.
[[noreturn]] inline void invariant_failed(const char* what) {
  std::fprintf(stderr, "ibzoo fuzz: invariant broken: %s\n", what);
  std::abort();
}

inline std::string_view as_text(const std::uint8_t* data, std::size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

}  // namespace ibzoo::fuzz
