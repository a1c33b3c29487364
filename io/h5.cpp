// HDF5 files: create and open, datasets written whole or appended by rows, strings,
// attributes (h5_rows.cpp: row ranges and parallel HDF5; h5_handle.h: the shared handle).
#include "io/h5_handle.h"

#include "errors/error.h"
#include "io/mpi.h"
#include "io/float16.h"

#include <hdf5.h>

#include <algorithm>

namespace ibzoo::io {

namespace h5_detail {

std::unique_lock<std::recursive_mutex> lock_hdf5() {
  static std::recursive_mutex mutex;
  return std::unique_lock(mutex);
}

// HDF5 prints an error stack on every failed call by default; ibzoo reports its
// own errors, so the automatic printing is switched off once. Its atexit cleanup is
// switched off too (before any other HDF5 call): after a failed close (disk full) it
// closed the half-closed file again at exit and crashed, turning a clear error into
// a segfault. Every file is closed by its handle before exit.
void silence_hdf5() {
  static const bool done = [] {
    H5dont_atexit();
    H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
    return true;
  }();
  (void)done;
}

std::vector<hsize_t> to_hsize(const std::vector<std::int64_t>& v) {
  std::vector<hsize_t> out;
  for (auto x : v) out.push_back(static_cast<hsize_t>(x));
  return out;
}

std::int64_t numel(const std::vector<std::int64_t>& shape) {
  std::int64_t n = 1;
  for (auto x : shape) n *= x;
  return n;
}

// IEEE half precision, built from a float type (HDF5 1.10 has no predefined one).
Hid make_float16_type() {
  Hid t(H5Tcopy(H5T_IEEE_F32LE), H5Tclose);
  H5Tset_fields(t.get(), 15, 10, 5, 0, 10);
  H5Tset_size(t.get(), 2);
  H5Tset_ebias(t.get(), 15);
  return t;
}

// Creates every missing group on the way to `name`'s parent.
void ensure_parents(hid_t file, const std::string& name) {
  for (std::size_t pos = name.find('/', 1); pos != std::string::npos; pos = name.find('/', pos + 1)) {
    const std::string group = name.substr(0, pos);
    if (H5Lexists(file, group.c_str(), H5P_DEFAULT) > 0) continue;
    Hid gcpl(H5Pcreate(H5P_GROUP_CREATE), H5Pclose);
    H5Pset_obj_track_times(gcpl.get(), false);
    Hid g(H5Gcreate2(file, group.c_str(), H5P_DEFAULT, gcpl.get(), H5P_DEFAULT), H5Gclose);
    if (!g.valid()) throw WriteError("cannot create HDF5 group " + group);
  }
}

Hid open_dataset(hid_t file, const std::filesystem::path& path, const std::string& name) {
  if (H5Lexists(file, name.c_str(), H5P_DEFAULT) <= 0) {
    throw CorruptDataError(path.string() + ": dataset " + name + " is missing");
  }
  Hid ds(H5Dopen2(file, name.c_str(), H5P_DEFAULT), H5Dclose);
  if (!ds.valid()) throw CorruptDataError(path.string() + ": " + name + " is not a dataset");
  return ds;
}

std::vector<std::int64_t> dataset_shape(hid_t ds) {
  Hid space(H5Dget_space(ds), H5Sclose);
  const int rank = H5Sget_simple_extent_ndims(space.get());
  std::vector<hsize_t> dims(static_cast<std::size_t>(std::max(rank, 0)));
  if (rank > 0) H5Sget_simple_extent_dims(space.get(), dims.data(), nullptr);
  std::vector<std::int64_t> shape;
  for (auto d : dims) shape.push_back(static_cast<std::int64_t>(d));
  return shape;
}

bool is_float16(hid_t ds) {
  Hid type(H5Dget_type(ds), H5Tclose);
  return H5Tget_class(type.get()) == H5T_FLOAT && H5Tget_size(type.get()) == 2;
}

void set_chunking(hid_t plist, const std::vector<std::int64_t>& chunk, const std::vector<hsize_t>& dims,
                  int deflate_level) {
  auto sizes = to_hsize(chunk);
  for (std::size_t i = 0; i < sizes.size() && i < dims.size(); ++i) sizes[i] = std::max<hsize_t>(1, std::min(sizes[i], dims[i]));
  H5Pset_chunk(plist, static_cast<int>(sizes.size()), sizes.data());
  if (deflate_level > 0) {
    H5Pset_shuffle(plist);
    H5Pset_deflate(plist, static_cast<unsigned>(deflate_level));
  }
}

}  // namespace h5_detail

using namespace h5_detail;

H5File::H5File(std::filesystem::path path, std::unique_ptr<Impl> impl)
    : path_(std::move(path)), impl_(std::move(impl)) {}
H5File::H5File(H5File&&) noexcept = default;
H5File& H5File::operator=(H5File&& other) noexcept {
  const auto lock = lock_hdf5();  // the file this one had closes here
  path_ = std::move(other.path_);
  impl_ = std::move(other.impl_);
  return *this;
}
H5File::~H5File() {
  const auto lock = lock_hdf5();
  impl_.reset();
}

H5File H5File::create(const std::filesystem::path& path) {
  const auto lock = lock_hdf5();
  silence_hdf5();
  auto impl = std::make_unique<Impl>();
  impl->file = Hid(H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT), H5Fclose);
  if (!impl->file.valid()) throw WriteError(path.string() + ": cannot create HDF5 file (check the directory exists and is writable)");
  impl->writable = true;
  return H5File(path, std::move(impl));
}

