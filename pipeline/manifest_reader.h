// Inside pipeline/ only: the manifest's YAML reader, which collects every problem of
// one manifest file (file:line) instead of stopping at the first; manifest.cpp's
// section readers go through it.
#pragma once

#include "io/text.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <filesystem>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace ibzoo::pipeline::manifest_parts {

namespace fs = std::filesystem;

inline std::string quoted(const YAML::Node& n) {
  if (n.IsScalar()) return "\"" + n.Scalar() + "\"";
  if (n.IsSequence()) return "a list";
  if (n.IsMap()) return "a mapping";
  return "nothing";
}

// Collects every problem of one manifest file; each reading helper records an
// error and returns a default instead of throwing, so that all errors are seen.
class Reader {
 public:
  Reader(fs::path file, fs::path base) : file_(std::move(file)), base_(std::move(base)) {}

  void error(const YAML::Node& at, const std::string& message) {
    const int line = at.IsDefined() ? at.Mark().line + 1 : 0;
    errors_.push_back(file_.string() + ":" + std::to_string(line) + ": " + message);
  }
  void error_line(int line, const std::string& message) {
    errors_.push_back(file_.string() + ":" + std::to_string(line) + ": " + message);
  }
  // An error already formatted as "FILE:LINE: message" (from another section's parser).
  void add_formatted(std::string message) { errors_.push_back(std::move(message)); }
  const std::vector<std::string>& errors() const { return errors_; }

  // Reports keys of `map` not in `allowed`, suggesting the nearest allowed key.
  void check_keys(const YAML::Node& map, const std::string& section, const std::vector<std::string>& allowed) {
    if (!map.IsDefined() || map.IsNull()) return;
    if (!map.IsMap()) {
      error(map, "'" + section + "' must be a mapping, got " + quoted(map));
      return;
    }
    for (const auto& kv : map) {
      const auto key = kv.first.Scalar();
      if (std::find(allowed.begin(), allowed.end(), key) != allowed.end()) continue;
      std::string best;
      std::size_t best_d = 4;
      for (const auto& a : allowed) {
        const auto d = io::edit_distance(key, a);
        if (d < best_d) {
          best_d = d;
          best = a;
        }
      }
      std::string message = "unknown key '" + key + "' in " + section;
      message += best.empty() ? " (allowed: " + join(allowed) + ")" : "; did you mean '" + best + "'?";
      error(kv.first, message);
    }
  }

  template <typename T>
  T get(const YAML::Node& map, const std::string& key, T fallback, const char* expected) {
    const auto n = map[key];
    if (!n.IsDefined() || n.IsNull()) return fallback;
    try {
      if (!n.IsScalar()) throw YAML::Exception(n.Mark(), "not a scalar");
      return n.as<T>();
    } catch (const YAML::Exception&) {
      error(n, "'" + key + "' must be " + expected + ", got " + quoted(n));
      return fallback;
    }
  }
  std::string str(const YAML::Node& map, const std::string& key, std::string fallback) {
    return get<std::string>(map, key, std::move(fallback), "a string");
  }
  std::int64_t integer(const YAML::Node& map, const std::string& key, std::int64_t fallback, std::int64_t min) {
    const auto v = get<std::int64_t>(map, key, fallback, "an integer");
    if (v < min) error(map[key], "'" + key + "' must be at least " + std::to_string(min) + ", got " + std::to_string(v));
    return v;
  }
  bool boolean(const YAML::Node& map, const std::string& key, bool fallback) {
    return get<bool>(map, key, fallback, "true or false");
  }
  std::string choice(const YAML::Node& map, const std::string& key, std::string fallback,
                     const std::vector<std::string>& allowed) {
    auto v = str(map, key, fallback);
    if (std::find(allowed.begin(), allowed.end(), v) == allowed.end()) {
      error(map[key], "'" + key + "' must be one of " + join(allowed) + ", got \"" + v + "\"");
      return fallback;
    }
    return v;
  }
  // "all" or a list of integers >= 0; empty vector means all.
  std::vector<int> layer_list(const YAML::Node& map, const std::string& key) {
    const auto n = map[key];
    if (!n.IsDefined() || n.IsNull() || (n.IsScalar() && n.Scalar() == "all")) return {};
    std::vector<int> out;
    if (n.IsSequence()) {
      for (const auto& e : n) {
        try {
          const int v = e.as<int>();
          if (v < 0) throw YAML::Exception(e.Mark(), "negative");
          out.push_back(v);
        } catch (const YAML::Exception&) {
          error(e, "'" + key + "' must be a list of integers >= 0 or \"all\", got " + quoted(e));
        }
      }
      return out;
    }
    error(n, "'" + key + "' must be a list of integers or \"all\", got " + quoted(n));
    return {};
  }
  std::vector<std::string> string_list(const YAML::Node& map, const std::string& key, std::vector<std::string> fallback) {
    const auto n = map[key];
    if (!n.IsDefined() || n.IsNull()) return fallback;
    if (n.IsScalar()) return {n.Scalar()};
    std::vector<std::string> out;
    if (!n.IsSequence()) {
      error(n, "'" + key + "' must be a list of strings, got " + quoted(n));
      return fallback;
    }
    for (const auto& e : n) {
      if (e.IsScalar()) {
        out.push_back(e.Scalar());
      } else {
        error(e, "'" + key + "' entries must be strings, got " + quoted(e));
      }
    }
    return out;
  }

