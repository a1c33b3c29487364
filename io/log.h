// Logging and progress. Every line goes to stderr; under MPI with more than one rank
// it starts with the world rank:
//   [rank R] message            (several ranks)
//   message                     (one process, the usual case outside mpirun/srun)
// Progress lines are printed by rank 0 only, at most every few seconds. A live line (a
// terminal's status line, redrawn in place) stays below the log lines printed meanwhile.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

namespace ibzoo::io {

// "0.1.0 (git 1a2b3c4d5e6f)"
std::string version_string();
std::string git_hash();

// World rank/size as seen by the logger; set once by MpiSession (0/1 otherwise).
void set_log_rank(int rank, int size);
int log_rank();

void log_info(std::string_view message);
void log_warn(std::string_view message);
void log_error(std::string_view message);
// Silences info lines (warnings and errors still print). For --quiet.
void set_quiet(bool quiet);

// A progress line (io/progress.h): printed like an info line, but not silenced by
// set_quiet (the reporter itself is switched off when progress is not wanted).
void log_progress(std::string_view message);
// The live line at the bottom of a terminal (no newline; redrawn after every log line);
// "" removes it. Callers check that stderr is a terminal (stderr_is_terminal()).
void set_live_line(std::string_view text);
bool stderr_is_terminal();

// Aborts MPI_COMM_WORLD if MPI is initialised and has more than one rank, so that
// other ranks don't hang after a failure. Otherwise does nothing.
void abort_world(int code);

// Progress with ETA for long loops. Prints on rank 0 only (or on every rank if
// all_ranks), at most once per interval, and once at the end.
class Progress {
 public:
  Progress(std::string what, std::int64_t total, bool all_ranks = false);
  void advance(std::int64_t n = 1);
  void finish();

 private:
  void print(bool final);
  std::string what_;
  std::int64_t total_;
  std::int64_t done_ = 0;
  bool enabled_;
  bool finished_ = false;
  std::chrono::steady_clock::time_point start_;
  std::chrono::steady_clock::time_point last_print_;
};

}  // namespace ibzoo::io
