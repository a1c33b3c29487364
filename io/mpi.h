// MPI through RAII handles. The only header (with io/log.cpp) that includes
// <mpi.h>; the rest of ibzoo sees Communicator and typed values: broadcast_value and
// allgather_value send any value with a JSON form (a struct with
// NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE beside it, a string, numbers, vectors, maps), so
// that no caller encodes bytes by hand.
// Every MPI call is checked here; a failure throws MpiError with MPI's string.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <cstring>
#include <memory>
#include <span>
#include <string>
#include <type_traits>
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

  // Collective: every rank calls this. Rank `root`'s value ends up on every rank, through
  // its JSON form (nlohmann's to_json / from_json for T).
  template <class T>
  void broadcast_value(T& value, int root = 0) const;
  // Collective: every rank calls this. Every rank's value, in rank order, on every rank.
  template <class T>
  std::vector<T> allgather_value(const T& value) const;
  // Collective: every rank calls this. Every rank's array, in rank order, on every rank;
  // for the bulk numbers of the estimator (assignments, exact sums), sent as their bytes.
  template <class T>
    requires std::is_trivially_copyable_v<T>
  std::vector<std::vector<T>> allgather_array(std::span<const T> values) const;

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

// What one rank found, for the others: a value, or the error it met (its kind, a word
// the caller chooses, and its message). The payload of a typed broadcast after which the
// receivers fail alike when the sender failed.
template <class T>
struct Outcome {
  bool ok = false;
  T value{};
  std::string error_kind;
  std::string message;
};
template <class T>
void to_json(nlohmann::json& j, const Outcome<T>& o) {
  j = {{"ok", o.ok}, {"value", o.value}, {"error_kind", o.error_kind}, {"message", o.message}};
}
template <class T>
void from_json(const nlohmann::json& j, Outcome<T>& o) {
  j.at("ok").get_to(o.ok);
  j.at("value").get_to(o.value);
  j.at("error_kind").get_to(o.error_kind);
  j.at("message").get_to(o.message);
}

template <class T>
void Communicator::broadcast_value(T& value, int root) const {
  std::string bytes;
  if (rank_ == root) bytes = nlohmann::json(value).dump();
  broadcast(bytes, root);
  if (rank_ != root) value = nlohmann::json::parse(bytes).get<T>();
}

template <class T>
std::vector<T> Communicator::allgather_value(const T& value) const {
  std::vector<T> values;
  for (const auto& bytes : allgather(nlohmann::json(value).dump())) {
    values.push_back(nlohmann::json::parse(bytes).get<T>());
  }
  return values;
}

template <class T>
  requires std::is_trivially_copyable_v<T>
std::vector<std::vector<T>> Communicator::allgather_array(std::span<const T> values) const {
  // An empty span may have a null data(): memcpy must not see it, even for 0 bytes.
  const std::string bytes = values.empty() ? std::string()
                                           : std::string(reinterpret_cast<const char*>(values.data()), values.size_bytes());
  std::vector<std::vector<T>> arrays;
  for (const auto& part : allgather(bytes)) {
    std::vector<T> array(part.size() / sizeof(T));
    if (!array.empty()) std::memcpy(array.data(), part.data(), array.size() * sizeof(T));
    arrays.push_back(std::move(array));
  }
  return arrays;
}

}  // namespace ibzoo::io
