// The manifest's slurm: section: every problem at once, and its JSON round trip.
#include "slurm/config.h"

#include "errors/error.h"
#include "io/text.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <regex>
#include <sstream>

namespace ibzoo::slurm {

using io::join;

namespace {

const std::vector<std::string> kKnownKeys = {
    "partition",     "account",        "qos",         "time",           "nodes",
    "ntasks_per_node", "gpus_per_node", "cpus_per_task", "mem",          "array_throttle",
    "items_per_task", "max_array_size", "launcher",    "extra_flags",    "signal_grace_s"};

std::vector<std::string> split_words(const std::string& text) {
  std::istringstream is(text);
  std::vector<std::string> words;
  for (std::string w; is >> w;) words.push_back(w);
  return words;
}

bool has_control_chars(const std::string& s) {
  return std::any_of(s.begin(), s.end(), [](char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; });
}

// Collects "FILE:LINE: slurm.KEY: message" errors while reading one key at a time.
class SectionReader {
 public:
  SectionReader(const std::string& path, std::vector<std::string>& errors) : path_(path), errors_(errors) {}

  void error(const YAML::Node& node, const std::string& key, const std::string& message) {
    std::ostringstream os;
    os << path_ << ":" << node.Mark().line + 1 << ": slurm." << key << ": " << message;
    errors_.push_back(os.str());
  }

  // A string without control characters; `pattern` (if given) must match the whole value.
  void text(const YAML::Node& node, const std::string& key, std::string& out,
            const std::string& pattern = "", const std::string& expected = "") {
    if (!node.IsScalar()) return error(node, key, "expected a string, got a " + kind(node));
    const auto value = node.Scalar();
    if (value.empty()) return error(node, key, "expected a non-empty string; remove the key to use the cluster default");
    if (has_control_chars(value)) return error(node, key, "contains a control character (newline, tab, ...)");
    if (!pattern.empty() && !std::regex_match(value, std::regex(pattern))) {
      return error(node, key, "expected " + expected + ", got \"" + value + "\"");
    }
    out = value;
  }

  void integer(const YAML::Node& node, const std::string& key, int& out, int min, int max) {
    const std::string value = node.IsScalar() ? node.Scalar() : "";
    if (!node.IsScalar() || !std::regex_match(value, std::regex("[+-]?[0-9]{1,9}"))) {
      return error(node, key, "expected an integer in [" + std::to_string(min) + ", " + std::to_string(max) +
                                  "], got " + (node.IsScalar() ? "\"" + value + "\"" : "a " + kind(node)));
    }
    const int v = std::stoi(value);
    if (v < min || v > max) {
      return error(node, key, "expected an integer in [" + std::to_string(min) + ", " + std::to_string(max) +
                                  "], got " + value);
    }
    out = v;
  }

  static std::string kind(const YAML::Node& node) {
    if (node.IsMap()) return "map";
    if (node.IsSequence()) return "list";
    if (node.IsNull()) return "null value";
    return "scalar";
  }

