#include "hf/safetensors.h"

#include "errors/check.h"
#include "errors/error.h"
#include "io/text.h"
#include "io/fs.h"

#include <nlohmann/json.hpp>

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <bit>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <fstream>
#include <set>

namespace ibzoo::hf {

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

constexpr int kMaxJsonDepth = 4;  // {"name": {"shape": [..]}} is depth 3

struct DTypeInfo {
  DType dtype;
  std::string_view name;
  std::size_t size;
};
constexpr DTypeInfo kDTypes[] = {
    {DType::F64, "F64", 8}, {DType::F32, "F32", 4}, {DType::F16, "F16", 2}, {DType::BF16, "BF16", 2},
    {DType::I64, "I64", 8}, {DType::I32, "I32", 4}, {DType::I16, "I16", 2}, {DType::I8, "I8", 1},
    {DType::U8, "U8", 1},   {DType::BOOL, "BOOL", 1},
};

const DTypeInfo& info(DType dtype) {
  for (const auto& i : kDTypes) {
    if (i.dtype == dtype) return i;
  }
  IBZOO_CHECK(false, "unknown dtype enum " << static_cast<int>(dtype));
}

[[noreturn]] void corrupt(const std::string& label, const std::string& what) {
  throw CorruptDataError(label + ": " + what +
                         "; the file is not a valid safetensors file (re-download or re-save it)");
}

// A JSON syntax error raised from inside the parser callback.
struct DuplicateKey {
  std::string key;
};
struct TooDeep {};

json parse_json_strict(std::string_view text, const std::string& label) {
  std::vector<std::set<std::string>> keys_stack;
  const json::parser_callback_t cb = [&](int depth, json::parse_event_t event, json& parsed) {
    if (depth > kMaxJsonDepth) throw TooDeep{};
    if (event == json::parse_event_t::object_start) {
      keys_stack.emplace_back();
    } else if (event == json::parse_event_t::object_end) {
      if (!keys_stack.empty()) keys_stack.pop_back();
    } else if (event == json::parse_event_t::key && !keys_stack.empty()) {
      const auto key = parsed.get<std::string>();
      if (!keys_stack.back().insert(key).second) throw DuplicateKey{key};
    }
    return true;
  };
  try {
    return json::parse(text.begin(), text.end(), cb);
  } catch (const DuplicateKey& d) {
    corrupt(label, "header JSON has the key \"" + d.key + "\" twice (duplicate keys are ambiguous)");
  } catch (const TooDeep&) {
    corrupt(label, "header JSON is nested deeper than a safetensors header can be");
  } catch (const json::exception& e) {
    corrupt(label, std::string("header is not valid JSON (") + e.what() + ")");
  }
}

std::vector<std::int64_t> parse_shape(const json& j, const std::string& where) {
  if (!j.is_array()) corrupt(where, "\"shape\" must be an array of non-negative integers, got " + j.dump());
  std::vector<std::int64_t> shape;
  for (const auto& d : j) {
    if (!d.is_number_integer() || d.get<std::int64_t>() < 0) {
      corrupt(where, "\"shape\" must be an array of non-negative integers, got " + j.dump());
    }
    shape.push_back(d.get<std::int64_t>());
  }
  return shape;
}

SafetensorsEntry parse_entry(const std::string& name, const json& j, std::uint64_t data_size,
                             const std::string& label) {
  const std::string where = label + ": tensor \"" + name + "\"";
  if (!j.is_object()) corrupt(where, "entry must be an object, got " + j.dump());
  for (const auto& [key, _] : j.items()) {
    if (key != "dtype" && key != "shape" && key != "data_offsets") {
      corrupt(where, "unexpected field \"" + key + "\" (expected dtype, shape, data_offsets)");
    }
  }
  if (!j.contains("dtype") || !j.contains("shape") || !j.contains("data_offsets")) {
    corrupt(where, "entry must have dtype, shape and data_offsets, got " + j.dump());
  }
  SafetensorsEntry e;
  e.name = name;
  const auto& jd = j.at("dtype");
  const auto dtype = jd.is_string() ? parse_dtype(jd.get<std::string>()) : std::nullopt;
  if (!dtype) corrupt(where, "unknown dtype " + jd.dump() + " (known: F64 F32 F16 BF16 I64 I32 I16 I8 U8 BOOL)");
  e.dtype = *dtype;
  e.shape = parse_shape(j.at("shape"), where);
  const auto& jo = j.at("data_offsets");
  if (!jo.is_array() || jo.size() != 2 || !jo[0].is_number_unsigned() || !jo[1].is_number_unsigned()) {
    corrupt(where, "\"data_offsets\" must be [begin, end] with non-negative integers, got " + jo.dump());
  }
  e.begin = jo[0].get<std::uint64_t>();
  e.end = jo[1].get<std::uint64_t>();
  if (e.begin > e.end || e.end > data_size) {
    corrupt(where, "data_offsets [" + std::to_string(e.begin) + ", " + std::to_string(e.end) +
                       "] out of range: the data section has " + std::to_string(data_size) +
                       " bytes (truncated file?)");
  }
  std::uint64_t n_bytes = info(e.dtype).size;
  for (const auto d : e.shape) {
    if (__builtin_mul_overflow(n_bytes, static_cast<std::uint64_t>(d), &n_bytes)) {
      corrupt(where, "shape " + j.at("shape").dump() + " overflows");
    }
  }
  if (n_bytes != e.end - e.begin) {
    corrupt(where, "dtype " + std::string(info(e.dtype).name) + " with shape " + j.at("shape").dump() + " needs " +
                       std::to_string(n_bytes) + " bytes but data_offsets span " +
                       std::to_string(e.end - e.begin) + " bytes (dtype/shape mismatch)");
  }
  return e;
}

// Owns a POSIX file descriptor.
struct UniqueFd {
  int fd = -1;
  explicit UniqueFd(int f) : fd(f) {}
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  ~UniqueFd() {
    if (fd >= 0) ::close(fd);
  }
};

}  // namespace

