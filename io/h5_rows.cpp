// Row ranges of 2-D datasets: reading rows (float32, float16 bits), and the fixed-size
// datasets written by row ranges, collectively on a file of parallel HDF5.
#include "io/h5_handle.h"

#include "errors/error.h"
#include "io/float16.h"
#include "io/mpi.h"

#include <algorithm>

namespace ibzoo::io {

using namespace h5_detail;

namespace {

// The file and memory selections of rows [row_begin, row_begin + n_rows) of a dataset;
// `shape` becomes the shape of what is read.
struct RowSelection {
  Hid file_space;
  Hid mem_space;
  std::vector<std::int64_t> shape;
};

RowSelection select_rows(hid_t ds, const std::filesystem::path& path, const std::string& name, std::int64_t row_begin,
                         std::int64_t n_rows) {
  auto shape = dataset_shape(ds);
  if (shape.empty() || row_begin < 0 || n_rows < 0 || row_begin + n_rows > shape[0]) {
    throw CorruptDataError(path.string() + ": " + name + ": rows [" + std::to_string(row_begin) + ", " +
                           std::to_string(row_begin + n_rows) + ") out of range");
  }
  std::vector<hsize_t> start(shape.size(), 0), count = to_hsize(shape);
  start[0] = static_cast<hsize_t>(row_begin);
  count[0] = static_cast<hsize_t>(n_rows);
  Hid file_space(H5Dget_space(ds), H5Sclose);
  H5Sselect_hyperslab(file_space.get(), H5S_SELECT_SET, start.data(), nullptr, count.data(), nullptr);
  Hid mem_space(H5Screate_simple(static_cast<int>(count.size()), count.data(), nullptr), H5Sclose);
  shape[0] = n_rows;
  return {std::move(file_space), std::move(mem_space), std::move(shape)};
}

}  // namespace

Array<float> H5File::read_rows_f32(const std::string& name, std::int64_t row_begin, std::int64_t n_rows) const {
  const auto lock = lock_hdf5();
  const auto ds = open_dataset(impl_->file.get(), path_, name);
  const auto sel = select_rows(ds.get(), path_, name, row_begin, n_rows);
  Array<float> out;
  out.shape = sel.shape;
  out.data.resize(static_cast<std::size_t>(numel(out.shape)));
  if (out.data.empty()) return out;
  if (io::is_float16(ds.get())) {
    std::vector<std::uint16_t> bits(out.data.size());
    const auto half = make_float16_type();
    if (H5Dread(ds.get(), half.get(), sel.mem_space.get(), sel.file_space.get(), H5P_DEFAULT, bits.data()) < 0) {
      throw CorruptDataError(path_.string() + ": reading rows of " + name + " failed");
    }
    f16_to_float(bits, out.data);
    return out;
  }
  if (H5Dread(ds.get(), H5T_NATIVE_FLOAT, sel.mem_space.get(), sel.file_space.get(), H5P_DEFAULT, out.data.data()) < 0) {
    throw CorruptDataError(path_.string() + ": reading rows of " + name + " failed");
  }
  return out;
}

Array<std::int32_t> H5File::read_rows_i32(const std::string& name, std::int64_t row_begin, std::int64_t n_rows) const {
  const auto lock = lock_hdf5();
  const auto ds = open_dataset(impl_->file.get(), path_, name);
  const auto sel = select_rows(ds.get(), path_, name, row_begin, n_rows);
  Array<std::int32_t> out;
  out.shape = sel.shape;
  out.data.resize(static_cast<std::size_t>(numel(out.shape)));
  if (!out.data.empty() &&
      H5Dread(ds.get(), H5T_NATIVE_INT32, sel.mem_space.get(), sel.file_space.get(), H5P_DEFAULT, out.data.data()) < 0) {
    throw CorruptDataError(path_.string() + ": reading rows of " + name + " as 32-bit integers failed");
  }
  return out;
}

bool H5File::is_float16(const std::string& name) const {
  const auto lock = lock_hdf5();
  return io::is_float16(open_dataset(impl_->file.get(), path_, name).get());
}

std::vector<std::uint16_t> H5File::read_rows_f16_bits(const std::string& name, std::int64_t row_begin,
                                                      std::int64_t n_rows) const {
  const auto lock = lock_hdf5();
  const auto ds = open_dataset(impl_->file.get(), path_, name);
  if (!io::is_float16(ds.get())) throw CorruptDataError(path_.string() + ": " + name + " is not float16");
  const auto sel = select_rows(ds.get(), path_, name, row_begin, n_rows);
  std::vector<std::uint16_t> bits(static_cast<std::size_t>(numel(sel.shape)));
  const auto half = make_float16_type();
  if (!bits.empty() && H5Dread(ds.get(), half.get(), sel.mem_space.get(), sel.file_space.get(), H5P_DEFAULT, bits.data()) < 0) {
    throw CorruptDataError(path_.string() + ": reading rows of " + name + " failed");
  }
  return bits;
}

// --- Parallel HDF5 ---------------------------------------------------------------

bool parallel_hdf5() {
#ifdef H5_HAVE_PARALLEL
  return true;
#else
  return false;
#endif
}

H5File H5File::create_collective(const std::filesystem::path& path, const Communicator& comm) {
#ifdef H5_HAVE_PARALLEL
  const auto lock = lock_hdf5();
  silence_hdf5();
  Hid fapl(H5Pcreate(H5P_FILE_ACCESS), H5Pclose);
  H5Pset_fapl_mpio(fapl.get(), *static_cast<const MPI_Comm*>(comm.native_handle()), MPI_INFO_NULL);
  H5Pset_all_coll_metadata_ops(fapl.get(), true);
  H5Pset_coll_metadata_write(fapl.get(), true);
  auto impl = std::make_unique<Impl>();
  impl->file = Hid(H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, fapl.get()), H5Fclose);
  if (!impl->file.valid()) throw WriteError(path.string() + ": cannot create HDF5 file collectively (check the directory exists and is writable)");
  impl->writable = true;
  impl->collective = true;
  return H5File(path, std::move(impl));
#else
  (void)comm;
  throw UsageError(path.string() + ": one shared file per checkpoint needs ibzoo built with parallel HDF5 "
                   "(Debian: libhdf5-openmpi-dev; scripts/setup.sh installs it)");
#endif
}

