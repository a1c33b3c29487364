#include "stages/spill.h"

#include "errors/error.h"
#include "io/log.h"

#include <cstdlib>
#include <random>
#include <string>
#include <utility>
#include <system_error>
#include <unistd.h>

namespace ibzoo::stages {

std::optional<HiddenSpill> HiddenSpill::open(const std::string& tag, std::int64_t bytes_per_layer, std::int64_t n_layers) {
  const char* env = std::getenv("IBZOO_SPILL_DIR");
  if (env && std::string(env) == "none") return std::nullopt;
  std::error_code ec;
  const std::filesystem::path base = env && *env ? std::filesystem::path(env) : std::filesystem::temp_directory_path(ec);
  const auto space = std::filesystem::space(base, ec);
  const auto needed = bytes_per_layer * n_layers;
  if (ec || static_cast<std::int64_t>(space.available) < needed + needed / 10) {
    io::log_info(tag + ": every pass runs from the tokens: " + base.string() + " has not the " +
                 std::to_string((needed >> 20) + 1) + " MiB to keep hidden states between layer groups" +
                 (ec ? " (" + ec.message() + ")" : "") + "; IBZOO_SPILL_DIR names another directory");
    return std::nullopt;
  }
  std::random_device rd;
  const auto dir = base / ("ibzoo-spill-" + std::to_string(::getpid()) + "-" + std::to_string(rd()));
  std::filesystem::create_directories(dir, ec);
  if (ec) {
    io::log_info(tag + ": every pass runs from the tokens: cannot create " + dir.string() + " (" + ec.message() + ")");
    return std::nullopt;
  }
  io::log_info(tag + ": hidden states between layer groups go to " + dir.string() + " (up to " +
               std::to_string((bytes_per_layer >> 20) + 1) + " MiB per layer, " + std::to_string(n_layers) + " layer(s))");
  return HiddenSpill(dir);
}

HiddenSpill::HiddenSpill(HiddenSpill&& other) noexcept
    : dir_(std::move(other.dir_)), out_(std::exchange(other.out_, nullptr)), in_(std::exchange(other.in_, nullptr)),
      in_layer_(other.in_layer_) {
  other.dir_.clear();
}

HiddenSpill::~HiddenSpill() {
  finish();
  if (dir_.empty()) return;
  std::error_code ec;
  std::filesystem::remove_all(dir_, ec);
}

std::filesystem::path HiddenSpill::file(int layer) const { return dir_ / ("layer" + std::to_string(layer) + ".f32"); }

void HiddenSpill::finish() {
  if (out_) std::fclose(out_);
  if (in_) std::fclose(in_);
  out_ = in_ = nullptr;
}

void HiddenSpill::start_writing(int layer) {
  if (out_) std::fclose(out_);
  out_ = std::fopen(file(layer).c_str(), "wb");
  if (!out_) throw WriteError("cannot create " + file(layer).string() + " for hidden states; IBZOO_SPILL_DIR=none turns this off");
}

void HiddenSpill::start_reading(int layer) {
  if (in_) std::fclose(in_);
  in_layer_ = layer;
  in_ = std::fopen(file(layer).c_str(), "rb");
  if (!in_) throw MissingInputError("cannot open " + file(layer).string() + " (the hidden states of layer " + std::to_string(layer) + ")");
}

void HiddenSpill::write(std::span<const float> rows) {
  if (std::fwrite(rows.data(), sizeof(float), rows.size(), out_) != rows.size()) {
    throw WriteError("writing hidden states to " + dir_.string() + " failed (disk full?); IBZOO_SPILL_DIR names another directory");
  }
}

void HiddenSpill::read(std::span<float> rows) {
  if (std::fread(rows.data(), sizeof(float), rows.size(), in_) != rows.size()) {
    throw CorruptDataError(file(in_layer_).string() + " ended before the hidden states of every sequence were read");
  }
}

}  // namespace ibzoo::stages
