#include "io/log.h"

#include "io/unicode.h"

#include <mpi.h>

#include <cstdio>
#include <iostream>
#include <mutex>
#include <sstream>

#include <unistd.h>

namespace ibzoo::io {

namespace {
int g_rank = 0;
int g_size = 1;
bool g_quiet = false;
std::mutex g_mutex;
std::string g_live;  // the live line now on the terminal ("" when none)

// Erases the live line (carriage return, clear to end of line) before a log line and
// redraws it after, so that log lines scroll above it.
void emit(std::string_view level, std::string_view message) {
  std::ostringstream os;
  if (g_size > 1) os << "[rank " << g_rank << "] ";
  // Messages may quote bytes of a bad input file (a JSON parser's context, say): what
  // reaches the terminal or a log stays valid UTF-8 (U+FFFD for each invalid sequence).
  if (unicode::first_invalid_utf8(message)) {
    os << level << unicode::to_valid_utf8_lossy(message) << "\n";
  } else {
    os << level << message << "\n";
  }
  const std::lock_guard lock(g_mutex);
  if (!g_live.empty()) std::cerr << "\r\033[K";
  std::cerr << os.str();
  if (!g_live.empty()) std::cerr << g_live;
  std::cerr << std::flush;
}

std::string format_duration(double seconds) {
  char buf[32];
  const auto s = static_cast<long>(seconds + 0.5);
  if (s >= 3600) {
    std::snprintf(buf, sizeof buf, "%ldh%02ldm", s / 3600, (s % 3600) / 60);
  } else if (s >= 60) {
    std::snprintf(buf, sizeof buf, "%ldm%02lds", s / 60, s % 60);
  } else {
    std::snprintf(buf, sizeof buf, "%lds", s);
  }
  return buf;
}
}  // namespace

std::string git_hash() { return IBZOO_GIT_HASH; }
std::string version_string() { return std::string(IBZOO_VERSION) + " (git " + IBZOO_GIT_HASH + ")"; }

void set_log_rank(int rank, int size) {
  g_rank = rank;
  g_size = size;
}
int log_rank() { return g_rank; }
void set_quiet(bool quiet) { g_quiet = quiet; }

void log_info(std::string_view message) {
  if (!g_quiet) emit("", message);
}
void log_warn(std::string_view message) { emit("warning: ", message); }
void log_progress(std::string_view message) { emit("", message); }

void set_live_line(std::string_view text) {
  const std::lock_guard lock(g_mutex);
  if (g_live.empty() && text.empty()) return;
  g_live = text;
  std::cerr << "\r\033[K" << g_live << std::flush;
}

bool stderr_is_terminal() { return ::isatty(2) == 1; }
void log_error(std::string_view message) { emit("error: ", message); }

void abort_world(int code) {
  int initialized = 0;
  int finalized = 0;
  MPI_Initialized(&initialized);
  MPI_Finalized(&finalized);
  if (initialized && !finalized && g_size > 1) MPI_Abort(MPI_COMM_WORLD, code);
}

Progress::Progress(std::string what, std::int64_t total, bool all_ranks)
    : what_(std::move(what)),
      total_(total),
      enabled_(all_ranks || g_rank == 0),
      start_(std::chrono::steady_clock::now()),
      last_print_(start_) {}

void Progress::advance(std::int64_t n) {
  done_ += n;
  const auto now = std::chrono::steady_clock::now();
  if (now - last_print_ >= std::chrono::seconds(3)) {
    last_print_ = now;
    print(false);
  }
}

void Progress::finish() {
  if (finished_) return;
  finished_ = true;
  // Short loops stay silent: a progress line is for work longer than a few seconds.
  if (std::chrono::steady_clock::now() - start_ >= std::chrono::seconds(3)) print(true);
}

void Progress::print(bool final) {
  if (!enabled_ || g_quiet) return;
  const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  std::ostringstream os;
  os << what_ << ": " << done_ << "/" << total_;
  if (total_ > 0) os << " (" << (100 * done_ / total_) << "%)";
  os << ", elapsed " << format_duration(elapsed);
  if (!final && done_ > 0 && total_ > done_) {
    os << ", ETA " << format_duration(elapsed / static_cast<double>(done_) * static_cast<double>(total_ - done_));
  }
  emit("", os.str());
}

}  // namespace ibzoo::io
