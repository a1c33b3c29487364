// Run directory identity and claim (pipeline/run_identity.h): decides, before anything
// is written, whether this manifest's run may use its run directory.
#include "pipeline/run_identity.h"

#include "errors/error.h"
#include "io/fs.h"
#include "io/log.h"
#include "io/run_dir.h"

#include <algorithm>
#include <map>
#include <set>

namespace ibzoo::pipeline {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

constexpr int kIdentityFormat = 1;

fs::path identity_path(const fs::path& run_dir) { return run_dir / "identity.json"; }

json settings_of(const Manifest& m) {
  const auto all = to_json(m);
  json text = all["text"];
  text.erase("documents_per_shard");  // how the sample is cut into items, not what it is
  json analysis = all["analysis"];
  analysis.erase("report");
  return {{"text", text},
          {"preference", all["preference"]},
          {"estimator", all["estimator"]},
          {"compute", {{"dtype", m.compute.dtype}, {"device", m.compute.device}}},
          {"analysis", analysis}};
}

// "/estimator/orders/1" -> "estimator.orders[1]"
std::string dotted(const std::string& pointer) {
  std::string out;
  std::size_t pos = 1;
  while (pos <= pointer.size()) {
    const auto slash = std::min(pointer.find('/', pos), pointer.size());
    const auto part = pointer.substr(pos, slash - pos);
    const bool index = !part.empty() && part.find_first_not_of("0123456789") == std::string::npos;
    out += index ? "[" + part + "]" : (out.empty() ? "" : ".") + part;
    pos = slash + 1;
  }
  return out;
}

std::string shown(const json& v) { return v.is_null() ? "(none)" : v.dump(); }

// One line per leaf that differs between two JSON values, under `prefix`.
void diff_values(const json& recorded, const json& wanted, const std::string& prefix, std::vector<std::string>& out) {
  const auto a = recorded.flatten();
  const auto b = wanted.flatten();
  std::set<std::string> keys;
  for (const auto& [k, _] : a.items()) keys.insert(k);
  for (const auto& [k, _] : b.items()) keys.insert(k);
  for (const auto& k : keys) {
    const json va = a.contains(k) ? a[k] : json();
    const json vb = b.contains(k) ? b[k] : json();
    if (va == vb) continue;
    const auto name = dotted(k);
    out.push_back(prefix + (prefix.empty() || name.empty() ? "" : ".") + name + ": " + shown(va) +
                  " in the run directory, " + shown(vb) + " in the manifest");
  }
}

void diff_models(const json& recorded, const json& wanted, IdentityDiff& d) {
  for (const auto& [id, model] : recorded.items()) {
    if (!wanted.contains(id)) {
      d.removed.push_back("model '" + id + "' (" + std::to_string(model["checkpoints"].size()) + " checkpoint(s))");
      continue;
    }
    const auto& other = wanted[id];
    json a = model, b = other;
    a.erase("checkpoints");
    b.erase("checkpoints");
    diff_values(a, b, "model '" + id + "'", d.changed);
    for (const auto& [name, ckpt] : model["checkpoints"].items()) {
      if (!other["checkpoints"].contains(name)) {
        d.removed.push_back("checkpoint '" + id + "/" + name + "'");
      } else {
        diff_values(ckpt, other["checkpoints"][name], "checkpoint '" + id + "/" + name + "'", d.changed);
      }
    }
    for (const auto& [name, _] : other["checkpoints"].items()) {
      if (!model["checkpoints"].contains(name)) d.added.push_back("checkpoint '" + id + "/" + name + "'");
    }
  }
  for (const auto& [id, model] : wanted.items()) {
    if (!recorded.contains(id)) {
      d.added.push_back("model '" + id + "' (" + std::to_string(model["checkpoints"].size()) + " checkpoint(s))");
    }
  }
}

void diff_benchmarks(const json& recorded, const json& wanted, IdentityDiff& d) {
  std::map<std::string, json> a, b;
  for (const auto& x : recorded) a[x.value("file", "")] = x;
  for (const auto& x : wanted) b[x.value("file", "")] = x;
  for (const auto& [file, x] : a) {
    if (!b.contains(file)) {
      d.removed.push_back("benchmark file " + file);
    } else {
      diff_values(x, b[file], "benchmark " + file, d.changed);
    }
  }
  for (const auto& [file, _] : b) {
    if (!a.contains(file)) d.added.push_back("benchmark file " + file);
  }
}

std::string bullet_list(const std::vector<std::string>& lines) {
  std::string s;
  for (const auto& l : lines) s += "\n  " + l;
  return s;
}

std::string where_results_are(const fs::path& run_dir) {
  std::error_code ec;
  if (fs::exists(run_dir / "results" / "metrics.csv", ec)) return "its results are in " + (run_dir / "results").string();
  return "its finished items are in " + (run_dir / "items").string();
}

std::string lock_scope(const ClaimOptions& options) {
  if (!options.slice) return "run";
  return "slice-" + std::to_string(options.slice->first) + "-of-" + std::to_string(options.slice->second);
}

// Rank 0's part of claim_run_dir. Returns the problem kind ("usage" or "error") and
// message, or an empty kind on success.
std::pair<std::string, std::string> claim_on_root(const Manifest& manifest, const ClaimOptions& options,
                                                  RunDirClaim& claim) {
  const auto& run_dir = manifest.run_dir;
  if (auto p = io::RunDir(run_dir).foreign_directory_problem(); !p.empty()) return {"usage", p};
  const auto wanted = study_identity(manifest);
  // Checked before the lock, so that a refused run writes nothing at all; checked again
  // under the lock, since a concurrent run may have extended the study meanwhile.
  auto check = [&]() -> std::optional<IdentityDiff> {
    const auto recorded = recorded_identity(run_dir);
    if (!recorded) return std::nullopt;
    return compare_identity(*recorded, wanted);
  };
  if (auto d = check()) {
    if (auto p = identity_problem(manifest, *d); !p.empty()) return {"usage", p};
  }
  io::LockOptions lock_options;
  lock_options.scope = lock_scope(options);
  lock_options.extracts = options.extracts;
  lock_options.command = options.command;
  std::string refusal;
  claim.lock = io::RunLock::acquire(run_dir, lock_options, &refusal);
  if (!claim.lock) return {"error", refusal};
  const auto d = check();
  if (d) {
    if (auto p = identity_problem(manifest, *d); !p.empty()) {
      claim.lock.reset();
      return {"usage", p};
    }
    claim.added = d->added;
  }
  if (!d || !d->same()) io::write_file_atomic(identity_path(run_dir), wanted.dump(2) + "\n");
  return {"", ""};
}

}  // namespace