std::size_t dtype_size(DType dtype) { return info(dtype).size; }
std::string_view dtype_name(DType dtype) { return info(dtype).name; }
std::optional<DType> parse_dtype(std::string_view name) {
  for (const auto& i : kDTypes) {
    if (i.name == name) return i.dtype;
  }
  return std::nullopt;
}

std::int64_t TensorView::numel() const {
  std::int64_t n = 1;
  for (const auto d : shape) n *= d;
  return n;
}

SafetensorsHeader parse_safetensors_header(std::string_view text, std::uint64_t data_size_bytes,
                                           const std::string& label) {
  const json j = parse_json_strict(text, label);
  if (!j.is_object()) corrupt(label, "header must be a JSON object, got " + std::string(j.type_name()));
  SafetensorsHeader h;
  for (const auto& [key, value] : j.items()) {
    if (key == "__metadata__") {
      if (!value.is_object()) corrupt(label, "__metadata__ must be an object of strings");
      for (const auto& [mk, mv] : value.items()) {
        if (!mv.is_string()) corrupt(label, "__metadata__ \"" + mk + "\" must be a string, got " + mv.dump());
        h.metadata[mk] = mv.get<std::string>();
      }
      continue;
    }
    h.entries.push_back(parse_entry(key, value, data_size_bytes, label));
  }
  std::vector<const SafetensorsEntry*> by_offset;
  for (const auto& e : h.entries) by_offset.push_back(&e);
  std::sort(by_offset.begin(), by_offset.end(), [](const auto* a, const auto* b) {
    return a->begin != b->begin ? a->begin < b->begin : a->end < b->end;
  });
  for (std::size_t i = 1; i < by_offset.size(); ++i) {
    const auto* prev = by_offset[i - 1];
    const auto* cur = by_offset[i];
    if (cur->begin < prev->end) {
      corrupt(label, "tensors \"" + prev->name + "\" [" + std::to_string(prev->begin) + ", " +
                         std::to_string(prev->end) + ") and \"" + cur->name + "\" [" + std::to_string(cur->begin) +
                         ", " + std::to_string(cur->end) + ") overlap");
    }
  }
  std::sort(h.entries.begin(), h.entries.end(), [](const auto& a, const auto& b) { return a.name < b.name; });
  return h;
}

struct SafetensorsFile::Mapping {
  const std::byte* addr = nullptr;
  std::size_t size = 0;
  Mapping(const std::byte* a, std::size_t s) : addr(a), size(s) {}
  Mapping(const Mapping&) = delete;
  Mapping& operator=(const Mapping&) = delete;
  ~Mapping() {
    if (addr) ::munmap(const_cast<std::byte*>(addr), size);
  }
};

