// Manifest reading and validation: YAML in, a normalised Manifest out, with every
// problem of the file collected (file:line) before any work starts.
#include "pipeline/manifest.h"

#include "errors/error.h"
#include "io/fs.h"
#include "scores/benchmarks.h"
#include "io/text.h"
#include "io/h5.h"
#include "hf/hub.h"
#include "pipeline/budget.h"
#include "pipeline/manifest_reader.h"
#include "slurm/config.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <set>
#include <sstream>

namespace nlohmann {
template <typename T>
struct adl_serializer<std::optional<T>> {
  static void to_json(json& j, const std::optional<T>& v) { j = v ? json(*v) : json(nullptr); }
  static void from_json(const json& j, std::optional<T>& v) {
    v = j.is_null() ? std::nullopt : std::optional<T>(j.get<T>());
  }
};
}  // namespace nlohmann

namespace ibzoo::pipeline {

NLOHMANN_JSON_SERIALIZE_ENUM(DocumentSplit, {{DocumentSplit::kParagraph, "paragraph"},
                                             {DocumentSplit::kLine, "line"},
                                             {DocumentSplit::kFile, "file"}})
NLOHMANN_JSON_SERIALIZE_ENUM(Sampling, {{Sampling::kFirst, "first"}, {Sampling::kReservoir, "reservoir"}})
// repo/revision only for hub checkpoints: a plain manifest keeps the JSON (and hash) it had.
void to_json(nlohmann::json& j, const Checkpoint& c) {
  j = {{"name", c.name}, {"step", c.step}, {"tokens", c.tokens}, {"path", c.path}};
  if (!c.repo.empty()) j["repo"] = c.repo;
  if (!c.revision.empty()) j["revision"] = c.revision;
}
void from_json(const nlohmann::json& j, Checkpoint& c) {
  j.at("name").get_to(c.name);
  j.at("step").get_to(c.step);
  j.at("tokens").get_to(c.tokens);
  j.at("path").get_to(c.path);
  c.repo = j.value("repo", std::string());
  c.revision = j.value("revision", std::string());
}
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(ModelSpec, id, family, n_parameters, tokenizer, checkpoints)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(TextData, files, format, field, split, n_documents, sampling, seed, max_tokens,
                                   min_tokens, bos, special_tokens_as_labels, documents_per_shard)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(PreferenceData, file, n_pairs, prompt_labelled, max_tokens)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(EstimatorSpec, bins, seed, reference_points, calibration, eps, orders, weighting,
                                   min_count, layers, final_norm, null, bootstrap, sample_size_curve)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(StorageSpec, representations, layers, dtype, chunk_tokens, compression, assignments,
                                   layout)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(ComputeSpec, device, dtype, tokens_per_batch, threads, throughput_tokens_per_s,
                                   memory_budget)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(BenchmarkSource, file, format, normalise, tasks, metric, filter, model,
                                                checkpoint, allow_limit, aliases, duplicates)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(AnalysisSpec, predictors, controls, cv, bootstrap, seed, report)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(Manifest, source, study, run_dir, roots, models, text, preference, estimator, storage,
                                   compute, benchmarks, analysis, slurm)

namespace {

namespace fs = std::filesystem;
using manifest_parts::quoted;
using manifest_parts::Reader;

bool is_identifier(const std::string& s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.';
  }) && s != "." && s != "..";
}

// A model id: identifiers joined by '/' ("EleutherAI/pythia-160m"); each part is a
// safe path component (reps/<model>/... stays inside the run directory).
bool is_model_id(const std::string& s) {
  if (s.empty()) return false;
  for (std::size_t start = 0; start <= s.size();) {
    const auto end = std::min(s.find('/', start), s.size());
    if (!is_identifier(s.substr(start, end - start))) return false;
    start = end + 1;
  }
  return true;
}

// Where a hub checkpoint's snapshot lies; every lookup of one manifest uses one cache.
struct HubContext {
  fs::path cache;
  std::string chosen_by;
  bool used = false;
};

