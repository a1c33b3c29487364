// HDF5 files through move-only RAII handles. The only place that sees raw hid_t
// ids; every HDF5 call is checked here and failures become CorruptDataError
// (reading) or WriteError (writing) naming the file and the object.
//
// Works with serial and parallel HDF5 alike: every ibzoo output is one file
// written by one process.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace ibzoo::io {

class Communicator;

// Whether this build links parallel HDF5 (libhdf5-openmpi), which create_collective needs.
bool parallel_hdf5();

// A dense row-major array read from a dataset.
template <typename T>
struct Array {
  std::vector<T> data;
  std::vector<std::int64_t> shape;
  std::int64_t rows() const { return shape.empty() ? 1 : shape[0]; }
  std::int64_t cols() const { return shape.size() < 2 ? 1 : shape[1]; }
};

struct WriteOptions {
  std::vector<std::int64_t> chunk;  // empty: contiguous
  int deflate_level = 0;            // 0: no compression (needs chunk)
  bool as_float16 = false;          // store float data as IEEE half
};

// Thread-safe in that HDF5 calls of different H5File objects never overlap (one lock
// per process, io/h5_handle.h); one object is not to be used by two threads at once.
class H5File {
 public:
  // Creates (truncates) a file for writing.
  static H5File create(const std::filesystem::path& path);
  // Opens an existing file read-only. Throws MissingInputError / CorruptDataError.
  static H5File open_read(const std::filesystem::path& path);
  // Collective: every rank of `comm` creates (truncates) the same file together, through
  // MPI-IO. On such a file, create_fixed_rows, write_rows_collective and close are
  // collective too; nothing else may be called on it. Throws UsageError without
  // parallel HDF5, WriteError if the file cannot be created.
  static H5File create_collective(const std::filesystem::path& path, const Communicator& comm);

  H5File(H5File&&) noexcept;
  H5File& operator=(H5File&&) noexcept;
  ~H5File();

  const std::filesystem::path& path() const { return path_; }

  // Creates intermediate groups as needed ("/a/b/c"). Writing is for files
  // from create(); the dataset must not exist yet.
  void write(const std::string& name, std::span<const double> data, const std::vector<std::int64_t>& shape,
             const WriteOptions& options = {});
  void write(const std::string& name, std::span<const float> data, const std::vector<std::int64_t>& shape,
             const WriteOptions& options = {});
  void write(const std::string& name, std::span<const std::int64_t> data, const std::vector<std::int64_t>& shape,
             const WriteOptions& options = {});
  void write(const std::string& name, std::span<const std::int32_t> data, const std::vector<std::int64_t>& shape,
             const WriteOptions& options = {});
  // An extendible 2-D dataset [0, cols] that grows by append_rows (chunked by
  // chunk_rows, optionally float16 and deflate-compressed).
  void create_rows(const std::string& name, std::int64_t cols, const WriteOptions& options);
  void append_rows(const std::string& name, std::span<const float> rows, std::int64_t n_rows);
  // The same for a float16 dataset, from IEEE half bit patterns (written as they are,
  // without a conversion).
  void append_rows(const std::string& name, std::span<const std::uint16_t> half_rows, std::int64_t n_rows);
  // A 2-D dataset of fixed shape [rows, cols]: float32, IEEE half (float16), int64 or
  // int32; contiguous and unfiltered (as collective writes need), or on a file of
  // create() chunked and compressed as `options` say. Never filled before it is
  // written. Collective on a collective file.
  enum class Type { kFloat32, kFloat16, kInt64, kInt32 };
  void create_fixed_rows(const std::string& name, std::int64_t rows, std::int64_t cols, Type type,
                         const WriteOptions& options = {});
  // Writes rows [row_begin, row_begin + n_rows) of a create_fixed_rows dataset (of the
  // matching type: half bit patterns for float16). On a collective file every rank calls
  // it, each with its own rows or none (n_rows = 0), as one collective MPI-IO transfer.
  void write_rows(const std::string& name, std::span<const float> rows, std::int64_t row_begin, std::int64_t n_rows);
  void write_rows(const std::string& name, std::span<const std::uint16_t> half_rows, std::int64_t row_begin,
                  std::int64_t n_rows);
  void write_rows(const std::string& name, std::span<const std::int64_t> rows, std::int64_t row_begin, std::int64_t n_rows);
  void write_rows(const std::string& name, std::span<const std::int32_t> rows, std::int64_t row_begin, std::int64_t n_rows);
  // A variable-length UTF-8 string dataset of shape [n].
  void write_strings(const std::string& name, const std::vector<std::string>& values);

  // Attributes on a group or dataset ("/" for the root). Overwrites.
  void set_attr(const std::string& object, const std::string& key, const std::string& value);
  void set_attr(const std::string& object, const std::string& key, double value);
  void set_attr(const std::string& object, const std::string& key, std::int64_t value);

  bool exists(const std::string& name) const;
  std::vector<std::int64_t> shape(const std::string& name) const;
  // Children of a group, sorted by name.
  std::vector<std::string> list(const std::string& group) const;

  // Reads a whole numeric dataset, converting from the stored type (HDF5 converts
  // between integer and float widths; float16 storage reads back as float).
  // Throws CorruptDataError naming the file and dataset if it is missing or not numeric.
  Array<double> read_f64(const std::string& name) const;
  Array<float> read_f32(const std::string& name) const;
  Array<std::int64_t> read_i64(const std::string& name) const;
  std::vector<std::string> read_strings(const std::string& name) const;
  // Rows [row_begin, row_begin + n_rows) of a 2-D (or 1-D) dataset. A float16 dataset
  // is read as stored and widened here (exactly), not by HDF5's slow soft conversion.
  Array<float> read_rows_f32(const std::string& name, std::int64_t row_begin, std::int64_t n_rows) const;
  Array<std::int32_t> read_rows_i32(const std::string& name, std::int64_t row_begin, std::int64_t n_rows) const;
  // Whether a dataset is stored as IEEE half, and its rows as half bit patterns (no
  // conversion; CorruptDataError if it is not float16).
  bool is_float16(const std::string& name) const;
  std::vector<std::uint16_t> read_rows_f16_bits(const std::string& name, std::int64_t row_begin, std::int64_t n_rows) const;

  std::optional<std::string> attr_string(const std::string& object, const std::string& key) const;
  std::optional<double> attr_double(const std::string& object, const std::string& key) const;
  std::optional<std::int64_t> attr_int(const std::string& object, const std::string& key) const;

  // Flushes and closes; throws WriteError if the close fails (e.g. disk full).
  void close();

 private:
  struct Impl;
  H5File(std::filesystem::path path, std::unique_ptr<Impl> impl);
  std::filesystem::path path_;
  std::unique_ptr<Impl> impl_;
};

}  // namespace ibzoo::io