SafetensorsFile SafetensorsFile::open(const fs::path& path, const SafetensorsLimits& limits) {
  const std::string label = path.string();
  const UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.fd < 0) {
    if (errno == ENOENT) throw MissingInputError(label + ": no such safetensors file");
    throw MissingInputError(label + ": cannot open (" + std::strerror(errno) + ")");
  }
  struct stat st {};
  if (::fstat(fd.fd, &st) != 0 || !S_ISREG(st.st_mode)) throw MissingInputError(label + ": not a regular file");
  const auto file_size = static_cast<std::uint64_t>(st.st_size);
  if (file_size < 8) corrupt(label, "file has " + std::to_string(file_size) + " bytes, less than the 8-byte header length (truncated file)");

  void* addr = ::mmap(nullptr, file_size, PROT_READ, MAP_PRIVATE, fd.fd, 0);
  if (addr == MAP_FAILED) throw CorruptDataError(label + ": mmap failed (" + std::strerror(errno) + ")");
  SafetensorsFile f;
  f.path_ = path;
  f.mapping_ = std::make_shared<const Mapping>(static_cast<const std::byte*>(addr), file_size);
  const std::byte* base = f.mapping_->addr;

  std::uint64_t n_header = 0;
  for (int i = 7; i >= 0; --i) n_header = (n_header << 8) | std::to_integer<std::uint64_t>(base[i]);
  if (n_header > limits.max_header_bytes) {
    corrupt(label, "header length " + std::to_string(n_header) + " bytes exceeds the limit of " +
                       std::to_string(limits.max_header_bytes) + " bytes");
  }
  if (n_header > file_size - 8) {
    corrupt(label, "header length " + std::to_string(n_header) + " bytes but only " + std::to_string(file_size - 8) +
                       " bytes follow (truncated file)");
  }
  const std::string_view text(reinterpret_cast<const char*>(base + 8), n_header);
  const std::uint64_t data_size = file_size - 8 - n_header;
  auto header = parse_safetensors_header(text, data_size, label);
  const std::byte* data = base + 8 + n_header;
  for (auto& e : header.entries) {
    f.tensors_.push_back({std::move(e.name), e.dtype, std::move(e.shape),
                          std::span<const std::byte>(data + e.begin, e.end - e.begin)});
  }
  f.metadata_ = std::move(header.metadata);
  return f;
}

const TensorView* SafetensorsFile::find(std::string_view name) const {
  const auto it = std::lower_bound(tensors_.begin(), tensors_.end(), name,
                                   [](const TensorView& t, std::string_view n) { return t.name < n; });
  return it != tensors_.end() && it->name == name ? &*it : nullptr;
}

namespace {

bool is_plain_file_name(const std::string& name) {
  return !name.empty() && name != "." && name != ".." && name.find('/') == std::string::npos &&
         name.find('\\') == std::string::npos;
}

[[noreturn]] void no_safetensors(const fs::path& dir) {
  for (const char* pickle : {"pytorch_model.bin", "pytorch_model.bin.index.json", "model.pt", "model.ckpt"}) {
    if (fs::exists(dir / pickle)) {
      throw ModelError(dir.string() + ": has " + pickle +
                       " but no model.safetensors. ibzoo never loads pickle files (unpickling can run "
                       "arbitrary code). Convert once with transformers: "
                       "AutoModelForCausalLM.from_pretrained(dir).save_pretrained(dir, safe_serialization=True)");
    }
  }
  throw MissingInputError(dir.string() +
                          ": no model.safetensors or model.safetensors.index.json (expected a Hugging Face model "
                          "directory saved with save_pretrained)");
}

}  // namespace

WeightStore WeightStore::open_dir(const fs::path& dir, const SafetensorsLimits& limits) {
  if (!fs::is_directory(dir)) throw MissingInputError(dir.string() + ": model directory does not exist");
  WeightStore s;
  s.dir_ = dir;
  const auto index_path = dir / "model.safetensors.index.json";
  if (fs::exists(index_path)) {
    // An index lists one line per tensor (under 1 MB for the largest public models); the
    // limit keeps a wrong or hostile file from being read whole.
    constexpr std::uintmax_t kMaxIndexBytes = 16u << 20;
    std::error_code ec;
    const auto size = fs::file_size(index_path, ec);
    if (!ec && size > kMaxIndexBytes) {
      throw CorruptDataError(index_path.string() + ": the index is " + std::to_string(size) +
                             " bytes, over the limit of " + std::to_string(kMaxIndexBytes) + " bytes; is this the right file?");
    }
    std::ifstream in(index_path, std::ios::binary);
    const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    json j;
    try {
      j = json::parse(text);
    } catch (const json::exception& e) {
      throw CorruptDataError(index_path.string() + ": not valid JSON (" + e.what() + ")");
    }
    if (!j.is_object() || !j.contains("weight_map") || !j["weight_map"].is_object()) {
      throw CorruptDataError(index_path.string() + ": expected an object with \"weight_map\": {tensor: shard file}");
    }
    std::map<std::string, std::size_t> shard_idx;
    std::vector<std::pair<std::string, std::size_t>> wanted;
    for (const auto& [name, shard] : j["weight_map"].items()) {
      if (!shard.is_string() || !is_plain_file_name(shard.get<std::string>())) {
        throw CorruptDataError(index_path.string() + ": weight_map \"" + name +
                               "\" must name a shard file in the same directory, got " + shard.dump());
      }
      const auto file = shard.get<std::string>();
      if (!shard_idx.count(file)) {
        shard_idx[file] = s.files_.size();
        s.files_.push_back(SafetensorsFile::open(dir / file, limits));
      }
      wanted.emplace_back(name, shard_idx[file]);
    }
    for (const auto& [name, idx] : wanted) {
      const auto* t = s.files_[idx].find(name);
      if (!t) {
        throw CorruptDataError(index_path.string() + ": weight_map puts tensor \"" + name + "\" in " +
                               s.files_[idx].path().filename().string() +
                               " but that shard has no such tensor (incomplete download?)");
      }
      s.index_[name] = t;
    }
    return s;
  }
  if (!fs::exists(dir / "model.safetensors")) no_safetensors(dir);
  s.files_.push_back(SafetensorsFile::open(dir / "model.safetensors", limits));
  for (const auto& t : s.files_.back().tensors()) s.index_[t.name] = &t;
  return s;
}

