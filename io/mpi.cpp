#include "io/mpi.h"

#include "errors/error.h"
#include "io/log.h"

#include <mpi.h>

#include <cstdlib>
#include <cstring>
#include <exception>
#include <limits>

namespace ibzoo::io {

namespace {

void check(int rc, const char* what) {
  if (rc == MPI_SUCCESS) return;
  char message[MPI_MAX_ERROR_STRING];
  int length = 0;
  MPI_Error_string(rc, message, &length);
  throw MpiError(std::string(what) + " failed: " + std::string(message, static_cast<std::size_t>(length)));
}

MPI_Comm& comm_of(const std::unique_ptr<char[]>& handle) {
  return *reinterpret_cast<MPI_Comm*>(handle.get());
}

int to_int_count(std::size_t n, const char* what) {
  if (n > static_cast<std::size_t>(std::numeric_limits<int>::max())) {
    throw MpiError(std::string(what) + ": message of " + std::to_string(n) + " bytes exceeds MPI's int count");
  }
  return static_cast<int>(n);
}

}  // namespace

MpiSession::MpiSession(int* argc, char*** argv) : uncaught_at_start_(std::uncaught_exceptions()) {
  int initialized = 0;
  MPI_Initialized(&initialized);
  // Started without a launcher, Open MPI's singleton forks a daemon (orted) that ibzoo
  // never uses (no MPI_Comm_spawn): ~0.15 s of every command's start. Ignored under
  // mpirun and srun; a value the user set is kept.
  ::setenv("OMPI_MCA_ess_singleton_isolated", "1", 0);
  if (!initialized) check(MPI_Init(argc, argv), "MPI_Init");
  // Errors come back as codes so that they can become MpiError with context.
  MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
  world_ = std::make_unique<Communicator>(Communicator::world());
  set_log_rank(world_->rank(), world_->size());
}

MpiSession::~MpiSession() {
  world_.reset();
  if (std::uncaught_exceptions() > uncaught_at_start_) return;
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (!finalized) MPI_Finalize();
}

Communicator& MpiSession::world() { return *world_; }

Communicator Communicator::self() {
  MPI_Comm comm = MPI_COMM_SELF;
  return Communicator(&comm, false);
}

Communicator Communicator::world() {
  MPI_Comm comm = MPI_COMM_WORLD;
  return Communicator(&comm, false);
}

Communicator::Communicator(void* handle, bool owned)
    : handle_(std::make_unique<char[]>(sizeof(MPI_Comm))), owned_(owned) {
  std::memcpy(handle_.get(), handle, sizeof(MPI_Comm));
  check(MPI_Comm_rank(comm_of(handle_), &rank_), "MPI_Comm_rank");
  check(MPI_Comm_size(comm_of(handle_), &size_), "MPI_Comm_size");
}

Communicator::Communicator(Communicator&& other) noexcept
    : handle_(std::move(other.handle_)), owned_(other.owned_), rank_(other.rank_), size_(other.size_) {
  other.owned_ = false;
}

Communicator& Communicator::operator=(Communicator&& other) noexcept {
  if (this != &other) {
    this->~Communicator();
    handle_ = std::move(other.handle_);
    owned_ = other.owned_;
    rank_ = other.rank_;
    size_ = other.size_;
    other.owned_ = false;
  }
  return *this;
}

Communicator::~Communicator() {
  if (owned_ && handle_) MPI_Comm_free(&comm_of(handle_));
  owned_ = false;
}

void Communicator::barrier() const { check(MPI_Barrier(comm_of(handle_)), "MPI_Barrier"); }

void Communicator::broadcast(std::string& bytes, int root) const {
  auto n = static_cast<std::uint64_t>(bytes.size());
  check(MPI_Bcast(&n, 1, MPI_UINT64_T, root, comm_of(handle_)), "MPI_Bcast (size)");
  bytes.resize(static_cast<std::size_t>(n));
  if (n == 0) return;
  check(MPI_Bcast(bytes.data(), to_int_count(bytes.size(), "broadcast"), MPI_BYTE, root, comm_of(handle_)),
        "MPI_Bcast");
}

int Communicator::allreduce_max(int value) const {
  int out = 0;
  check(MPI_Allreduce(&value, &out, 1, MPI_INT, MPI_MAX, comm_of(handle_)), "MPI_Allreduce(max)");
  return out;
}

double Communicator::allreduce_max(double value) const {
  double out = 0;
  check(MPI_Allreduce(&value, &out, 1, MPI_DOUBLE, MPI_MAX, comm_of(handle_)), "MPI_Allreduce(max)");
  return out;
}

std::int64_t Communicator::allreduce_sum(std::int64_t value) const {
  std::int64_t out = 0;
  check(MPI_Allreduce(&value, &out, 1, MPI_INT64_T, MPI_SUM, comm_of(handle_)), "MPI_Allreduce(sum)");
  return out;
}

std::vector<std::string> Communicator::allgather(const std::string& bytes) const {
  std::vector<std::string> outgoing(static_cast<std::size_t>(size_), bytes);
  return alltoall(outgoing);
}

std::vector<std::string> Communicator::alltoall(const std::vector<std::string>& outgoing) const {
  const auto n = static_cast<std::size_t>(size_);
  if (outgoing.size() != n) throw MpiError("alltoall: need one message per rank");
  std::vector<int> send_counts(n), send_displs(n), recv_counts(n), recv_displs(n);
  std::string send_buffer;
  for (std::size_t r = 0; r < n; ++r) {
    send_displs[r] = to_int_count(send_buffer.size(), "alltoall");
    send_counts[r] = to_int_count(outgoing[r].size(), "alltoall");
    send_buffer += outgoing[r];
  }
  check(MPI_Alltoall(send_counts.data(), 1, MPI_INT, recv_counts.data(), 1, MPI_INT, comm_of(handle_)),
        "MPI_Alltoall (sizes)");
  std::size_t total = 0;
  for (std::size_t r = 0; r < n; ++r) {
    recv_displs[r] = to_int_count(total, "alltoall");
    total += static_cast<std::size_t>(recv_counts[r]);
  }
  std::string recv_buffer(total, '\0');
  check(MPI_Alltoallv(send_buffer.data(), send_counts.data(), send_displs.data(), MPI_BYTE, recv_buffer.data(),
                      recv_counts.data(), recv_displs.data(), MPI_BYTE, comm_of(handle_)),
        "MPI_Alltoallv");
  std::vector<std::string> incoming(n);
  for (std::size_t r = 0; r < n; ++r) {
    incoming[r] = recv_buffer.substr(static_cast<std::size_t>(recv_displs[r]), static_cast<std::size_t>(recv_counts[r]));
  }
  return incoming;
}

}  // namespace ibzoo::io