void H5File::create_fixed_rows(const std::string& name, std::int64_t rows, std::int64_t cols, Type type,
                               const WriteOptions& options) {
  const auto lock = lock_hdf5();
  ensure_parents(impl_->file.get(), name);
  const hsize_t dims[2] = {static_cast<hsize_t>(rows), static_cast<hsize_t>(cols)};
  Hid space(H5Screate_simple(2, dims, nullptr), H5Sclose);
  Hid plist(H5Pcreate(H5P_DATASET_CREATE), H5Pclose);
  H5Pset_obj_track_times(plist.get(), false);
  H5Pset_fill_time(plist.get(), H5D_FILL_TIME_NEVER);
  if (!options.chunk.empty()) {
    if (impl_->collective || options.chunk.size() != 2) {
      throw UsageError(path_.string() + ": " + name + ": a chunked fixed-rows dataset needs two chunk sizes and a serial file");
    }
    set_chunking(plist.get(), options.chunk, {dims[0], dims[1]}, options.deflate_level);
  }
  Hid half;
  hid_t file_type = type == Type::kInt64 ? H5T_NATIVE_INT64 : type == Type::kInt32 ? H5T_NATIVE_INT32 : H5T_NATIVE_FLOAT;
  if (type == Type::kFloat16) {
    half = make_float16_type();
    file_type = half.get();
  }
  Hid ds(H5Dcreate2(impl_->file.get(), name.c_str(), file_type, space.get(), H5P_DEFAULT, plist.get(), H5P_DEFAULT),
         H5Dclose);
  if (!ds.valid()) throw WriteError(path_.string() + ": cannot create dataset " + name);
  if (!ds.close()) throw WriteError(path_.string() + ": cannot create dataset " + name + " (disk full?)");
}

