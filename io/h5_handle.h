// Inside io/ only: the owned HDF5 id and the helpers that h5.cpp (files, datasets,
// attributes) and h5_rows.cpp (row ranges, parallel HDF5) share. Nothing outside
// io/h5*.cpp includes this.
#pragma once

#include "io/h5.h"

#include <hdf5.h>

#include <cstdint>
#include <filesystem>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace ibzoo::io {

namespace h5_detail {

// One owned HDF5 id; the destructor closes it and never throws.
class Hid {
 public:
  using Closer = herr_t (*)(hid_t);
  Hid() = default;
  Hid(hid_t id, Closer closer) : id_(id), closer_(closer) {}
  Hid(Hid&& o) noexcept : id_(o.id_), closer_(o.closer_) { o.id_ = H5I_INVALID_HID; }
  Hid& operator=(Hid&& o) noexcept {
    std::swap(id_, o.id_);
    std::swap(closer_, o.closer_);
    return *this;
  }
  Hid(const Hid&) = delete;
  Hid& operator=(const Hid&) = delete;
  ~Hid() {
    if (id_ >= 0 && closer_) closer_(id_);
  }
  hid_t get() const { return id_; }
  bool valid() const { return id_ >= 0; }
  // Closes now and reports whether HDF5 succeeded (for files: the final flush).
  bool close() {
    if (id_ < 0) return true;
    const herr_t rc = closer_(id_);
    id_ = H5I_INVALID_HID;
    return rc >= 0;
  }

 private:
  hid_t id_ = H5I_INVALID_HID;
  Closer closer_ = nullptr;
};

// The HDF5 library here is built without thread safety (Debian's parallel build), so
// every call into it holds this process-wide lock: each H5File member takes it first,
// and so threads may use H5File objects at the same time (stages/labels.h writes the
// label files on a thread of their own). Recursive: members call each other.
[[nodiscard]] std::unique_lock<std::recursive_mutex> lock_hdf5();

// HDF5 prints an error stack on every failed call by default; ibzoo reports its
// own errors, so the automatic printing is switched off once. Its atexit cleanup is
// switched off too (before any other HDF5 call): after a failed close (disk full) it
// closed the half-closed file again at exit and crashed, turning a clear error into
// a segfault. Every file is closed by its handle before exit.
void silence_hdf5();

// The element count of a shape, and the shape as HDF5 dimensions.
std::int64_t numel(const std::vector<std::int64_t>& shape);
std::vector<hsize_t> to_hsize(const std::vector<std::int64_t>& v);

template <typename T>
hid_t mem_type();
template <>
inline hid_t mem_type<double>() { return H5T_NATIVE_DOUBLE; }
template <>
inline hid_t mem_type<float>() { return H5T_NATIVE_FLOAT; }
template <>
inline hid_t mem_type<std::int64_t>() { return H5T_NATIVE_INT64; }
template <>
inline hid_t mem_type<std::int32_t>() { return H5T_NATIVE_INT32; }

// IEEE half precision, built from a float type (HDF5 1.10 has no predefined one).
Hid make_float16_type();

// Creates every missing group on the way to `name`'s parent.
void ensure_parents(hid_t file, const std::string& name);

Hid open_dataset(hid_t file, const std::filesystem::path& path, const std::string& name);
std::vector<std::int64_t> dataset_shape(hid_t ds);

// Whether a dataset stores IEEE half floats.
bool is_float16(hid_t ds);

// Chunks of `chunk` (each clamped to 1..its dimension of `dims`) on a dataset creation
// list, and with deflate_level > 0 the byte shuffle then deflate: every chunked ibzoo
// dataset is filtered the same way.
void set_chunking(hid_t plist, const std::vector<std::int64_t>& chunk, const std::vector<hsize_t>& dims,
                  int deflate_level);

}  // namespace h5_detail

struct H5File::Impl {
  h5_detail::Hid file;
  bool writable = false;
  bool collective = false;  // opened by create_collective: MPI-IO, every call collective
};

}  // namespace ibzoo::io