H5File H5File::open_read(const std::filesystem::path& path) {
  const auto lock = lock_hdf5();
  silence_hdf5();
  if (!std::filesystem::exists(path)) throw MissingInputError(path.string() + ": no such HDF5 file");
  if (H5Fis_hdf5(path.c_str()) <= 0) {
    throw CorruptDataError(path.string() + ": not a readable HDF5 file (truncated or corrupt?); delete it to recompute");
  }
  auto impl = std::make_unique<Impl>();
  impl->file = Hid(H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), H5Fclose);
  if (!impl->file.valid()) {
    throw CorruptDataError(path.string() + ": HDF5 file cannot be opened (truncated or corrupt?); delete it to recompute");
  }
  return H5File(path, std::move(impl));
}

namespace {

template <typename T>
void write_dataset(hid_t file, const std::filesystem::path& path, const std::string& name, std::span<const T> data,
                   const std::vector<std::int64_t>& shape, const WriteOptions& options) {
  const auto where = path.string() + ": " + name;
  if (numel(shape) != static_cast<std::int64_t>(data.size())) {
    throw WriteError(where + ": data has " + std::to_string(data.size()) + " values, shape needs " +
                     std::to_string(numel(shape)));
  }
  ensure_parents(file, name);
  const auto dims = to_hsize(shape);
  Hid space(H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr), H5Sclose);
  Hid plist(H5Pcreate(H5P_DATASET_CREATE), H5Pclose);
  // No timestamps: the same content gives the same bytes, run after run.
  H5Pset_obj_track_times(plist.get(), false);
  if (!options.chunk.empty() && numel(shape) > 0) set_chunking(plist.get(), options.chunk, dims, options.deflate_level);
  Hid half;
  hid_t file_type = mem_type<T>();
  if (options.as_float16 && std::is_floating_point_v<T>) {
    half = make_float16_type();
    file_type = half.get();
  }
  Hid ds(H5Dcreate2(file, name.c_str(), file_type, space.get(), H5P_DEFAULT, plist.get(), H5P_DEFAULT), H5Dclose);
  if (!ds.valid()) throw WriteError(where + ": cannot create dataset (does it exist already?)");
  if (!data.empty() && H5Dwrite(ds.get(), mem_type<T>(), H5S_ALL, H5S_ALL, H5P_DEFAULT, data.data()) < 0) {
    throw WriteError(where + ": write failed (disk full?)");
  }
  if (!ds.close()) throw WriteError(where + ": write failed when flushing its chunks (disk full?)");
}

template <typename T>
Array<T> read_dataset(hid_t file, const std::filesystem::path& path, const std::string& name) {
  const auto ds = open_dataset(file, path, name);
  Hid type(H5Dget_type(ds.get()), H5Tclose);
  const auto cls = H5Tget_class(type.get());
  if (cls != H5T_INTEGER && cls != H5T_FLOAT) {
    throw CorruptDataError(path.string() + ": " + name + " is not numeric");
  }
  Array<T> out;
  out.shape = dataset_shape(ds.get());
  out.data.resize(static_cast<std::size_t>(numel(out.shape)));
  if (!out.data.empty() && H5Dread(ds.get(), mem_type<T>(), H5S_ALL, H5S_ALL, H5P_DEFAULT, out.data.data()) < 0) {
    throw CorruptDataError(path.string() + ": reading " + name + " failed (truncated file?)");
  }
  return out;
}

