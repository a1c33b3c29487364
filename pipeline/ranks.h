// Where this rank runs: how many ranks share its node and which of them it is, from
// the launcher's environment (mpirun, srun, MPICH), and the threads each may use.
#pragma once

#include "io/mpi.h"
#include "pipeline/manifest.h"

namespace ibzoo::pipeline {

// Ranks on this node (OMPI_COMM_WORLD_LOCAL_SIZE, SLURM_NTASKS_PER_NODE, MPI_LOCALNRANKS),
// else every rank of `comm`.
int local_rank_count(const io::Communicator& comm);
// This rank's index among the ranks of its node, else 0.
int node_local_rank();
// compute.threads when set, else the node's hardware threads shared by its ranks.
int threads_per_rank(const ComputeSpec& compute, int local_ranks);
// The CPUs this process may run on (its affinity mask: a launcher's binding, a Slurm
// cpuset), else the hardware threads. More threads than this only cost memory.
int usable_cpus();

}  // namespace ibzoo::pipeline