 private:
  const std::string& path_;
  std::vector<std::string>& errors_;
};

// Slurm time formats: M, M:S, H:M:S, D-H, D-H:M, D-H:M:S, or UNLIMITED/infinite.
const char* const kTimePattern =
    R"(([0-9]+(:[0-9]{1,2}){0,2})|([0-9]+-[0-9]{1,2}(:[0-9]{1,2}){0,2})|UNLIMITED|unlimited|INFINITE|infinite)";
const char* const kMemPattern = R"([0-9]+[KMGT]?)";
const char* const kNamePattern = R"([A-Za-z0-9_.,:@+-]+)";

void read_key(SectionReader& r, const std::string& key, const YAML::Node& v, SlurmConfig& c) {
  const std::string name_expected = "a Slurm name (letters, digits, _ . , : @ + -)";
  if (key == "partition") return r.text(v, key, c.partition, kNamePattern, name_expected);
  if (key == "account") return r.text(v, key, c.account, kNamePattern, name_expected);
  if (key == "qos") return r.text(v, key, c.qos, kNamePattern, name_expected);
  if (key == "time") {
    return r.text(v, key, c.time, kTimePattern, "a Slurm time limit such as \"02:00:00\" or \"1-12:00:00\"");
  }
  if (key == "mem") return r.text(v, key, c.mem, kMemPattern, "a memory size such as \"16G\" or \"4000M\"");
  if (key == "nodes") return r.integer(v, key, c.nodes, 1, 100000);
  if (key == "ntasks_per_node") return r.integer(v, key, c.ntasks_per_node, 1, 100000);
  if (key == "gpus_per_node") return r.integer(v, key, c.gpus_per_node, 0, 1024);
  if (key == "cpus_per_task") return r.integer(v, key, c.cpus_per_task, 1, 100000);
  if (key == "array_throttle") return r.integer(v, key, c.array_throttle, 0, 1000000);
  if (key == "items_per_task") return r.integer(v, key, c.items_per_task, 1, 100000000);
  if (key == "max_array_size") return r.integer(v, key, c.max_array_size, 1, 100000000);
  if (key == "signal_grace_s") return r.integer(v, key, c.signal_grace_s, 0, 65535);
  if (key == "launcher") {
    std::string text;
    r.text(v, key, text);
    if (!text.empty()) c.launcher = split_words(text);
    return;
  }
  if (key == "extra_flags") {
    if (!v.IsSequence()) return r.error(v, key, "expected a list of sbatch options, got a " + SectionReader::kind(v));
    std::vector<std::string> flags;
    for (const auto& item : v) {
      std::string flag;
      r.text(item, key, flag, R"(--?[A-Za-z].*)", "an sbatch option starting with '-', e.g. \"--constraint=a100\"");
      if (!flag.empty()) flags.push_back(flag);
    }
    c.extra_flags = flags;
  }
}

}  // namespace

SlurmSection parse_slurm_section(const YAML::Node& slurm, const std::string& path_manifest) {
  SlurmSection section;
  if (!slurm.IsDefined() || slurm.IsNull()) return section;
  SectionReader reader(path_manifest, section.errors);
  if (!slurm.IsMap()) {
    reader.error(slurm, "", "expected a map of Slurm settings, got a " + SectionReader::kind(slurm));
    return section;
  }
  for (const auto& kv : slurm) {
    const auto key = kv.first.as<std::string>();
    if (std::find(kKnownKeys.begin(), kKnownKeys.end(), key) == kKnownKeys.end()) {
      reader.error(kv.first, key, "unknown key; known keys: " + join(kKnownKeys, ", "));
      continue;
    }
    read_key(reader, key, kv.second, section.config);
  }
  return section;
}

nlohmann::json to_json(const SlurmConfig& c) {
  return {{"partition", c.partition},         {"account", c.account},
          {"qos", c.qos},                     {"time", c.time},
          {"nodes", c.nodes},                 {"ntasks_per_node", c.ntasks_per_node},
          {"gpus_per_node", c.gpus_per_node}, {"cpus_per_task", c.cpus_per_task},
          {"mem", c.mem},                     {"array_throttle", c.array_throttle},
          {"items_per_task", c.items_per_task}, {"max_array_size", c.max_array_size},
          {"launcher", c.launcher},           {"extra_flags", c.extra_flags},
          {"signal_grace_s", c.signal_grace_s}};
}

SlurmConfig slurm_config_from_json(const nlohmann::json& j) {
  SlurmConfig c;
  if (j.is_null() || (j.is_object() && j.empty())) return c;
  try {
    c.partition = j.value("partition", c.partition);
    c.account = j.value("account", c.account);
    c.qos = j.value("qos", c.qos);
    c.time = j.value("time", c.time);
    c.nodes = j.value("nodes", c.nodes);
    c.ntasks_per_node = j.value("ntasks_per_node", c.ntasks_per_node);
    c.gpus_per_node = j.value("gpus_per_node", c.gpus_per_node);
    c.cpus_per_task = j.value("cpus_per_task", c.cpus_per_task);
    c.mem = j.value("mem", c.mem);
    c.array_throttle = j.value("array_throttle", c.array_throttle);
    c.items_per_task = j.value("items_per_task", c.items_per_task);
    c.max_array_size = j.value("max_array_size", c.max_array_size);
    c.launcher = j.value("launcher", c.launcher);
    c.extra_flags = j.value("extra_flags", c.extra_flags);
    c.signal_grace_s = j.value("signal_grace_s", c.signal_grace_s);
  } catch (const nlohmann::json::exception& e) {
    throw ManifestError(std::string("manifest JSON: slurm section is malformed (") + e.what() +
                        "); regenerate it from the YAML manifest");
  }
  return c;
}

// ---------------------------------------------------------------------------------------
// Slices and arrays
// ---------------------------------------------------------------------------------------

}  // namespace ibzoo::slurm