// `step` and `tokens` as given; otherwise parsed from the name, then the revision.
void fill_step(Reader& r, const YAML::Node& n, Checkpoint& c, bool& has_step) {
  has_step = n["step"].IsDefined();
  c.step = r.integer(n, "step", 0, 0);
  c.tokens = r.get<double>(n, "tokens", 0.0, "a number");
  for (const auto& source : {c.name, c.revision}) {
    const auto info = hf::parse_revision_name(source);
    if (!has_step && info.step) c.step = *info.step, has_step = true;
    if (!n["tokens"].IsDefined() && c.tokens == 0 && info.tokens) c.tokens = *info.tokens;
  }
}

// A hub checkpoint's snapshot directory, through the same root checks as any input.
fs::path hub_path(Reader& r, HubContext& hub, const YAML::Node& at, const std::string& repo,
                  const std::string& revision) {
  hub.used = true;
  try {
    const auto snapshot = hf::resolve_hub_revision(hub.cache, repo, revision);
    return r.input_path(at, "revision", snapshot.string(), true);
  } catch (const Error& e) {
    r.error(at, std::string(e.what()) + " [cache from " + hub.chosen_by + "]");
    return {};
  }
}

Checkpoint read_checkpoint(Reader& r, HubContext& hub, const YAML::Node& n, const std::string& model_id,
                           const std::string& model_repo, bool& has_step) {
  r.check_keys(n, "checkpoint of model '" + model_id + "'", {"name", "revision", "repo", "step", "tokens", "path"});
  Checkpoint c;
  const auto revision = r.str(n, "revision", "");
  c.name = r.str(n, "name", revision);
  if (!is_identifier(c.name)) r.error(n, "checkpoint 'name' (or 'revision') must be a non-empty identifier of letters, digits, '-', '_', '.'");
  const auto repo = r.str(n, "repo", model_repo);
  if (n["path"].IsDefined()) {
    if (n["repo"].IsDefined()) r.error(n["repo"], "checkpoint '" + c.name + "': give either 'path' or 'repo', not both");
    c.path = r.input_path(n["path"], "path", r.str(n, "path", ""), true);
  } else if (!repo.empty()) {
    if (revision.empty()) {
      r.error(n, "checkpoint '" + c.name + "' of model '" + model_id + "' names hub repo '" + repo +
                     "' but no 'revision' (a branch, tag or commit of the repo, e.g. step143000)");
    } else {
      c.repo = repo;
      c.revision = revision;
      c.path = hub_path(r, hub, n["revision"], repo, revision);
    }
  } else {
    r.error(n, "checkpoint '" + c.name + "' of model '" + model_id + "' needs a 'path' (a Hugging Face model "
                   "directory) or a hub 'repo' + 'revision'");
  }
  fill_step(r, n, c, has_step);
  return c;
}

// A model's `repo:` with `revisions: [...]` (or one `revision:`, default main).
void read_revisions(Reader& r, HubContext& hub, const YAML::Node& n, ModelSpec& m, const std::string& repo,
                    std::vector<bool>& has_step) {
  const auto list = n["revisions"].IsDefined() ? n["revisions"] : n["revision"];
  std::vector<std::string> revisions = r.string_list(n, n["revisions"].IsDefined() ? "revisions" : "revision", {"main"});
  if (n["revisions"].IsDefined() && revisions.empty()) r.error(list, "model '" + m.id + "' has an empty 'revisions' list");
  for (const auto& rev : revisions) {
    Checkpoint c;
    c.name = rev;
    if (!is_identifier(rev)) {
      r.error(list, "revision '" + rev + "' of model '" + m.id + "' cannot name a checkpoint (letters, digits, '-', "
                    "'_', '.'); list it under 'checkpoints:' with a 'name'");
    }
    c.repo = repo;
    c.revision = rev;
    c.path = hub_path(r, hub, list.IsDefined() ? list : n["repo"], repo, rev);
    const auto info = hf::parse_revision_name(rev);
    has_step.push_back(info.step.has_value());
    c.step = info.step.value_or(0);
    c.tokens = info.tokens.value_or(0.0);
    m.checkpoints.push_back(std::move(c));
  }
}

