// stages::pack_representations on 1, 2 and 4 ranks: the items' reps.h5 files (real HDF5,
// written here with the serial writer extract uses) end up in one shared file per
// checkpoint, written collectively, in plan order and bit for bit (float32 and float16);
// the index datasets say where each item's rows are; the per-item files are removed; a
// second pack is a no-op; a missing item file is an error on every rank, naming it.
#include "analysis/error.h"
#include "io/h5.h"
#include "io/mpi.h"
#include "io/run_dir.h"
#include "io/safetensors.h"
#include "io/state_h5.h"
#include "stages/pack.h"

#include <gtest/gtest.h>

#include <sys/stat.h>

#include <cstdlib>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <vector>

namespace ibzoo {
namespace {

namespace fs = std::filesystem;

constexpr std::int64_t kWidth = 6;
const std::vector<int> kLayers = {0, 2};

io::Communicator& world() {
  static io::Communicator comm = io::Communicator::world();
  return comm;
}

std::string shared_temp_dir(const io::Communicator& comm) {
  std::string dir;
  if (comm.rank() == 0) {
    dir = (fs::temp_directory_path() / "ibzoo_pack_mpi_XXXXXX").string();
    if (mkdtemp(dir.data()) == nullptr) throw std::runtime_error("mkdtemp failed for " + dir);
  }
  comm.broadcast(dir);
  return dir;
}

// Item k's rows of `layer`: distinct values, exactly representable in float16.
std::vector<float> item_rows(std::size_t k, int layer, std::int64_t n) {
  std::vector<float> v(static_cast<std::size_t>(n * kWidth));
  for (std::size_t i = 0; i < v.size(); ++i) v[i] = static_cast<float>(static_cast<double>(k * 200 + i) / 8.0 + layer * 0.5);
  return v;
}

std::int64_t n_rows_of(std::size_t k) { return 5 + 3 * static_cast<std::int64_t>(k); }

// Seven items (so that some rounds leave ranks without one), in a plan order that is
// not their creation order.
stages::PackJob make_job(const io::RunDir& run) {
  stages::PackJob job;
  job.run = run;
  job.model = "m";
  job.checkpoint = "step-1";
  job.chunk_rows = 4;  // items of 5..23 rows: several collective writes per item, uneven across ranks
  for (const int k : {3, 0, 6, 1, 5, 2, 4}) {
    job.item_ids.push_back("item" + std::to_string(k));
    job.documents.emplace_back(10 * k, 10 * k + 7);
  }
  return job;
}

void write_items(const stages::PackJob& job, bool float16) {
  for (std::size_t k = 0; k < job.item_ids.size(); ++k) {
    const auto dir = job.run.item_dir(job.item_ids[k]);
    fs::create_directories(dir);
    auto file = io::H5File::create(dir / "reps.h5");
    for (int layer : kLayers) {
      file.create_rows(io::layer_group(layer), kWidth, {{4}, 0, float16});
      file.append_rows(io::layer_group(layer), item_rows(k, layer, n_rows_of(k)), n_rows_of(k));
    }
    file.close();
  }
}

void check_packed(const stages::PackJob& job, bool float16) {
  const auto path = stages::packed_reps_path(job.run, job.model, job.checkpoint);
  const auto file = io::H5File::open_read(path);
  std::vector<std::int64_t> offsets{0};
  for (std::size_t k = 0; k < job.item_ids.size(); ++k) offsets.push_back(offsets.back() + n_rows_of(k));
  EXPECT_EQ(file.read_i64("/item_offsets").data, offsets);
  std::vector<std::int64_t> documents;
  for (const auto& [b, e] : job.documents) documents.insert(documents.end(), {b, e});
  EXPECT_EQ(file.read_i64("/item_documents").data, documents);
  for (int layer : kLayers) {
    const auto name = io::layer_group(layer);
    EXPECT_EQ(file.is_float16(name), float16);
    EXPECT_EQ(file.shape(name), (std::vector<std::int64_t>{offsets.back(), kWidth}));
    for (std::size_t k = 0; k < job.item_ids.size(); ++k) {
      const auto rows = file.read_rows_f32(name, offsets[k], n_rows_of(k));
      EXPECT_EQ(rows.data, item_rows(k, layer, n_rows_of(k))) << name << " item " << k;
    }
  }
  for (const auto& id : job.item_ids) EXPECT_FALSE(fs::exists(job.run.item_dir(id) / "reps.h5")) << id;
}

void pack_round_trip(bool float16) {
  auto& comm = world();
  const io::RunDir run(shared_temp_dir(comm));
  const auto job = make_job(run);
  if (comm.rank() == 0) write_items(job, float16);
  comm.barrier();
  if (!io::parallel_hdf5()) {
    EXPECT_THROW(stages::pack_representations(job, comm), UsageError);
    return;
  }
  EXPECT_TRUE(stages::pack_representations(job, comm));
  const auto path = stages::packed_reps_path(run, job.model, job.checkpoint);
  struct stat before {};
  if (comm.rank() == 0) {
    check_packed(job, float16);
    ASSERT_EQ(::stat(path.c_str(), &before), 0);
  }
  EXPECT_FALSE(stages::pack_representations(job, comm));  // packed already: nothing to do
  if (comm.rank() == 0) {
    struct stat after {};
    ASSERT_EQ(::stat(path.c_str(), &after), 0);
    EXPECT_EQ(after.st_ino, before.st_ino);
    EXPECT_EQ(after.st_mtim.tv_nsec, before.st_mtim.tv_nsec);
    fs::remove_all(run.root());
  }
  comm.barrier();
}

TEST(PackMpiTest, Float32RowsLandInPlanOrderBitForBit) { pack_round_trip(false); }
TEST(PackMpiTest, Float16RowsAreCopiedAsTheyAre) { pack_round_trip(true); }

TEST(PackMpiTest, AMissingItemFileIsAnErrorOnEveryRankNamingIt) {
  auto& comm = world();
  const io::RunDir run(shared_temp_dir(comm));
  const auto job = make_job(run);
  if (comm.rank() == 0) {
    write_items(job, false);
    fs::remove(run.item_dir("item5") / "reps.h5");
  }
  comm.barrier();
  if (!io::parallel_hdf5()) GTEST_SKIP() << "built without parallel HDF5";
  try {
    stages::pack_representations(job, comm);
    ADD_FAILURE() << "no error";
  } catch (const CorruptDataError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("item5/reps.h5 is missing (item item5 of m/step-1)"), std::string::npos) << what;
  }
  comm.barrier();
  if (comm.rank() == 0) {
    EXPECT_FALSE(fs::exists(stages::packed_reps_path(run, job.model, job.checkpoint)));
    EXPECT_TRUE(fs::exists(run.item_dir("item0") / "reps.h5"));  // nothing removed
    fs::remove_all(run.root());
  }
  comm.barrier();
}

}  // namespace
}  // namespace ibzoo