Hid open_object(hid_t file, const std::filesystem::path& path, const std::string& object) {
  Hid obj(H5Oopen(file, object.c_str(), H5P_DEFAULT), H5Oclose);
  if (!obj.valid()) throw CorruptDataError(path.string() + ": object " + object + " is missing");
  return obj;
}

void write_attr(hid_t file, const std::filesystem::path& path, const std::string& object, const std::string& key,
                hid_t type, const void* value) {
  const auto obj = open_object(file, path, object);
  if (H5Aexists(obj.get(), key.c_str()) > 0) H5Adelete(obj.get(), key.c_str());
  Hid space(H5Screate(H5S_SCALAR), H5Sclose);
  Hid attr(H5Acreate2(obj.get(), key.c_str(), type, space.get(), H5P_DEFAULT, H5P_DEFAULT), H5Aclose);
  if (!attr.valid() || H5Awrite(attr.get(), type, value) < 0) {
    throw WriteError(path.string() + ": cannot write attribute " + object + "@" + key);
  }
}

Hid open_attr(hid_t file, const std::filesystem::path& path, const std::string& object, const std::string& key) {
  if (H5Lexists(file, object.c_str(), H5P_DEFAULT) <= 0 && object != "/") return Hid();
  const auto obj = open_object(file, path, object);
  if (H5Aexists(obj.get(), key.c_str()) <= 0) return Hid();
  return Hid(H5Aopen(obj.get(), key.c_str(), H5P_DEFAULT), H5Aclose);
}

Hid string_type() {
  Hid t(H5Tcopy(H5T_C_S1), H5Tclose);
  H5Tset_size(t.get(), H5T_VARIABLE);
  H5Tset_cset(t.get(), H5T_CSET_UTF8);
  return t;
}

}  // namespace

void H5File::write(const std::string& name, std::span<const double> data, const std::vector<std::int64_t>& shape,
                   const WriteOptions& options) {
  const auto lock = lock_hdf5();
  write_dataset(impl_->file.get(), path_, name, data, shape, options);
}
void H5File::write(const std::string& name, std::span<const float> data, const std::vector<std::int64_t>& shape,
                   const WriteOptions& options) {
  const auto lock = lock_hdf5();
  write_dataset(impl_->file.get(), path_, name, data, shape, options);
}
void H5File::write(const std::string& name, std::span<const std::int64_t> data,
                   const std::vector<std::int64_t>& shape, const WriteOptions& options) {
  const auto lock = lock_hdf5();
  write_dataset(impl_->file.get(), path_, name, data, shape, options);
}
void H5File::write(const std::string& name, std::span<const std::int32_t> data,
                   const std::vector<std::int64_t>& shape, const WriteOptions& options) {
  const auto lock = lock_hdf5();
  write_dataset(impl_->file.get(), path_, name, data, shape, options);
}

void H5File::create_rows(const std::string& name, std::int64_t cols, const WriteOptions& options) {
  const auto lock = lock_hdf5();
  ensure_parents(impl_->file.get(), name);
  const hsize_t dims[2] = {0, static_cast<hsize_t>(cols)};
  const hsize_t max_dims[2] = {H5S_UNLIMITED, static_cast<hsize_t>(cols)};
  Hid space(H5Screate_simple(2, dims, max_dims), H5Sclose);
  Hid plist(H5Pcreate(H5P_DATASET_CREATE), H5Pclose);
  H5Pset_obj_track_times(plist.get(), false);
  set_chunking(plist.get(), {options.chunk.empty() ? 1024 : options.chunk[0], cols}, {max_dims[0], max_dims[1]},
               options.deflate_level);
  Hid half;
  hid_t file_type = H5T_NATIVE_FLOAT;
  if (options.as_float16) {
    half = make_float16_type();
    file_type = half.get();
  }
  Hid ds(H5Dcreate2(impl_->file.get(), name.c_str(), file_type, space.get(), H5P_DEFAULT, plist.get(), H5P_DEFAULT),
         H5Dclose);
  if (!ds.valid()) throw WriteError(path_.string() + ": cannot create dataset " + name);
}

