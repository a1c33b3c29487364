// File helpers shared by every writer: atomic replacement, hashing, bounded reads.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace ibzoo::io {

// Every file of results is written so that it cannot half-happen: to a temporary name
// in the same directory, flushed to disk (fsync), then renamed into place, and the
// directory fsynced; readers see the old file or the whole new one. A failed write
// (disk full, quota, I/O error) removes the temporary file, throws WriteError naming
// the file and the reason, and leaves the old file as it was.

// Writes `content` atomically (see above). Throws WriteError.
void write_file_atomic(const std::filesystem::path& path, std::string_view content);

// A file written in pieces (e.g. a safetensors file), atomically: write() appends,
// commit() fsyncs and renames it into place; without commit() (an exception) the
// destructor removes the temporary file.
class AtomicFile {
 public:
  explicit AtomicFile(std::filesystem::path path);  // Throws WriteError.
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;
  ~AtomicFile();
  void write(std::string_view bytes);  // Throws WriteError.
  void commit();                       // Throws WriteError.

 private:
  std::filesystem::path path_;
  std::filesystem::path temp_;
  int fd_ = -1;
};

// A temporary path next to `path` for writers that produce the file themselves
// (e.g. HDF5): write there, close it, then commit_file() fsyncs it and renames it into
// place. Throws WriteError (and removes `temp`) when either fails.
std::filesystem::path temp_path_for(const std::filesystem::path& path);
void commit_file(const std::filesystem::path& temp, const std::filesystem::path& path);

// Files that belong together (a run's metrics.csv, summary.csv and metrics.h5) are
// written into a staging directory <dir>/.staging.<pid>.<n>/ first; commit() then
// renames them into `dir` one after the other (renames need no space, so a full disk
// strikes while staging, never halfway through the set). Without commit() the
// destructor removes the staging directory and `dir` keeps its earlier files. The
// constructor removes staging directories that a killed process left behind (the caller
// holds the run's lock, so no other writer is staging there).
class StagedFiles {
 public:
  explicit StagedFiles(std::filesystem::path dir);  // Throws WriteError.
  StagedFiles(const StagedFiles&) = delete;
  StagedFiles& operator=(const StagedFiles&) = delete;
  ~StagedFiles();
  const std::filesystem::path& staging() const { return staging_; }
  std::filesystem::path path(const std::string& name) const { return staging_ / name; }
  void commit();  // Throws WriteError.

 private:
  std::filesystem::path dir_;
  std::filesystem::path staging_;
};

// Reads a whole file, refusing files larger than max_bytes.
// Throws MissingInputError, or CorruptDataError when the file is too large.
std::string read_file(const std::filesystem::path& path, std::uintmax_t max_bytes = 1ull << 30);

// Hex sha256 of a file's content (streamed) and of a string.
std::string sha256_file(const std::filesystem::path& path);

std::string sha256_hex(std::string_view data);

}  // namespace ibzoo::io
