#include "pipeline/ranks.h"

#include <algorithm>
#include <cstdlib>
#include <initializer_list>
#include <optional>
#include <string>
#include <thread>

#include <sched.h>

namespace ibzoo::pipeline {

namespace {

// The first of `vars` that is set to an integer (launchers name the same fact differently).
std::optional<int> first_int_env(std::initializer_list<const char*> vars) {
  for (const char* var : vars) {
    if (const char* v = std::getenv(var)) {
      try {
        return std::stoi(v);
      } catch (const std::exception&) {
      }
    }
  }
  return std::nullopt;
}

}  // namespace

int local_rank_count(const io::Communicator& comm) {
  const auto n = first_int_env({"OMPI_COMM_WORLD_LOCAL_SIZE", "SLURM_NTASKS_PER_NODE", "MPI_LOCALNRANKS"});
  return n ? std::max(1, *n) : comm.size();
}

// This rank's index among the ranks of its node (mpirun, srun, MPICH), else 0.
int node_local_rank() {
  return std::max(0, first_int_env({"OMPI_COMM_WORLD_LOCAL_RANK", "SLURM_LOCALID", "MPI_LOCALRANKID"}).value_or(0));
}

int threads_per_rank(const ComputeSpec& compute, int local_ranks) {
  if (compute.threads > 0) return compute.threads;
  const auto hw = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  return std::max(1, hw / std::max(1, local_ranks));
}

int usable_cpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 0) return CPU_COUNT(&set);
  return static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
}

}  // namespace ibzoo::pipeline