json study_identity(const Manifest& m) {
  json models = json::object();
  for (const auto& model : m.models) {
    json checkpoints = json::object();
    for (const auto& c : model.checkpoints) {
      checkpoints[c.name] = {{"step", c.step}, {"tokens", c.tokens}, {"path", c.path.string()}};
    }
    models[model.id] = {{"family", model.family},
                        {"n_parameters", model.n_parameters ? json(*model.n_parameters) : json()},
                        {"tokenizer", model.tokenizer.string()},
                        {"checkpoints", checkpoints}};
  }
  json benchmarks = json::array();
  for (const auto& b : m.benchmarks) benchmarks.push_back({{"file", b.file.string()}, {"format", b.format}, {"normalise", b.normalise}});
  return {{"format", kIdentityFormat}, {"study", m.study}, {"settings", settings_of(m)}, {"models", models},
          {"benchmarks", benchmarks}};
}

IdentityDiff compare_identity(const json& recorded, const json& wanted) {
  IdentityDiff d;
  d.recorded_study = recorded.value("study", "");
  d.wanted_study = wanted.value("study", "");
  diff_values(recorded.value("settings", json::object()), wanted.value("settings", json::object()), "", d.changed);
  diff_models(recorded.value("models", json::object()), wanted.value("models", json::object()), d);
  diff_benchmarks(recorded.value("benchmarks", json::array()), wanted.value("benchmarks", json::array()), d);
  return d;
}

std::optional<json> recorded_identity(const fs::path& run_dir) {
  std::error_code ec;
  const auto path = identity_path(run_dir);
  if (fs::exists(path, ec)) {
    try {
      return json::parse(io::read_file(path, 1 << 26));
    } catch (const json::exception& e) {
      throw CorruptDataError(path.string() + ": not valid JSON (" + e.what() +
                             "); it records which study this run directory holds: restore it, or delete it to "
                             "take the identity from manifest.json");
    }
  }
  const auto manifest_json = run_dir / "manifest.json";
  if (!fs::exists(manifest_json, ec)) return std::nullopt;
  try {
    return study_identity(manifest_from_json(json::parse(io::read_file(manifest_json, 1 << 26))));
  } catch (const json::exception& e) {
    throw CorruptDataError(manifest_json.string() + ": unreadable (" + e.what() +
                           "); it records which study this run directory holds");
  }
}