const TensorView* WeightStore::find(std::string_view name) const {
  const auto it = index_.find(name);
  return it == index_.end() ? nullptr : it->second;
}

fs::path WeightStore::file_of(std::string_view name) const {
  for (const auto& f : files_) {
    if (f.find(name)) return f.path();
  }
  // Where a missing tensor should have been: the one file, or the index that maps names to shards.
  return files_.size() == 1 && !fs::exists(dir_ / "model.safetensors.index.json") ? files_.front().path()
                                                                                  : dir_ / "model.safetensors.index.json";
}

const TensorView& WeightStore::at(std::string_view name) const {
  const auto* t = find(name);
  if (!t) {
    // The nearest stored names show what the file has instead (e.g. another family's
    // names, or names without the base-model prefix).
    std::vector<std::pair<std::size_t, std::string>> near;
    for (const auto& [stored, _] : index_) near.emplace_back(io::edit_distance(std::string(name), stored), stored);
    std::sort(near.begin(), near.end());
    std::string found;
    for (std::size_t i = 0; i < near.size() && i < 3; ++i) found += (i ? ", \"" : "\"") + near[i].second + "\"";
    throw ModelError(file_of(name).string() + ": missing tensor \"" + std::string(name) + "\", which config.json's " +
                     "architecture needs; the file has " + std::to_string(index_.size()) +
                     (index_.size() == 1 ? " tensor" : " tensors") +
                     (found.empty() ? "" : ", the nearest names being " + found) +
                     " (the checkpoint does not match its config.json: check model_type and the weights' origin)");
  }
  return *t;
}

std::vector<std::string> WeightStore::names() const {
  std::vector<std::string> out;
  for (const auto& [name, _] : index_) out.push_back(name);
  return out;
}

std::uint64_t WeightStore::total_bytes() const {
  std::uint64_t n = 0;
  for (const auto& [_, t] : index_) n += t->data.size();
  return n;
}

void write_safetensors(const fs::path& path, const std::vector<TensorToWrite>& tensors,
                       const std::map<std::string, std::string>& metadata) {
  json header = json::object();
  std::uint64_t offset = 0;
  for (const auto& t : tensors) {
    std::uint64_t n_bytes = dtype_size(t.dtype);
    for (const auto d : t.shape) n_bytes *= static_cast<std::uint64_t>(d);
    IBZOO_CHECK(n_bytes == t.data.size(), t.name << ": " << t.data.size() << " bytes for " << n_bytes);
    IBZOO_CHECK(!header.contains(t.name), "duplicate tensor " << t.name);
    header[t.name] = {{"dtype", dtype_name(t.dtype)}, {"shape", t.shape}, {"data_offsets", {offset, offset + n_bytes}}};
    offset += n_bytes;
  }
  if (!metadata.empty()) header["__metadata__"] = metadata;
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');

  io::AtomicFile out(path);
  std::array<char, 8> len{};
  for (std::size_t i = 0; i < 8; ++i) len[i] = static_cast<char>((text.size() >> (8 * i)) & 0xff);
  out.write({len.data(), len.size()});
  out.write(text);
  for (const auto& t : tensors) out.write({reinterpret_cast<const char*>(t.data.data()), t.data.size()});
  out.commit();
}

}  // namespace ibzoo::hf