  // Resolves a path against the manifest directory; it must exist (when
  // must_exist) and, after resolving symlinks, lie inside one of the roots.
  fs::path input_path(const YAML::Node& at, const std::string& key, const std::string& value, bool must_exist) {
    if (value.empty()) {
      error(at, "'" + key + "' must be a non-empty path");
      return {};
    }
    const fs::path p = fs::path(value).is_absolute() ? fs::path(value) : base_ / value;
    std::error_code ec;
    const auto resolved = fs::weakly_canonical(p, ec);
    if (must_exist && !fs::exists(resolved, ec)) {
      error(at, "'" + key + "': " + p.string() + " does not exist");
      return resolved;
    }
    const int line = at.IsDefined() ? at.Mark().line + 1 : 0;
    pending_root_checks_.push_back({line, key, resolved, ""});
    // A model directory's files are read too: a symlink among them must not lead out of the roots.
    if (fs::is_directory(resolved, ec)) {
      for (const auto& entry : fs::directory_iterator(resolved, ec)) {
        if (!entry.is_symlink(ec)) continue;
        pending_root_checks_.push_back({line, key, fs::weakly_canonical(entry.path(), ec), entry.path().string()});
      }
    }
    return resolved;
  }

  // Root containment is checked once `roots:` is known.
  void check_roots(const std::vector<fs::path>& roots) {
    for (const auto& [line, key, path, via] : pending_root_checks_) {
      const fs::path& target = path;  // clang 14 cannot capture a structured binding
      const bool inside = std::any_of(roots.begin(), roots.end(), [&](const fs::path& root) {
        const auto rel = target.lexically_relative(root);
        return !rel.empty() && *rel.begin() != "..";
      });
      if (!inside) {
        std::string allowed;
        for (const auto& r : roots) allowed += (allowed.empty() ? "" : ", ") + r.string();
        error_line(line, "'" + key + "': " + (via.empty() ? "" : "symlink " + via + " -> ") + path.string() +
                             " is outside the declared roots (" + allowed + "); add its directory to 'roots:'");
      }
    }
  }

  const fs::path& base() const { return base_; }
  const fs::path& file() const { return file_; }

  static std::string join(const std::vector<std::string>& v) {
    std::string out;
    for (const auto& s : v) out += (out.empty() ? "" : ", ") + s;
    return out;
  }

 private:
  struct RootCheck {
    int line;
    std::string key;
    fs::path path;
    std::string via;  // the symlink inside a directory input that leads to `path`, if any
  };
  fs::path file_;
  fs::path base_;
  std::vector<std::string> errors_;
  std::vector<RootCheck> pending_root_checks_;
};

}  // namespace ibzoo::pipeline::manifest_parts
