// main() for MPI test executables: starts MPI, runs the tests on every rank,
// and max-reduces the failure flag so that all ranks agree on the outcome.
#include "io/mpi.h"

#include <gtest/gtest.h>

#include <memory>

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  ibzoo::io::MpiSession session(&argc, &argv);
  auto& listeners = ::testing::UnitTest::GetInstance()->listeners();
  // Only rank 0 prints; the other ranks drop their printer.
  std::unique_ptr<::testing::TestEventListener> dropped;
  if (session.world().rank() != 0) dropped.reset(listeners.Release(listeners.default_result_printer()));
  const int failed = RUN_ALL_TESTS() != 0 ? 1 : 0;
  const int any_failed = session.world().allreduce_max(failed);
  return any_failed;
}