// The order of checkpoints is their step: with several, each must have one; and no two
// checkpoints of a model share a name.
void check_checkpoint_names(Reader& r, const YAML::Node& n, const ModelSpec& m, const std::vector<bool>& has_step) {
  const auto checkpoints = n["checkpoints"];
  if (m.checkpoints.size() > 1) {
    std::vector<std::string> missing;
    for (std::size_t i = 0; i < m.checkpoints.size() && i < has_step.size(); ++i) {
      if (!has_step[i]) missing.push_back(m.checkpoints[i].name);
    }
    if (!missing.empty()) {
      r.error(checkpoints.IsDefined() ? checkpoints : n, "model '" + m.id + "': checkpoint(s) " + Reader::join(missing) +
                                                             " have no 'step' and none can be read from the name or "
                                                             "revision (step<N>, global_step<N>, checkpoint-<N>, "
                                                             "stage1-step<N>-tokens<M>B); give 'step:'");
    }
  }
  std::set<std::string> names;
  for (const auto& c : m.checkpoints) {
    if (!names.insert(c.name).second) r.error(n, "model '" + m.id + "' has two checkpoints named '" + c.name + "'");
  }
}

ModelSpec read_model(Reader& r, HubContext& hub, const YAML::Node& n) {
  r.check_keys(n, "model", {"id", "family", "n_parameters", "path", "tokenizer", "checkpoints", "repo", "revision",
                            "revisions"});
  ModelSpec m;
  const auto repo = r.str(n, "repo", "");
  m.id = r.str(n, "id", repo);
  if (!is_model_id(m.id)) {
    r.error(n, "model 'id' must be a non-empty identifier of letters, digits, '-', '_', '.' (parts may be joined by "
               "'/', as in EleutherAI/pythia-160m)");
  }
  m.family = r.str(n, "family", "");
  if (m.family.empty()) r.error(n, "model '" + m.id + "' needs a 'family'");
  if (n["n_parameters"].IsDefined()) m.n_parameters = r.get<double>(n, "n_parameters", 0.0, "a number");
  const auto checkpoints = n["checkpoints"];
  const bool has_revisions = n["revisions"].IsDefined() || n["revision"].IsDefined();
  std::vector<bool> has_step;
  if (checkpoints.IsDefined() && !checkpoints.IsSequence()) {
    r.error(checkpoints, "'checkpoints' must be a list, got " + quoted(checkpoints));
  } else if (checkpoints.IsDefined()) {
    for (const auto& c : checkpoints) {
      bool given = false;
      m.checkpoints.push_back(read_checkpoint(r, hub, c, m.id, repo, given));
      has_step.push_back(given);
    }
    if (m.checkpoints.empty()) r.error(checkpoints, "model '" + m.id + "' has an empty 'checkpoints' list");
    if (has_revisions) r.error(checkpoints, "model '" + m.id + "': give either 'revisions' or 'checkpoints', not both");
  }
  if (n["path"].IsDefined()) {
    if (!m.checkpoints.empty()) r.error(n["path"], "model '" + m.id + "': give either 'path' or 'checkpoints', not both");
    if (!repo.empty()) r.error(n["repo"], "model '" + m.id + "': give either 'path' or a hub 'repo', not both");
    m.checkpoints.push_back({"final", 0, 0, r.input_path(n["path"], "path", r.str(n, "path", ""), true), "", ""});
    has_step.push_back(true);
  } else if (!checkpoints.IsDefined() && !repo.empty()) {
    read_revisions(r, hub, n, m, repo, has_step);
  } else if (!checkpoints.IsDefined()) {
    r.error(n, "model '" + m.id + "' needs a 'path', a list of 'checkpoints' or a hub 'repo' (with 'revisions')");
  } else if (has_revisions && !n["checkpoints"].IsDefined()) {
    r.error(n, "model '" + m.id + "': 'revisions' needs the model's hub 'repo'");
  }
  check_checkpoint_names(r, n, m, has_step);
  if (n["tokenizer"].IsDefined()) {
    m.tokenizer = r.input_path(n["tokenizer"], "tokenizer", r.str(n, "tokenizer", ""), true);
  } else if (!m.checkpoints.empty()) {
    m.tokenizer = m.checkpoints.front().path;
  }
  return m;
}