namespace {

// Appends n_rows rows of `data` (memory type mem_type) to a growable 2-D dataset.
void append_rows_as(hid_t file, const std::filesystem::path& path, const std::string& name, const void* data,
                    std::size_t n_values, std::int64_t n_rows, hid_t mem_type) {
  auto ds = open_dataset(file, path, name);
  const auto shape = dataset_shape(ds.get());
  if (shape.size() != 2 || static_cast<std::int64_t>(n_values) != n_rows * shape[1]) {
    throw WriteError(path.string() + ": " + name + ": appended rows do not match the dataset's width");
  }
  if (n_rows == 0) return;
  const hsize_t new_dims[2] = {static_cast<hsize_t>(shape[0] + n_rows), static_cast<hsize_t>(shape[1])};
  if (H5Dset_extent(ds.get(), new_dims) < 0) throw WriteError(path.string() + ": cannot extend " + name);
  Hid file_space(H5Dget_space(ds.get()), H5Sclose);
  const hsize_t start[2] = {static_cast<hsize_t>(shape[0]), 0};
  const hsize_t count[2] = {static_cast<hsize_t>(n_rows), static_cast<hsize_t>(shape[1])};
  H5Sselect_hyperslab(file_space.get(), H5S_SELECT_SET, start, nullptr, count, nullptr);
  Hid mem_space(H5Screate_simple(2, count, nullptr), H5Sclose);
  if (H5Dwrite(ds.get(), mem_type, mem_space.get(), file_space.get(), H5P_DEFAULT, data) < 0) {
    throw WriteError(path.string() + ": writing rows of " + name + " failed (disk full?)");
  }
  // Closing the dataset writes its cached chunks: a failure there (a full disk) would
  // otherwise leave the rows unwritten, reading back as zeros, with no error at all.
  if (!ds.close()) throw WriteError(path.string() + ": writing rows of " + name + " failed when flushing its chunks (disk full?)");
}

}  // namespace

void H5File::append_rows(const std::string& name, std::span<const float> rows, std::int64_t n_rows) {
  const auto lock = lock_hdf5();
  append_rows_as(impl_->file.get(), path_, name, rows.data(), rows.size(), n_rows, H5T_NATIVE_FLOAT);
}

void H5File::append_rows(const std::string& name, std::span<const std::uint16_t> half_rows, std::int64_t n_rows) {
  const auto lock = lock_hdf5();
  if (!io::is_float16(open_dataset(impl_->file.get(), path_, name).get())) {
    throw WriteError(path_.string() + ": " + name + ": float16 rows appended to a dataset that is not float16");
  }
  const auto half = make_float16_type();
  append_rows_as(impl_->file.get(), path_, name, half_rows.data(), half_rows.size(), n_rows, half.get());
}

void H5File::write_strings(const std::string& name, const std::vector<std::string>& values) {
  const auto lock = lock_hdf5();
  ensure_parents(impl_->file.get(), name);
  std::vector<const char*> ptrs;
  for (const auto& v : values) ptrs.push_back(v.c_str());
  const hsize_t n = values.size();
  Hid space(H5Screate_simple(1, &n, nullptr), H5Sclose);
  const auto type = string_type();
  Hid plist(H5Pcreate(H5P_DATASET_CREATE), H5Pclose);
  H5Pset_obj_track_times(plist.get(), false);
  Hid ds(H5Dcreate2(impl_->file.get(), name.c_str(), type.get(), space.get(), H5P_DEFAULT, plist.get(), H5P_DEFAULT),
         H5Dclose);
  if (!ds.valid()) throw WriteError(path_.string() + ": cannot create dataset " + name);
  if (n > 0 && H5Dwrite(ds.get(), type.get(), H5S_ALL, H5S_ALL, H5P_DEFAULT, ptrs.data()) < 0) {
    throw WriteError(path_.string() + ": writing " + name + " failed (disk full?)");
  }
  if (!ds.close()) throw WriteError(path_.string() + ": writing " + name + " failed when flushing it (disk full?)");
}

void H5File::set_attr(const std::string& object, const std::string& key, const std::string& value) {
  const auto lock = lock_hdf5();
  const auto type = string_type();
  const char* ptr = value.c_str();
  write_attr(impl_->file.get(), path_, object, key, type.get(), &ptr);
}
void H5File::set_attr(const std::string& object, const std::string& key, double value) {
  const auto lock = lock_hdf5();
  write_attr(impl_->file.get(), path_, object, key, H5T_NATIVE_DOUBLE, &value);
}
void H5File::set_attr(const std::string& object, const std::string& key, std::int64_t value) {
  const auto lock = lock_hdf5();
  write_attr(impl_->file.get(), path_, object, key, H5T_NATIVE_INT64, &value);
}

bool H5File::exists(const std::string& name) const {
  const auto lock = lock_hdf5();
  // H5Lexists needs every intermediate link to exist, so walk the path.
  for (std::size_t pos = name.find('/', 1);; pos = name.find('/', pos + 1)) {
    const std::string prefix = pos == std::string::npos ? name : name.substr(0, pos);
    if (H5Lexists(impl_->file.get(), prefix.c_str(), H5P_DEFAULT) <= 0) return false;
    if (pos == std::string::npos) return true;
  }
}

