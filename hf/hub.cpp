// Hub cache lookups for the manifest: repo + revision -> a snapshot directory, before
// the plan is built (the rest of the pipeline sees plain model directories).
#include "hf/hub.h"

#include "errors/error.h"
#include "io/fs.h"

#include <algorithm>
#include <cstdlib>
#include <set>

namespace ibzoo::hf {

namespace fs = std::filesystem;

namespace {

const char* lookup(const EnvLookup& env, const char* name) {
  const char* v = env ? env(name) : std::getenv(name);
  return v && *v ? v : nullptr;
}

bool is_commit_hash(const std::string& s) {
  return s.size() == 40 && std::all_of(s.begin(), s.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

bool valid_repo(const std::string& repo) {
  if (repo.empty() || repo.front() == '/' || repo.back() == '/' || std::count(repo.begin(), repo.end(), '/') > 1) {
    return false;
  }
  for (std::size_t start = 0; start <= repo.size();) {
    const auto end = std::min(repo.find('/', start), repo.size());
    const auto part = repo.substr(start, end - start);
    if (part.empty() || part == "." || part == ".." || part.find("--") != std::string::npos) return false;
    start = end + 1;
  }
  return std::all_of(repo.begin(), repo.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.' || c == '/';
  });
}

// Valid revision names never climb out of refs/ (branch names may contain '/').
bool valid_revision(const std::string& rev) {
  if (rev.empty() || rev.front() == '/' || rev.find("..") != std::string::npos) return false;
  return std::all_of(rev.begin(), rev.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.' || c == '/';
  });
}

std::string available_revisions(const fs::path& repo_dir) {
  std::set<std::string> names;
  std::error_code ec;
  for (const auto& sub : {"refs", "snapshots"}) {
    if (!fs::is_directory(repo_dir / sub, ec)) continue;
    for (const auto& e : fs::recursive_directory_iterator(repo_dir / sub, ec)) {
      if (std::string(sub) == "snapshots" && e.path().parent_path() != repo_dir / sub) continue;
      if (std::string(sub) == "refs" && !e.is_regular_file(ec)) continue;
      names.insert(e.path().lexically_relative(repo_dir / sub).string());
    }
  }
  if (names.empty()) return "none";
  std::string out;
  std::size_t shown = 0;
  for (const auto& n : names) {
    if (shown++ == 12) {
      out += ", ... (" + std::to_string(names.size() - 12) + " more)";
      break;
    }
    out += (out.empty() ? "" : ", ") + n;
  }
  return out;
}

// Digits at s[pos...]; nullopt if none.
std::optional<std::int64_t> digits_at(const std::string& s, std::size_t pos, std::size_t* end = nullptr) {
  std::size_t i = pos;
  while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) ++i;
  if (i == pos || i - pos > 18) return std::nullopt;
  if (end) *end = i;
  return std::stoll(s.substr(pos, i - pos));
}

// The number after the first occurrence of `prefix` that is followed by digits.
std::optional<std::int64_t> number_after(const std::string& s, const std::string& prefix, std::size_t* end = nullptr) {
  for (auto at = s.find(prefix); at != std::string::npos; at = s.find(prefix, at + 1)) {
    if (const auto v = digits_at(s, at + prefix.size(), end)) return v;
  }
  return std::nullopt;
}

}  // namespace

fs::path hub_cache_dir(const EnvLookup& env, std::string* chosen_by) {
  auto choose = [&](const char* rule, const fs::path& p) {
    if (chosen_by) *chosen_by = rule;
    return p;
  };
  if (const char* v = lookup(env, "HF_HUB_CACHE")) return choose("HF_HUB_CACHE", v);
  if (const char* v = lookup(env, "HUGGINGFACE_HUB_CACHE")) return choose("HUGGINGFACE_HUB_CACHE", v);
  if (const char* v = lookup(env, "HF_HOME")) return choose("HF_HOME/hub", fs::path(v) / "hub");
  if (const char* v = lookup(env, "XDG_CACHE_HOME")) return choose("XDG_CACHE_HOME/huggingface/hub", fs::path(v) / "huggingface" / "hub");
  const char* home = lookup(env, "HOME");
  return choose("~/.cache/huggingface/hub", fs::path(home ? home : "/") / ".cache" / "huggingface" / "hub");
}

std::string hub_repo_folder(const std::string& repo) {
  std::string out = "models--";
  for (char c : repo) out += c == '/' ? std::string("--") : std::string(1, c);
  return out;
}

fs::path resolve_hub_revision(const fs::path& cache, const std::string& repo, const std::string& revision) {
  if (!valid_repo(repo)) {
    throw MissingInputError("hub repo '" + repo + "' is not a repo id of the form org/name (letters, digits, "
                            "'-', '_', '.')");
  }
  if (!valid_revision(revision)) {
    throw MissingInputError("hub repo '" + repo + "': revision '" + revision + "' is not a branch, tag or commit name");
  }
  const fs::path repo_dir = cache / hub_repo_folder(repo);
  std::error_code ec;
  if (!fs::is_directory(repo_dir, ec)) {
    throw MissingInputError("hub repo '" + repo + "' is not in the Hugging Face cache: " + repo_dir.string() +
                            " does not exist (cache: " + cache.string() + "). ibzoo never downloads; fetch it with "
                            "`huggingface-cli download " + repo + " --revision " + revision +
                            "` on a machine with network access, or set HF_HUB_CACHE / HF_HOME");
  }
  std::string commit = revision;
  const fs::path ref = repo_dir / "refs" / revision;
  if (!is_commit_hash(revision)) {
    if (!fs::is_regular_file(ref, ec)) {
      throw MissingInputError("hub repo '" + repo + "': revision '" + revision + "' is not in the cache: no " +
                              ref.string() + "; revisions there: " + available_revisions(repo_dir) +
                              ". ibzoo never downloads; fetch it with `huggingface-cli download " + repo +
                              " --revision " + revision + "`");
    }
    commit = io::read_file(ref, 4096);
    while (!commit.empty() && std::isspace(static_cast<unsigned char>(commit.back()))) commit.pop_back();
    if (!is_commit_hash(commit)) {
      throw MissingInputError(ref.string() + ": expected a 40-character commit hash (the hub cache's ref for "
                              "revision '" + revision + "'), got \"" + commit.substr(0, 60) + "\"");
    }
  }
  const fs::path snapshot = repo_dir / "snapshots" / commit;
  if (!fs::is_directory(snapshot, ec)) {
    throw MissingInputError("hub repo '" + repo + "': revision '" + revision + "'" +
                            (commit == revision ? std::string() : " (commit " + commit + ", from " + ref.string() + ")") +
                            " has no snapshot: " + snapshot.string() + " does not exist; revisions there: " +
                            available_revisions(repo_dir));
  }
  return snapshot;
}

RevisionInfo parse_revision_name(const std::string& name) {
  RevisionInfo info;
  for (const char* prefix : {"step", "step-", "step_", "checkpoint-", "checkpoint_", "ckpt-", "ckpt_", "iter_", "iter-"}) {
    if ((info.step = number_after(name, prefix))) break;
  }
  std::size_t end = 0;
  if (const auto n = number_after(name, "tokens", &end)) {
    double scale = 1;
    if (end < name.size()) {
      switch (name[end]) {
        case 'K': case 'k': scale = 1e3; break;
        case 'M': scale = 1e6; break;
        case 'B': case 'G': scale = 1e9; break;
        case 'T': scale = 1e12; break;
        default: break;
      }
    }
    info.tokens = static_cast<double>(*n) * scale;
  }
  return info;
}

}  // namespace ibzoo::hf
