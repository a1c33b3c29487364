#include "io/fs.h"

#include "errors/error.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <memory>
#include <sstream>
#include <vector>

namespace ibzoo::io {

namespace {

struct EvpDeleter {
  void operator()(EVP_MD_CTX* ctx) const { EVP_MD_CTX_free(ctx); }
};

class Sha256 {
 public:
  Sha256() : ctx_(EVP_MD_CTX_new()) { EVP_DigestInit_ex(ctx_.get(), EVP_sha256(), nullptr); }
  void update(const void* data, std::size_t n) { EVP_DigestUpdate(ctx_.get(), data, n); }
  std::string hex() {
    std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
    unsigned int n = 0;
    EVP_DigestFinal_ex(ctx_.get(), digest.data(), &n);
    static const char* kHex = "0123456789abcdef";
    std::string out;
    for (unsigned int i = 0; i < n; ++i) {
      out += kHex[digest[i] >> 4];
      out += kHex[digest[i] & 15];
    }
    return out;
  }

 private:
  std::unique_ptr<EVP_MD_CTX, EvpDeleter> ctx_;
};

}  // namespace

std::filesystem::path temp_path_for(const std::filesystem::path& path) {
  static std::atomic<unsigned> counter{0};
  return path.parent_path() /
         ("." + path.filename().string() + ".tmp." + std::to_string(::getpid()) + "." + std::to_string(counter++));
}

namespace {

// Makes a rename in `dir` durable. Best effort: some file systems refuse fsync on a
// directory (EINVAL), which says nothing about the file itself.
void fsync_dir(const std::filesystem::path& dir) {
  const int fd = ::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return;
  ::fsync(fd);
  ::close(fd);
}

std::string write_failure(const std::filesystem::path& path, const std::string& what, int err) {
  std::string s = path.string() + ": " + what + ": " + std::strerror(err);
  if (err == ENOSPC || err == EDQUOT) s += " (disk full or over quota; free space and run the command again)";
  return s + "; the earlier version of the file, if any, is unchanged";
}

void rename_into_place(const std::filesystem::path& temp, const std::filesystem::path& path) {
  std::error_code ec;
  std::filesystem::rename(temp, path, ec);
  if (ec) {
    std::filesystem::remove(temp, ec);
    throw WriteError(path.string() + ": cannot move the finished file into place: " + ec.message());
  }
  fsync_dir(path.parent_path());
}

}  // namespace

void commit_file(const std::filesystem::path& temp, const std::filesystem::path& path) {
  // Writers that close the file themselves (HDF5) leave the flush to disk to us.
  const int fd = ::open(temp.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0 || ::fsync(fd) != 0) {
    const int err = errno;
    if (fd >= 0) ::close(fd);
    std::error_code ec;
    std::filesystem::remove(temp, ec);
    throw WriteError(write_failure(path, fd < 0 ? "cannot reopen the written file" : "fsync failed", err));
  }
  ::close(fd);
  rename_into_place(temp, path);
}

AtomicFile::AtomicFile(std::filesystem::path path) : path_(std::move(path)), temp_(temp_path_for(path_)) {
  fd_ = ::open(temp_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd_ < 0) throw WriteError(write_failure(path_, "cannot create file", errno));
}

AtomicFile::~AtomicFile() {
  if (fd_ < 0) return;
  ::close(fd_);
  std::error_code ec;
  std::filesystem::remove(temp_, ec);
}

void AtomicFile::write(std::string_view bytes) {
  std::size_t written = 0;
  while (written < bytes.size()) {
    const auto n = ::write(fd_, bytes.data() + written, bytes.size() - written);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw WriteError(write_failure(path_, "write failed", errno));
    }
    written += static_cast<std::size_t>(n);
  }
}

void AtomicFile::commit() {
  if (::fsync(fd_) != 0) throw WriteError(write_failure(path_, "fsync failed", errno));
  const int fd = fd_;
  fd_ = -1;
  if (::close(fd) != 0) {
    const int err = errno;
    std::error_code ec;
    std::filesystem::remove(temp_, ec);
    throw WriteError(write_failure(path_, "close failed", err));
  }
  rename_into_place(temp_, path_);
}

void write_file_atomic(const std::filesystem::path& path, std::string_view content) {
  AtomicFile file(path);
  file.write(content);
  file.commit();
}

StagedFiles::StagedFiles(std::filesystem::path dir) : dir_(std::move(dir)) {
  static std::atomic<unsigned> counter{0};
  std::error_code ec;
  std::filesystem::create_directories(dir_, ec);
  if (ec) throw WriteError(dir_.string() + ": cannot create the directory: " + ec.message());
  for (std::filesystem::directory_iterator it(dir_, ec), end; !ec && it != end; it.increment(ec)) {
    if (it->path().filename().string().starts_with(".staging.")) {
      std::error_code rm;
      std::filesystem::remove_all(it->path(), rm);
    }
  }
  staging_ = dir_ / (".staging." + std::to_string(::getpid()) + "." + std::to_string(counter++));
  std::filesystem::create_directories(staging_, ec);
  if (ec) throw WriteError(staging_.string() + ": cannot create the staging directory: " + ec.message());
}

StagedFiles::~StagedFiles() {
  std::error_code ec;
  std::filesystem::remove_all(staging_, ec);
}

void StagedFiles::commit() {
  std::vector<std::filesystem::path> files;
  std::error_code ec;
  for (std::filesystem::directory_iterator it(staging_, ec), end; !ec && it != end; it.increment(ec)) {
    if (it->is_regular_file() && !it->path().filename().string().starts_with(".")) files.push_back(it->path());
  }
  if (ec) throw WriteError(staging_.string() + ": cannot list the staged files: " + ec.message());
  std::sort(files.begin(), files.end());
  for (const auto& f : files) {
    std::filesystem::rename(f, dir_ / f.filename(), ec);
    if (ec) throw WriteError((dir_ / f.filename()).string() + ": cannot move the finished file into place: " + ec.message());
  }
  fsync_dir(dir_);
}

std::string read_file(const std::filesystem::path& path, std::uintmax_t max_bytes) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) throw MissingInputError(path.string() + ": no such file");
  if (std::filesystem::is_directory(path, ec)) throw MissingInputError(path.string() + ": is a directory, expected a file");
  const auto size = std::filesystem::file_size(path, ec);
  if (ec) throw MissingInputError(path.string() + ": cannot stat: " + ec.message());
  if (size > max_bytes) {
    throw CorruptDataError(path.string() + ": file is " + std::to_string(size) + " bytes, over the limit of " +
                           std::to_string(max_bytes) + " bytes; is this the right file?");
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) throw MissingInputError(path.string() + ": cannot open for reading");
  std::string data(static_cast<std::size_t>(size), '\0');
  in.read(data.data(), static_cast<std::streamsize>(size));
  if (static_cast<std::uintmax_t>(in.gcount()) != size) throw CorruptDataError(path.string() + ": short read");
  return data;
}

std::string sha256_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw MissingInputError(path.string() + ": cannot open for hashing");
  Sha256 sha;
  std::array<char, 1 << 16> buffer{};
  while (in) {
    in.read(buffer.data(), buffer.size());
    sha.update(buffer.data(), static_cast<std::size_t>(in.gcount()));
  }
  return sha.hex();
}

std::string sha256_hex(std::string_view data) {
  Sha256 sha;
  sha.update(data.data(), data.size());
  return sha.hex();
}

}  // namespace ibzoo::io