TextData read_text(Reader& r, const YAML::Node& n) {
  r.check_keys(n, "data.text", {"files", "format", "field", "split", "n_documents", "sampling", "seed", "max_tokens",
                                "min_tokens", "bos", "special_tokens", "documents_per_shard"});
  TextData t;
  const auto files = r.string_list(n, "files", {});
  if (files.empty()) r.error(n, "'data.text.files' must list at least one text file");
  for (const auto& f : files) t.files.push_back(r.input_path(n["files"], "files", f, true));
  t.format = r.choice(n, "format", t.format, {"text", "jsonl"});
  t.field = r.str(n, "field", t.field);
  const auto split = r.choice(n, "split", "paragraph", {"paragraph", "line", "file"});
  t.split = split == "line" ? DocumentSplit::kLine : split == "file" ? DocumentSplit::kFile : DocumentSplit::kParagraph;
  t.n_documents = r.integer(n, "n_documents", t.n_documents, 0);
  t.sampling = r.choice(n, "sampling", "first", {"first", "reservoir"}) == "reservoir" ? Sampling::kReservoir
                                                                                      : Sampling::kFirst;
  t.seed = static_cast<std::uint64_t>(r.integer(n, "seed", static_cast<std::int64_t>(t.seed), 0));
  t.max_tokens = r.integer(n, "max_tokens", t.max_tokens, 2);
  t.min_tokens = r.integer(n, "min_tokens", t.min_tokens, 1);
  t.bos = r.boolean(n, "bos", t.bos);
  t.special_tokens_as_labels = r.choice(n, "special_tokens", "exclude", {"exclude", "include"}) == "include";
  t.documents_per_shard = r.integer(n, "documents_per_shard", t.documents_per_shard, 1);
  return t;
}

PreferenceData read_preference(Reader& r, const YAML::Node& n) {
  r.check_keys(n, "data.preference", {"file", "n_pairs", "prompt_labelled", "max_tokens"});
  PreferenceData p;
  p.file = r.input_path(n["file"], "file", r.str(n, "file", ""), true);
  p.n_pairs = r.integer(n, "n_pairs", p.n_pairs, 0);
  p.prompt_labelled = r.boolean(n, "prompt_labelled", p.prompt_labelled);
  p.max_tokens = r.integer(n, "max_tokens", p.max_tokens, 2);
  return p;
}

EstimatorSpec read_estimator(Reader& r, const YAML::Node& n) {
  r.check_keys(n, "estimator", {"bins", "seed", "reference_points", "calibration", "eps", "orders", "weighting",
                                "min_count", "layers", "final_norm", "shuffled_null", "bootstrap", "sample_size_curve"});
  EstimatorSpec e;
  e.bins = r.integer(n, "bins", e.bins, 2);
  e.seed = static_cast<std::uint64_t>(r.integer(n, "seed", static_cast<std::int64_t>(e.seed), 0));
  if (n["reference_points"].IsDefined()) {
    const auto spec = r.str(n, "reference_points", "");
    const auto colon = spec.rfind(':');
    if (colon == std::string::npos || colon == 0 || colon + 1 == spec.size()) {
      r.error(n["reference_points"], "'reference_points' must be FILE.h5:DATASET, got \"" + spec + "\"");
    } else {
      const auto file = r.input_path(n["reference_points"], "reference_points", spec.substr(0, colon), true);
      e.reference_points = file.string() + ":" + spec.substr(colon + 1);
    }
  }
  e.calibration = r.choice(n, "calibration", e.calibration, {"bounds", "exact", "leading", "fixed"});
  if (n["eps"].IsDefined()) {
    e.eps = r.get<double>(n, "eps", 0.0, "a number");
    if (!(*e.eps > 0)) r.error(n["eps"], "'eps' must be positive");
    e.calibration = "fixed";
  } else if (e.calibration == "fixed") {
    r.error(n["calibration"], "calibration 'fixed' needs an 'eps'");
  }
  if (n["orders"].IsDefined()) {
    e.orders.clear();
    const auto orders = n["orders"];
    if (!orders.IsSequence()) r.error(orders, "'orders' must be a list of n-gram orders in 1..4, got " + quoted(orders));
    for (const auto& o : orders) {
      const auto v = o.IsScalar() ? o.as<int>(0) : 0;
      if (v < 1 || v > 4) r.error(o, "'orders' entries must be integers in 1..4, got " + quoted(o));
      else e.orders.push_back(v);
    }
    std::sort(e.orders.begin(), e.orders.end());
    e.orders.erase(std::unique(e.orders.begin(), e.orders.end()), e.orders.end());
  }
  if (std::find(e.orders.begin(), e.orders.end(), 1) == e.orders.end()) {
    r.error(n["orders"], "'orders' must include 1 (optimality is defined on unigram labels)");
  }
  e.weighting = r.choice(n, "weighting", e.weighting, {"frequency", "uniform"});
  e.min_count = r.integer(n, "min_count", e.weighting == "uniform" ? 5 : e.min_count, 1);
  e.layers = r.layer_list(n, "layers");
  e.final_norm = r.choice(n, "final_norm", "apply", {"apply", "skip"}) == "apply";
  e.null = r.boolean(n, "shuffled_null", e.null);
  e.bootstrap = r.integer(n, "bootstrap", e.bootstrap, 0);
  e.sample_size_curve = r.boolean(n, "sample_size_curve", e.sample_size_curve);
  return e;
}

