// safetensors files: a validating, memory-mapped reader (single files and sharded
// model directories) and a writer. No torch here: tensors are exposed as byte
// spans with a dtype and a shape; models/ turns them into torch tensors.
//
// Format: 8-byte little-endian header length N, N bytes of UTF-8 JSON
//   {"name": {"dtype": "F32", "shape": [2, 3], "data_offsets": [begin, end]}, ...,
//    "__metadata__": {"key": "value"}}
// then the data; offsets are relative to the first byte after the header.
//
// Every file is untrusted input. open() checks, and names the file and the tensor in
// every CorruptDataError: header length within the limit and the file, valid JSON,
// no duplicate keys at any depth, each entry exactly {dtype, shape, data_offsets},
// a known dtype, non-negative shape, dtype size x numel == span, offsets inside the
// data, no two tensors overlapping, __metadata__ a string -> string object.
#pragma once

#include "io/float16.h"

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace ibzoo::hf {

enum class DType { F64, F32, F16, BF16, I64, I32, I16, I8, U8, BOOL };

std::size_t dtype_size(DType dtype);
// "F32", "BF16", ...: the safetensors spelling.
std::string_view dtype_name(DType dtype);
std::optional<DType> parse_dtype(std::string_view name);

// One tensor inside a mapped file. `data` stays valid while the file object (or
// any copy of it) lives. The bytes are little-endian and may be unaligned.
struct TensorView {
  std::string name;
  DType dtype = DType::F32;
  std::vector<std::int64_t> shape;
  std::span<const std::byte> data;
  std::int64_t numel() const;
};

struct SafetensorsLimits {
  std::uint64_t max_header_bytes = 100ull << 20;  // 100 MB, as the reference library
};

// A parsed header: what open() validated, before any mapping. Exposed for the
// fuzzer and the tests. `data_size_bytes` is the file size minus 8 minus N.
struct SafetensorsEntry {
  std::string name;
  DType dtype = DType::F32;
  std::vector<std::int64_t> shape;
  std::uint64_t begin = 0;  // relative to the data start
  std::uint64_t end = 0;
};
struct SafetensorsHeader {
  std::vector<SafetensorsEntry> entries;  // sorted by name
  std::map<std::string, std::string> metadata;
};
// Throws CorruptDataError starting with "<label>: ".
SafetensorsHeader parse_safetensors_header(std::string_view json, std::uint64_t data_size_bytes,
                                           const std::string& label);

// One .safetensors file, memory-mapped read-only. Copies share the mapping.
class SafetensorsFile {
 public:
  // Throws MissingInputError (no such file) or CorruptDataError.
  static SafetensorsFile open(const std::filesystem::path& path, const SafetensorsLimits& limits = {});

  const std::filesystem::path& path() const { return path_; }
  const std::vector<TensorView>& tensors() const { return tensors_; }  // sorted by name
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  // nullptr when absent.
  const TensorView* find(std::string_view name) const;

 private:
  struct Mapping;
  std::filesystem::path path_;
  std::shared_ptr<const Mapping> mapping_;
  std::vector<TensorView> tensors_;
  std::map<std::string, std::string> metadata_;
};

// All weights of a model directory: model.safetensors, or the shards listed in
// model.safetensors.index.json (each shard opened once; every tensor the index
// names must exist in its shard). A directory holding only pytorch_model.bin gets
// a ModelError explaining that pickle is never executed and how to convert.
class WeightStore {
 public:
  static WeightStore open_dir(const std::filesystem::path& dir, const SafetensorsLimits& limits = {});

  const std::filesystem::path& dir() const { return dir_; }
  const TensorView* find(std::string_view name) const;
  // Throws ModelError naming the file, the tensor, the nearest stored names and what to check.
  const TensorView& at(std::string_view name) const;
  // The file that holds tensor `name` (for messages); for a missing tensor, the file (or,
  // sharded, the index) where it should have been.
  std::filesystem::path file_of(std::string_view name) const;
  std::vector<std::string> names() const;  // sorted
  std::size_t size() const { return index_.size(); }
  std::uint64_t total_bytes() const;

 private:
  std::filesystem::path dir_;
  std::vector<SafetensorsFile> files_;
  std::map<std::string, const TensorView*, std::less<>> index_;
};

// A tensor to write: the bytes must already be little-endian `dtype`.
struct TensorToWrite {
  std::string name;
  DType dtype = DType::F32;
  std::vector<std::int64_t> shape;
  std::span<const std::byte> data;
};

// Writes a safetensors file (tensors in the given order, header padded to a
// multiple of 8 bytes) to a temporary name next to `path`, then renames it.
// Throws WriteError; IBZOO_CHECKs that each span matches its dtype and shape.
void write_safetensors(const std::filesystem::path& path, const std::vector<TensorToWrite>& tensors,
                       const std::map<std::string, std::string>& metadata = {});

}  // namespace ibzoo::hf
