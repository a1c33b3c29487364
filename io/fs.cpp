#include "io/fs.h"

#include "analysis/error.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <unistd.h>

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

std::string errno_text() { return std::strerror(errno); }

struct FdCloser {
  int fd;
  ~FdCloser() {
    if (fd >= 0) ::close(fd);
  }
};

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

void commit_file(const std::filesystem::path& temp, const std::filesystem::path& path) {
  std::error_code ec;
  std::filesystem::rename(temp, path, ec);
  if (ec) {
    std::filesystem::remove(temp, ec);
    throw WriteError(path.string() + ": cannot move the finished file into place: " + ec.message());
  }
}

void write_file_atomic(const std::filesystem::path& path, std::string_view content) {
  const auto temp = temp_path_for(path);
  {
    const int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) throw WriteError(path.string() + ": cannot create file: " + errno_text());
    FdCloser closer{fd};
    std::size_t written = 0;
    while (written < content.size()) {
      const auto n = ::write(fd, content.data() + written, content.size() - written);
      if (n < 0) {
        if (errno == EINTR) continue;
        const auto why = errno_text();
        std::error_code ec;
        std::filesystem::remove(temp, ec);
        throw WriteError(path.string() + ": write failed: " + why);
      }
      written += static_cast<std::size_t>(n);
    }
    if (::fsync(fd) != 0) {
      const auto why = errno_text();
      std::error_code ec;
      std::filesystem::remove(temp, ec);
      throw WriteError(path.string() + ": fsync failed: " + why);
    }
  }
  commit_file(temp, path);
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

void prefetch_file(const std::filesystem::path& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return;
  ::posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
  std::vector<char> buffer(std::size_t{8} << 20);
  while (::read(fd, buffer.data(), buffer.size()) > 0) {
  }
  ::close(fd);
}

}  // namespace ibzoo::io