namespace {

// Rows [row_begin, row_begin + n_rows) of `name` from `data` (memory type mem_type); on
// a collective file as one collective transfer, where n_rows = 0 takes part with nothing.
void write_rows_as(hid_t file, bool collective, const std::filesystem::path& path, const std::string& name,
                   const void* data, std::size_t n_values, std::int64_t row_begin, std::int64_t n_rows, hid_t mem_type) {
  auto ds = open_dataset(file, path, name);
  const auto shape = dataset_shape(ds.get());
  if (shape.size() != 2 || static_cast<std::int64_t>(n_values) != n_rows * shape[1] || row_begin < 0 ||
      row_begin + n_rows > shape[0]) {
    throw WriteError(path.string() + ": " + name + ": rows [" + std::to_string(row_begin) + ", " +
                     std::to_string(row_begin + n_rows) + ") of " + std::to_string(n_values) +
                     " values do not fit the dataset");
  }
  Hid file_space(H5Dget_space(ds.get()), H5Sclose);
  const hsize_t start[2] = {static_cast<hsize_t>(row_begin), 0};
  const hsize_t count[2] = {static_cast<hsize_t>(std::max<std::int64_t>(n_rows, 1)), static_cast<hsize_t>(shape[1])};
  Hid mem_space(H5Screate_simple(2, count, nullptr), H5Sclose);
  if (n_rows > 0) {
    H5Sselect_hyperslab(file_space.get(), H5S_SELECT_SET, start, nullptr, count, nullptr);
  } else {
    H5Sselect_none(file_space.get());
    H5Sselect_none(mem_space.get());
  }
  Hid dxpl(H5Pcreate(H5P_DATASET_XFER), H5Pclose);
#ifdef H5_HAVE_PARALLEL
  if (collective) H5Pset_dxpl_mpio(dxpl.get(), H5FD_MPIO_COLLECTIVE);
#else
  (void)collective;
#endif
  if (H5Dwrite(ds.get(), mem_type, mem_space.get(), file_space.get(), dxpl.get(), data) < 0) {
    throw WriteError(path.string() + ": writing rows of " + name + " failed (disk full?)");
  }
  if (!ds.close()) throw WriteError(path.string() + ": writing rows of " + name + " failed when flushing (disk full?)");
}

}  // namespace

void H5File::write_rows(const std::string& name, std::span<const float> rows, std::int64_t row_begin, std::int64_t n_rows) {
  const auto lock = lock_hdf5();
  write_rows_as(impl_->file.get(), impl_->collective, path_, name, rows.data(), rows.size(), row_begin, n_rows,
                H5T_NATIVE_FLOAT);
}

void H5File::write_rows(const std::string& name, std::span<const std::uint16_t> half_rows, std::int64_t row_begin,
                        std::int64_t n_rows) {
  const auto lock = lock_hdf5();
  const auto half = make_float16_type();
  write_rows_as(impl_->file.get(), impl_->collective, path_, name, half_rows.data(), half_rows.size(), row_begin, n_rows,
                half.get());
}

void H5File::write_rows(const std::string& name, std::span<const std::int64_t> rows, std::int64_t row_begin,
                        std::int64_t n_rows) {
  const auto lock = lock_hdf5();
  write_rows_as(impl_->file.get(), impl_->collective, path_, name, rows.data(), rows.size(), row_begin, n_rows,
                H5T_NATIVE_INT64);
}

void H5File::write_rows(const std::string& name, std::span<const std::int32_t> rows, std::int64_t row_begin,
                        std::int64_t n_rows) {
  const auto lock = lock_hdf5();
  write_rows_as(impl_->file.get(), impl_->collective, path_, name, rows.data(), rows.size(), row_begin, n_rows,
                H5T_NATIVE_INT32);
}

}  // namespace ibzoo::io
