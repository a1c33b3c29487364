// MPI through RAII handles. The only header (with io/log.cpp) that includes
// <mpi.h>; the rest of ibzoo sees Communicator and plain byte buffers.
// Every MPI call is checked here; a failure throws MpiError with MPI's string.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

namespace ibzoo::io {

class Communicator;

// Initialises MPI in its constructor and finalises it in its destructor, but skips
// the finalise while an exception is unwinding (main then aborts the communicator
// so other ranks don't hang). Works without mpirun (singleton mode: one rank).
class MpiSession {
 public:
  MpiSession(int* argc, char*** argv);
  MpiSession(const MpiSession&) = delete;
  MpiSession& operator=(const MpiSession&) = delete;
  ~MpiSession();
  Communicator& world();

 private:
  std::unique_ptr<Communicator> world_;
  int uncaught_at_start_;
};

// Wraps an MPI communicator. Frees only communicators it duplicated itself.
class Communicator {
 public:
  // Wraps MPI_COMM_WORLD without owning it.
  static Communicator world();
  // Wraps MPI_COMM_SELF (this process alone) without owning it.
  static Communicator self();
  Communicator(Communicator&&) noexcept;
  Communicator& operator=(Communicator&&) noexcept;
  Communicator(const Communicator&) = delete;
  Communicator& operator=(const Communicator&) = delete;
  ~Communicator();

  int rank() const { return rank_; }
  int size() const { return size_; }

  // Collective: every rank calls this.
  void barrier() const;
  // Collective: every rank calls this. Rank `root`'s bytes end up on every rank.
  void broadcast(std::string& bytes, int root = 0) const;
  // Collective: every rank calls this.
  int allreduce_max(int value) const;
  std::int64_t allreduce_sum(std::int64_t value) const;
  double allreduce_max(double value) const;
  // Collective: every rank calls this. Returns every rank's string on every rank, in rank order.
  std::vector<std::string> allgather(const std::string& bytes) const;
  // Collective: every rank calls this. outgoing[r] goes to rank r; returns what
  // each rank sent to this one, indexed by source rank.
  std::vector<std::string> alltoall(const std::vector<std::string>& outgoing) const;

  // The MPI_Comm, by address, for io/ code that hands it to MPI-aware libraries
  // (parallel HDF5). Opaque here so that this header needs no MPI.
  const void* native_handle() const { return handle_.get(); }

 private:
  Communicator(void* handle, bool owned);
  std::unique_ptr<char[]> handle_;  // holds an MPI_Comm by value, opaque here
  bool owned_ = false;
  int rank_ = 0;
  int size_ = 1;
};

}  // namespace ibzoo::io