std::vector<std::int64_t> H5File::shape(const std::string& name) const {
  const auto lock = lock_hdf5();
  return dataset_shape(open_dataset(impl_->file.get(), path_, name).get());
}

std::vector<std::string> H5File::list(const std::string& group) const {
  const auto lock = lock_hdf5();
  Hid g(H5Gopen2(impl_->file.get(), group.c_str(), H5P_DEFAULT), H5Gclose);
  if (!g.valid()) throw CorruptDataError(path_.string() + ": group " + group + " is missing");
  H5G_info_t info;
  H5Gget_info(g.get(), &info);
  std::vector<std::string> names;
  for (hsize_t i = 0; i < info.nlinks; ++i) {
    const auto len = H5Lget_name_by_idx(g.get(), ".", H5_INDEX_NAME, H5_ITER_INC, i, nullptr, 0, H5P_DEFAULT);
    std::string name(static_cast<std::size_t>(len), '\0');
    H5Lget_name_by_idx(g.get(), ".", H5_INDEX_NAME, H5_ITER_INC, i, name.data(), name.size() + 1, H5P_DEFAULT);
    names.push_back(name);
  }
  std::sort(names.begin(), names.end());
  return names;
}

Array<double> H5File::read_f64(const std::string& name) const {
  const auto lock = lock_hdf5();
  return read_dataset<double>(impl_->file.get(), path_, name);
}
Array<float> H5File::read_f32(const std::string& name) const {
  const auto lock = lock_hdf5();
  return read_dataset<float>(impl_->file.get(), path_, name);
}
Array<std::int64_t> H5File::read_i64(const std::string& name) const {
  const auto lock = lock_hdf5();
  return read_dataset<std::int64_t>(impl_->file.get(), path_, name);
}

std::vector<std::string> H5File::read_strings(const std::string& name) const {
  const auto lock = lock_hdf5();
  const auto ds = open_dataset(impl_->file.get(), path_, name);
  Hid ftype(H5Dget_type(ds.get()), H5Tclose);
  if (H5Tget_class(ftype.get()) != H5T_STRING || !H5Tis_variable_str(ftype.get())) {
    throw CorruptDataError(path_.string() + ": " + name + " is not a variable-length string dataset");
  }
  const auto shape = dataset_shape(ds.get());
  std::vector<char*> ptrs(static_cast<std::size_t>(numel(shape)), nullptr);
  const auto type = string_type();
  if (!ptrs.empty() && H5Dread(ds.get(), type.get(), H5S_ALL, H5S_ALL, H5P_DEFAULT, ptrs.data()) < 0) {
    throw CorruptDataError(path_.string() + ": reading " + name + " failed");
  }
  std::vector<std::string> out;
  for (auto* p : ptrs) {
    out.emplace_back(p ? p : "");
    H5free_memory(p);
  }
  return out;
}

std::optional<std::string> H5File::attr_string(const std::string& object, const std::string& key) const {
  const auto lock = lock_hdf5();
  const auto attr = open_attr(impl_->file.get(), path_, object, key);
  if (!attr.valid()) return std::nullopt;
  const auto type = string_type();
  char* ptr = nullptr;
  if (H5Aread(attr.get(), type.get(), &ptr) < 0) return std::nullopt;
  std::string out(ptr ? ptr : "");
  H5free_memory(ptr);
  return out;
}

std::optional<double> H5File::attr_double(const std::string& object, const std::string& key) const {
  const auto lock = lock_hdf5();
  const auto attr = open_attr(impl_->file.get(), path_, object, key);
  double v = 0;
  if (!attr.valid() || H5Aread(attr.get(), H5T_NATIVE_DOUBLE, &v) < 0) return std::nullopt;
  return v;
}

std::optional<std::int64_t> H5File::attr_int(const std::string& object, const std::string& key) const {
  const auto lock = lock_hdf5();
  const auto attr = open_attr(impl_->file.get(), path_, object, key);
  std::int64_t v = 0;
  if (!attr.valid() || H5Aread(attr.get(), H5T_NATIVE_INT64, &v) < 0) return std::nullopt;
  return v;
}

void H5File::close() {
  const auto lock = lock_hdf5();
  if (!impl_) return;
  const bool writable = impl_->writable;
  if (writable) H5Fflush(impl_->file.get(), H5F_SCOPE_GLOBAL);
  if (!impl_->file.close() && writable) throw WriteError(path_.string() + ": closing the HDF5 file failed (disk full?)");
}

}  // namespace ibzoo::io