StorageSpec read_storage(Reader& r, const YAML::Node& n) {
  StorageSpec s;
  if (!n.IsDefined() || n.IsNull()) return s;
  r.check_keys(n, "storage",
               {"representations", "layers", "dtype", "chunk_tokens", "compression", "assignments", "layout"});
  s.representations = r.boolean(n, "representations", s.representations);
  s.layers = r.layer_list(n, "layers");
  s.dtype = r.choice(n, "dtype", s.dtype, {"float16", "float32"});
  s.chunk_tokens = r.integer(n, "chunk_tokens", s.chunk_tokens, 1);
  s.compression = static_cast<int>(r.integer(n, "compression", s.compression, 0));
  if (s.compression > 9) r.error(n["compression"], "'compression' must be a deflate level 0..9");
  s.assignments = r.choice(n, "assignments", s.assignments, {"none", "auto", "float32", "float16"});
  s.layout = r.choice(n, "layout", s.layout, {"per_item", "per_checkpoint"});
  if (s.layout == "per_checkpoint" && !s.representations) {
    r.error(n["layout"], "'layout: per_checkpoint' places stored representations; it needs 'representations: true'");
  }
  return s;
}

ComputeSpec read_compute(Reader& r, const YAML::Node& n) {
  ComputeSpec c;
  if (!n.IsDefined() || n.IsNull()) return c;
  r.check_keys(n, "compute", {"device", "dtype", "tokens_per_batch", "threads", "throughput_tokens_per_s", "memory_budget"});
  c.device = r.choice(n, "device", c.device, {"cpu", "cuda"});
  c.dtype = r.choice(n, "dtype", c.dtype, {"float32", "bfloat16", "float16"});
  c.tokens_per_batch = r.integer(n, "tokens_per_batch", c.tokens_per_batch, 16);
  c.threads = static_cast<int>(r.integer(n, "threads", c.threads, 0));
  c.throughput_tokens_per_s = r.get<double>(n, "throughput_tokens_per_s", c.throughput_tokens_per_s, "a number");
  c.memory_budget = r.str(n, "memory_budget", c.memory_budget);
  try {
    (void)parse_memory_size(c.memory_budget);
  } catch (const UsageError& e) {
    r.error(n["memory_budget"], std::string("'memory_budget': ") + e.what());
  }
  return c;
}

