// The run directory's lock: keeps a second `ibzoo run` out of a run directory while
// one works there (docs/RUN_LAYOUT.md, "locks/").
//
//   <run>/locks/run.lock               an unsliced `run` (any stage)
//   <run>/locks/slice-K-of-N.lock      one slice of the plan (`run --slice K/N`, a Slurm array task)
//
// A lock file is JSON {"host", "pid", "start_ticks", "started", "scope", "command",
// "slurm_job_id"}; it appears complete or not at all (written to a temporary name, then
// hard-linked into place, which fails if the lock exists: atomic on local file systems
// and NFS). Its holder touches it every heartbeat_s seconds.
//
// Who conflicts with whom: run.lock with every live lock when the run extracts (stage
// all or extract), with a live run.lock only when it reduces or analyses (Slurm starts
// those after the array's tasks ended); a slice lock with a live run.lock and with the
// same slice's lock. Slices of one array run side by side.
//
// A lock is stale, and is taken over with a warning, when its holder is gone: on this
// host, no process with that pid and start time exists; on another host (where the pid
// cannot be checked), the file was not touched for stale_after seconds; and a lock of
// the same Slurm job as this process (SLURM_JOB_ID) is an earlier run of the job that
// Slurm requeued.
//
// Not collective: one process per job (rank 0) takes the lock for all of its ranks.
#pragma once

#include <chrono>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace ibzoo::io {

struct LockOptions {
  // "run", or "slice-K-of-N".
  std::string scope = "run";
  // A run.lock that only reduces or analyses ignores slice locks.
  bool extracts = true;
  std::string command;                 // for people reading the lock ("ibzoo run study.yaml ...")
  std::chrono::seconds heartbeat{30};
  std::chrono::seconds stale_after{300};
};

// Who holds a lock, as read from its file.
struct LockHolder {
  std::filesystem::path path;
  std::string host;
  long long pid = 0;
  unsigned long long start_ticks = 0;
  std::string started;
  std::string command;
  std::string slurm_job_id;
  double age_s = 0;                    // since its holder last touched it
  std::string describe() const;        // "host h, pid 123, started 2026-...Z (ibzoo run ...)"
};

// The live holders of the locks under <run>/locks (stale ones are left out). For `status`.
std::vector<LockHolder> live_lock_holders(const std::filesystem::path& run_dir, const LockOptions& options = {});

class RunLock {
 public:
  // Takes the lock for this process. Returns nullopt and sets *refusal (a message that
  // names the holder's host and pid and what to do) when a live process holds a
  // conflicting lock. Stale locks are removed with a warning (io::log_warn).
  // Throws WriteError when the lock file cannot be created (read-only directory...).
  static std::optional<RunLock> acquire(const std::filesystem::path& run_dir, const LockOptions& options,
                                        std::string* refusal);

  RunLock(RunLock&&) noexcept;
  RunLock& operator=(RunLock&&) noexcept;
  RunLock(const RunLock&) = delete;
  RunLock& operator=(const RunLock&) = delete;
  // Stops the heartbeat and removes the lock file (if it is still this process's). Never throws.
  ~RunLock();

  const std::filesystem::path& path() const;

 private:
  struct State;
  explicit RunLock(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

}  // namespace ibzoo::io
