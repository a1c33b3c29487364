// File helpers shared by every writer: atomic replacement, hashing, bounded reads.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

namespace ibzoo::io {

// Writes `content` to a temporary name in the same directory, fsyncs, closes and
// renames it into place, so readers see either the old file or the whole new one.
// Throws WriteError naming the path (e.g. disk full).
void write_file_atomic(const std::filesystem::path& path, std::string_view content);

// A temporary path next to `path` for writers that produce the file themselves
// (e.g. HDF5): write there, then commit_file() renames it into place.
std::filesystem::path temp_path_for(const std::filesystem::path& path);
void commit_file(const std::filesystem::path& temp, const std::filesystem::path& path);

// Reads a whole file, refusing files larger than max_bytes.
// Throws MissingInputError, or CorruptDataError when the file is too large.
std::string read_file(const std::filesystem::path& path, std::uintmax_t max_bytes = 1ull << 30);

// Hex sha256 of a file's content (streamed) and of a string.
std::string sha256_file(const std::filesystem::path& path);

// Reads `path` once and discards the bytes, so that the next read comes from the
// page cache (used to load checkpoint k+1 from disk while checkpoint k computes).
// Best effort: a missing or unreadable file is silently skipped.
void prefetch_file(const std::filesystem::path& path);
std::string sha256_hex(std::string_view data);

}  // namespace ibzoo::io