std::vector<BenchmarkSource> read_benchmarks(Reader& r, const YAML::Node& n) {
  std::vector<BenchmarkSource> out;
  if (!n.IsDefined() || n.IsNull()) return out;
  if (!n.IsSequence()) {
    r.error(n, "'benchmarks' must be a list of {file, format, ...}, got " + quoted(n));
    return out;
  }
  for (const auto& b : n) {
    r.check_keys(b, "benchmarks entry", {"file", "format", "normalise", "tasks", "metric", "filter", "model",
                                         "checkpoint", "allow_limit", "aliases", "duplicates"});
    BenchmarkSource s;
    s.file = r.input_path(b["file"], "file", r.str(b, "file", ""), true);
    if (b["format"].IsDefined()) {
      std::vector<std::string> formats = scores::kBenchmarkFormats;
      s.format = r.choice(b, "format", formats.front(), formats);
    }
    s.normalise = r.boolean(b, "normalise", false);
    s.tasks = r.string_list(b, "tasks", {});
    s.metric = r.str(b, "metric", "");
    s.filter = r.str(b, "filter", "");
    s.model = r.str(b, "model", "");
    s.checkpoint = r.str(b, "checkpoint", "");
    s.allow_limit = r.boolean(b, "allow_limit", false);
    s.duplicates = r.choice(b, "duplicates", "latest", {"latest", "first", "best", "error"});
    const auto aliases = b["aliases"];
    if (aliases.IsDefined() && !aliases.IsMap()) {
      r.error(aliases, "'aliases' must be a mapping of 'name in the file: model id', got " + quoted(aliases));
    } else if (aliases.IsDefined()) {
      for (const auto& kv : aliases) {
        if (!kv.second.IsScalar()) {
          r.error(kv.second, "'aliases' values must be model ids");
          continue;
        }
        s.aliases.push_back(kv.first.Scalar() + "=" + kv.second.Scalar());
      }
    }
    out.push_back(std::move(s));
  }
  return out;
}

AnalysisSpec read_analysis(Reader& r, const YAML::Node& n) {
  AnalysisSpec a;
  if (!n.IsDefined() || n.IsNull()) return a;
  r.check_keys(n, "analysis", {"predictors", "controls", "cv", "bootstrap", "seed", "report"});
  a.predictors = r.string_list(n, "predictors", a.predictors);
  for (const auto& p : a.predictors) {
    static const std::vector<std::string> kKnown = {"optimality", "complexity", "expressivity", "preference"};
    if (std::find(kKnown.begin(), kKnown.end(), p) == kKnown.end()) {
      r.error(n["predictors"], "unknown predictor '" + p + "' (allowed: " + Reader::join(kKnown) + ")");
    }
  }
  a.controls = r.string_list(n, "controls", a.controls);
  for (const auto& c : a.controls) {
    if (c != "log_params" && c != "family") r.error(n["controls"], "unknown control '" + c + "' (allowed: log_params, family)");
  }
  a.cv = r.choice(n, "cv", a.cv, {"leave-one-family-out", "none"});
  a.bootstrap = r.integer(n, "bootstrap", a.bootstrap, 0);
  a.seed = static_cast<std::uint64_t>(r.integer(n, "seed", static_cast<std::int64_t>(a.seed), 0));
  a.report = r.boolean(n, "report", a.report);
  return a;
}

void read_top(Reader& r, const YAML::Node& root, Manifest& m) {
  r.check_keys(root, "the manifest", {"study", "run_dir", "roots", "models", "data", "estimator", "storage", "compute",
                                      "benchmarks", "analysis", "slurm"});
  m.study = r.str(root, "study", "");
  if (!is_identifier(m.study)) r.error(root, "'study' must be a non-empty name of letters, digits, '-', '_', '.'");
  const auto run_dir = r.str(root, "run_dir", "runs/" + m.study);
  m.run_dir = fs::weakly_canonical(fs::path(run_dir).is_absolute() ? fs::path(run_dir) : r.base() / run_dir);
  m.roots.push_back(fs::weakly_canonical(r.base()));
  for (const auto& root_dir : r.string_list(root, "roots", {})) {
    const fs::path p = fs::path(root_dir).is_absolute() ? fs::path(root_dir) : r.base() / root_dir;
    std::error_code ec;
    if (!fs::is_directory(p, ec)) r.error(root["roots"], "root '" + root_dir + "' is not a directory");
    m.roots.push_back(fs::weakly_canonical(p));
  }
}

}  // namespace

static Manifest read_manifest(const fs::path& path);

Manifest load_manifest(const fs::path& path) {
  // yaml-cpp throws when a section has the wrong kind (e.g. `text: x` where a mapping
  // belongs, then text["files"]); that is the user's mistake, so a ManifestError.
  try {
    return read_manifest(path);
  } catch (const YAML::Exception& e) {
    throw ManifestError(path.string() + ":" + std::to_string(e.mark.is_null() ? 1 : e.mark.line + 1) +
                        ": unexpected YAML structure (" + e.msg +
                        "); every section must be a mapping of 'key: value' lines, see docs/MANIFEST.md");
  }
}