std::string identity_problem(const Manifest& manifest, const IdentityDiff& d) {
  const auto& run_dir = manifest.run_dir;
  const auto fresh = fresh_run_dir(run_dir);
  const std::string use_fresh = "run it in another run directory, e.g. --run-dir " + fresh.string() +
                                " (or set run_dir in " + manifest.source.string() + ")";
  if (d.other_study()) {
    return run_dir.string() + ": this run directory holds the study '" + d.recorded_study + "' (" +
           where_results_are(run_dir) + "); the manifest " + manifest.source.string() + " is the study '" +
           d.wanted_study + "'. A run directory belongs to one study: " + use_fresh;
  }
  if (d.changed.empty() && d.removed.empty()) return "";
  std::string s = run_dir.string() + ": the manifest " + manifest.source.string() + " does not match the study '" +
                  d.recorded_study + "' in this run directory (" + where_results_are(run_dir) + ").";
  if (!d.changed.empty()) s += "\nchanged (the finished results depend on these):" + bullet_list(d.changed);
  if (!d.removed.empty()) s += "\nleft out (the run directory has results for these):" + bullet_list(d.removed);
  s += "\nA manifest may add models, checkpoints and benchmarks to a run, but not change or drop what it has. "
       "To keep both sets of results, " + use_fresh + "; to go on with the recorded study, undo the changes.";
  const bool analysis_only =
      d.removed.empty() && std::all_of(d.changed.begin(), d.changed.end(), [](const auto& l) { return l.starts_with("analysis."); });
  if (analysis_only) {
    s += " Only the analysis differs: `ibzoo regress --metrics " + (run_dir / "results" / "metrics.csv").string() +
         " --benchmarks FILE --out DIR` analyses the finished metrics with other settings, without a new run.";
  }
  return s;
}

namespace {

// Rank 0: the study's additions when the run directory is this study's (or new), else
// why not: "usage" (another study, or a corrupt record) or "error".
io::Outcome<std::vector<std::string>> claim_verdict(const Manifest& manifest, const ClaimOptions& options,
                                                   RunDirClaim& claim) {
  std::pair<std::string, std::string> result;
  try {
    result = claim_on_root(manifest, options, claim);
  } catch (const UsageError& e) {
    result = {"usage", e.what()};
  } catch (const CorruptDataError& e) {
    result = {"usage", e.what()};
  } catch (const std::exception& e) {
    result = {"error", e.what()};
  }
  if (!result.first.empty()) return {false, {}, result.first, result.second};
  return {true, claim.added, "", ""};
}

}  // namespace

fs::path fresh_run_dir(const fs::path& run_dir) {
  auto base = run_dir;
  if (base.filename().empty()) base = base.parent_path();
  std::error_code ec;
  for (int i = 2;; ++i) {
    fs::path candidate = base.string() + "-" + std::to_string(i);
    if (!fs::exists(candidate, ec)) return candidate;
  }
}

RunDirClaim claim_run_dir(const Manifest& manifest, const ClaimOptions& options, io::Communicator& comm) {
  RunDirClaim claim;
  io::Outcome<std::vector<std::string>> verdict;
  if (comm.rank() == 0) verdict = claim_verdict(manifest, options, claim);
  comm.broadcast_value(verdict);
  const auto message = comm.rank() == 0 ? verdict.message : "the run directory was refused on rank 0";
  if (verdict.error_kind == "usage") throw UsageError(message);
  if (verdict.error_kind == "error") throw Error(message);
  claim.added = verdict.value;
  if (comm.rank() == 0 && !claim.added.empty()) {
    io::log_info("this run extends the study in " + manifest.run_dir.string() + " with " +
                 std::to_string(claim.added.size()) + " addition(s):" + bullet_list(claim.added));
  }
  return claim;
}

void check_identity(const Manifest& manifest, bool record) {
  const auto wanted = study_identity(manifest);
  const auto recorded = recorded_identity(manifest.run_dir);
  if (recorded) {
    const auto d = compare_identity(*recorded, wanted);
    if (auto p = identity_problem(manifest, d); !p.empty()) throw UsageError(p);
    if (d.same()) return;
  }
  if (!record) return;
  std::error_code ec;
  fs::create_directories(manifest.run_dir, ec);
  io::write_file_atomic(identity_path(manifest.run_dir), wanted.dump(2) + "\n");
}

}  // namespace ibzoo::pipeline
