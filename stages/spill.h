// Hidden states kept on local disk between the layer groups of an item (host passes on
// the CPU): the first pass of a group writes its last layer's hidden states, and the
// passes of the next group resume the forward there (models::Model::forward_layers_from)
// instead of running the blocks before it again. float32, the rows of every sequence the
// rank runs, in the order it runs them; read back in the same order by every later pass.
//
// Where: $IBZOO_SPILL_DIR, else the system's temporary directory ($TMPDIR, node-local on
// most clusters); IBZOO_SPILL_DIR=none turns it off (every pass runs from the tokens).
// The directory is removed when the item's part ends (a killed run leaves it behind:
// ibzoo-spill-* in that directory).
#pragma once

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <map>
#include <optional>
#include <span>
#include <string>

namespace ibzoo::stages {

class HiddenSpill {
 public:
  // A spill for `bytes_per_layer` bytes per spilled layer and `n_layers` layers, or
  // nullopt (with an info line saying why) when it is turned off or the disk lacks room.
  static std::optional<HiddenSpill> open(const std::string& tag, std::int64_t bytes_per_layer, std::int64_t n_layers);
  HiddenSpill(HiddenSpill&& other) noexcept;
  HiddenSpill& operator=(HiddenSpill&&) = delete;
  ~HiddenSpill();

  // Layer `layer`'s file, for writing (truncated) or reading from its start; the
  // previous writer or reader is closed first.
  void start_writing(int layer);
  void start_reading(int layer);
  void write(std::span<const float> rows);
  // Throws CorruptDataError when the file ends before `rows` is full.
  void read(std::span<float> rows);
  // Closes the writer and the reader.
  void finish();
  const std::filesystem::path& dir() const { return dir_; }

 private:
  explicit HiddenSpill(std::filesystem::path dir) : dir_(std::move(dir)) {}
  std::filesystem::path file(int layer) const;
  std::filesystem::path dir_;
  std::FILE* out_ = nullptr;
  std::FILE* in_ = nullptr;
  int in_layer_ = -1;
};

}  // namespace ibzoo::stages
