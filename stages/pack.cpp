#include "stages/pack.h"

#include "analysis/check.h"
#include "analysis/error.h"
#include "io/fs.h"
#include "io/h5.h"
#include "io/log.h"
#include "io/state_h5.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <optional>

namespace ibzoo::stages {

namespace fs = std::filesystem;

namespace {

fs::path item_reps(const PackJob& job, std::size_t k) { return job.run.item_dir(job.item_ids[k]) / "reps.h5"; }

// Rank 0's look at the items' reps.h5 files: their layers, width, type and row counts,
// all checked against the first item's.
nlohmann::json inspect(const PackJob& job, const fs::path& final_path) {
  if (fs::exists(final_path)) return {{"skip", true}};
  if (job.item_ids.empty()) throw UsageError("pack: " + job.model + "/" + job.checkpoint + " has no items");
  nlohmann::json plan = {{"skip", false}};
  std::vector<int> layers;
  std::int64_t d = -1;
  bool float16 = false;
  std::vector<std::int64_t> rows;
  for (std::size_t k = 0; k < job.item_ids.size(); ++k) {
    const auto path = item_reps(job, k);
    if (!fs::exists(path)) {
      throw CorruptDataError(path.string() + " is missing (item " + job.item_ids[k] + " of " + job.model + "/" +
                             job.checkpoint + "), so the checkpoint's representations cannot be packed: delete the "
                             "item's directory to recompute it");
    }
    const auto file = io::H5File::open_read(path);
    std::vector<int> item_layers;
    for (const auto& name : file.list("/")) {
      if (name.rfind("layer_", 0) == 0) item_layers.push_back(std::stoi(name.substr(6)));
    }
    if (item_layers.empty()) throw CorruptDataError(path.string() + ": no /layer_NNN datasets");
    const auto first = io::layer_group(item_layers.front());
    const auto shape = file.shape(first);
    if (shape.size() != 2) throw CorruptDataError(path.string() + ": " + first + " is not 2-D");
    if (k == 0) {
      layers = item_layers;
      d = shape[1];
      float16 = file.is_float16(first);
    } else if (item_layers != layers || shape[1] != d || file.is_float16(first) != float16) {
      throw CorruptDataError(path.string() + ": its layers, width or dtype differ from those of " + item_reps(job, 0).string() +
                             "; the items were computed with different storage settings: delete the checkpoint's items "
                             "to recompute them");
    }
    for (int l : item_layers) {
      if (file.shape(io::layer_group(l)) != shape) {
        throw CorruptDataError(path.string() + ": " + io::layer_group(l) + " has another shape than " + first);
      }
    }
    rows.push_back(shape[0]);
  }
  fs::create_directories(final_path.parent_path());
  plan["layers"] = layers;
  plan["d"] = d;
  plan["float16"] = float16;
  plan["rows"] = rows;
  plan["temp"] = io::temp_path_for(final_path).string();
  return plan;
}

void remove_item_files(const PackJob& job) {
  if (job.keep_item_files) return;
  for (std::size_t k = 0; k < job.item_ids.size(); ++k) {
    std::error_code ec;
    fs::remove(item_reps(job, k), ec);
  }
}

}  // namespace

fs::path packed_reps_path(const io::RunDir& run, const std::string& model, const std::string& checkpoint) {
  return run.root() / "reps" / model / (checkpoint + ".h5");
}

bool pack_representations(const PackJob& job, const io::Communicator& comm) {
  IBZOO_CHECK(job.documents.size() == job.item_ids.size(), job.documents.size() << " document ranges for " << job.item_ids.size() << " items");
  const auto final_path = packed_reps_path(job.run, job.model, job.checkpoint);
  // Rank 0 decides; an error there reaches every rank instead of leaving them waiting.
  std::string text;
  if (comm.rank() == 0) {
    try {
      text = inspect(job, final_path).dump();
    } catch (const std::exception& e) {
      text = nlohmann::json{{"error", e.what()}}.dump();
    }
  }
  comm.broadcast(text);
  const auto plan = nlohmann::json::parse(text);
  if (plan.contains("error")) throw CorruptDataError(plan["error"].get<std::string>());
  if (plan["skip"].get<bool>()) {
    if (comm.rank() == 0) remove_item_files(job);  // left over if a pack was killed after its rename
    return false;
  }
  const auto layers = plan["layers"].get<std::vector<int>>();
  const auto d = plan["d"].get<std::int64_t>();
  const bool float16 = plan["float16"].get<bool>();
  const auto rows = plan["rows"].get<std::vector<std::int64_t>>();
  const fs::path temp = plan["temp"].get<std::string>();
  const auto n_items = static_cast<std::int64_t>(rows.size());
  std::vector<std::int64_t> offsets{0};
  for (const auto r : rows) offsets.push_back(offsets.back() + r);

  auto file = io::H5File::create_collective(temp, comm);
  for (int l : layers) {
    file.create_fixed_rows(io::layer_group(l), offsets.back(), d,
                           float16 ? io::H5File::Type::kFloat16 : io::H5File::Type::kFloat32);
  }
  file.create_fixed_rows("/item_offsets", n_items + 1, 1, io::H5File::Type::kInt64);
  file.create_fixed_rows("/item_documents", n_items, 2, io::H5File::Type::kInt64);
  {
    const bool root = comm.rank() == 0;
    std::vector<std::int64_t> documents;
    for (const auto& [begin, end] : job.documents) documents.insert(documents.end(), {begin, end});
    file.write_rows("/item_offsets", std::span<const std::int64_t>(offsets).first(root ? offsets.size() : 0), 0,
                    root ? n_items + 1 : 0);
    file.write_rows("/item_documents", std::span<const std::int64_t>(documents).first(root ? documents.size() : 0), 0,
                    root ? n_items : 0);
  }
  // Round r: rank k copies item r x ranks + k, chunk_rows rows per collective write (so a
  // rank holds one chunk of one layer, not an item's layer). Every rank makes as many
  // writes as the round's longest item needs; one whose item is shorter, or that has no
  // item, takes part with none.
  const auto n_ranks = static_cast<std::int64_t>(comm.size());
  const auto chunk = std::max<std::int64_t>(1, job.chunk_rows);
  for (std::int64_t round = 0; round * n_ranks < n_items; ++round) {
    const auto first = round * n_ranks;
    const auto longest = *std::max_element(rows.begin() + first, rows.begin() + std::min(n_items, first + n_ranks));
    const auto k = first + comm.rank();
    const bool mine = k < n_items;
    std::optional<io::H5File> source;
    if (mine) source.emplace(io::H5File::open_read(item_reps(job, static_cast<std::size_t>(k))));
    const auto n = mine ? rows[static_cast<std::size_t>(k)] : 0;
    const auto begin = mine ? offsets[static_cast<std::size_t>(k)] : 0;
    for (int l : layers) {
      const auto name = io::layer_group(l);
      for (std::int64_t at = 0; at < longest; at += chunk) {
        const auto count = std::clamp<std::int64_t>(n - at, 0, chunk);
        if (float16) {
          const auto bits = count > 0 ? source->read_rows_f16_bits(name, at, count) : std::vector<std::uint16_t>{};
          file.write_rows(name, std::span<const std::uint16_t>(bits), count > 0 ? begin + at : 0, count);
        } else {
          const auto values = count > 0 ? source->read_rows_f32(name, at, count).data : std::vector<float>{};
          file.write_rows(name, std::span<const float>(values), count > 0 ? begin + at : 0, count);
        }
      }
    }
  }
  file.close();
  comm.barrier();
  if (comm.rank() == 0) {
    io::commit_file(temp, final_path);
    remove_item_files(job);
    io::log_info("pack: " + std::to_string(n_items) + " items, " + std::to_string(offsets.back()) + " tokens x " +
                 std::to_string(layers.size()) + " layers -> " + final_path.string());
  }
  comm.barrier();
  return true;
}

}  // namespace ibzoo::stages