namespace {

// The manifest file as YAML: ManifestError when it is missing, too big, not YAML or not a mapping.
YAML::Node load_root(const fs::path& path) {
  std::string text;
  try {
    text = io::read_file(path, 16u << 20);
  } catch (const Error& e) {
    // A missing or oversized manifest is a manifest error (exit code 2), like a bad one.
    throw ManifestError(std::string(e.what()) + " (the manifest)");
  }
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::ParserException& e) {
    throw ManifestError(path.string() + ":" + std::to_string(e.mark.line + 1) + ": YAML syntax error: " + e.msg);
  }
  if (!root.IsMap()) throw ManifestError(path.string() + ":1: a manifest must be a YAML mapping of sections");
  return root;
}

void read_models(Reader& r, HubContext& hub, YAML::Node root, Manifest& m) {
  const auto models = root["models"];
  if (!models.IsDefined() || !models.IsSequence() || models.size() == 0) {
    r.error(models.IsDefined() ? models : root, "'models' must be a non-empty list of models");
    return;
  }
  std::set<std::string> ids;
  for (const auto& node : models) {
    m.models.push_back(read_model(r, hub, node));
    if (!ids.insert(m.models.back().id).second) r.error(node, "two models have the id '" + m.models.back().id + "'");
  }
}

void read_data(Reader& r, YAML::Node root, Manifest& m) {
  const auto data = root["data"];
  r.check_keys(data, "data", {"text", "preference"});
  if (!data.IsDefined() || !data["text"].IsDefined()) {
    r.error(data.IsDefined() ? data : root, "'data.text' is required: the text files to run the models on");
  } else {
    m.text = read_text(r, data["text"]);
  }
  if (data.IsDefined() && data["preference"].IsDefined()) m.preference = read_preference(r, data["preference"]);
}

}  // namespace

static Manifest read_manifest(const fs::path& path) {
  auto root = load_root(path);  // not const: a missing section reads as undefined, not invalid
  Reader r(path, fs::absolute(path).parent_path());
  Manifest m;
  m.source = fs::absolute(path);
  read_top(r, root, m);
  HubContext hub;
  hub.cache = hf::hub_cache_dir(nullptr, &hub.chosen_by);
  read_models(r, hub, root, m);
  read_data(r, root, m);
  m.estimator = read_estimator(r, root["estimator"]);
  m.storage = read_storage(r, root["storage"]);
  m.compute = read_compute(r, root["compute"]);
  m.benchmarks = read_benchmarks(r, root["benchmarks"]);
  m.analysis = read_analysis(r, root["analysis"]);
  if (root["slurm"].IsDefined()) {
    auto section = slurm::parse_slurm_section(root["slurm"], path.string());
    m.slurm = slurm::to_json(section.config);
    for (auto& e : section.errors) r.add_formatted(std::move(e));
  }
  // The hub cache is where huggingface_hub put the weights, chosen by the environment,
  // not by the manifest: it is a declared root as soon as one checkpoint comes from it.
  std::error_code ec;
  if (hub.used && fs::is_directory(hub.cache, ec)) m.roots.push_back(fs::weakly_canonical(hub.cache));
  r.check_roots(m.roots);

  if (!r.errors().empty()) {
    std::ostringstream os;
    os << path.string() << ": " << r.errors().size() << " problem" << (r.errors().size() == 1 ? "" : "s")
       << " in the manifest:";
    for (const auto& e : r.errors()) os << "\n  " << e;
    throw ManifestError(os.str());
  }
  return m;
}

nlohmann::json to_json(const Manifest& manifest) {
  nlohmann::json j = manifest;
  return j;
}

Manifest manifest_from_json(const nlohmann::json& j) { return j.get<Manifest>(); }

bool assignments_float16(const Manifest& manifest) {
  const auto& choice = manifest.storage.assignments;  // "none": no output; the answer is unused
  return choice == "float16" || (choice == "auto" && manifest.compute.dtype != "float32");
}

std::string manifest_hash(const Manifest& manifest) {
  auto j = to_json(manifest);
  // The hash identifies the study's configuration, not where its files live.
  j.erase("source");
  j.erase("run_dir");
  return io::sha256_hex(j.dump());
}

}  // namespace ibzoo::pipeline
