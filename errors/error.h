// The one small error hierarchy of ibzoo. Code throws these inside; the command
// line turns them into exit codes (ManifestError and UsageError -> 2, the rest -> 1).
#pragma once

#include <stdexcept>
#include <string>

namespace ibzoo {

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// The user's command line was wrong (unknown option, missing argument).
class UsageError : public Error {
 public:
  using Error::Error;
};

// A manifest (or a file it names) does not validate. Messages carry file:line.
class ManifestError : public Error {
 public:
  using Error::Error;
};

// A file or directory that must exist does not.
class MissingInputError : public Error {
 public:
  using Error::Error;
};

// A file exists but its content is malformed, truncated, or inconsistent.
class CorruptDataError : public Error {
 public:
  using Error::Error;
};

// A model cannot be built or run: unknown architecture, missing tensor, NaN output.
class ModelError : public Error {
 public:
  using Error::Error;
};

// An MPI call failed; the message carries MPI's error string.
class MpiError : public Error {
 public:
  using Error::Error;
};

// Writing an output failed (disk full, permission denied).
class WriteError : public Error {
 public:
  using Error::Error;
};

}  // namespace ibzoo
