// Train: zoo manifest (zoo/manifest.cpp) -> text split -> tokenizer -> models::train_model per
// model -> checkpoints that the study manifest (manifests/demo.yaml) reads.
#include "zoo/train.h"

#include "errors/error.h"
#include "hf/bpe_trainer.h"
#include "io/csv.h"
#include "io/fs.h"
#include "io/log.h"
#include "io/metrics_csv.h"
#include "hf/tokenizer.h"
#include "models/trainer.h"

#include <array>
#include <chrono>
#include <cmath>
#include <limits>
#include <cstdio>
#include <fstream>
#include <map>
#include <memory>
#include <regex>
#include <set>
#include <sstream>

namespace ibzoo::zoo {

namespace fs = std::filesystem;

std::vector<std::int64_t> checkpoint_steps(const ZooTrainingSpec& t) {
  if (t.checkpoint_spacing == "log-even") {
    return models::log_even_steps(t.steps, t.checkpoints, t.checkpoint_even_from > 0 ? t.checkpoint_even_from : t.steps / 8);
  }
  return models::log_spaced_steps(t.steps, t.checkpoints);
}

std::string checkpoint_name(std::int64_t step) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "step-%06lld", static_cast<long long>(step));
  return buf;
}

std::vector<Verse> parse_bible_text(const std::string& text, const std::string& source_name) {
  static const std::regex kHeader(R"(^(\S.*) (\d+)$)");
  static const std::regex kVerse(R"(^  (\d+) (.*)$)");
  std::vector<Verse> out;
  std::string book;
  int chapter = 0;
  std::istringstream in(text);
  std::string line;
  std::smatch m;
  bool after_blank = true;
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    const bool blank_before = after_blank;
    after_blank = line.empty();
    if (line.empty()) continue;
    if (std::regex_match(line, m, kVerse) && chapter > 0) {
      out.push_back({book, chapter, std::stoi(m[1].str()), m[2].str()});
    } else if (blank_before && std::regex_match(line, m, kHeader)) {
      book = m[1].str();
      chapter = std::stoi(m[2].str());
    } else if (!out.empty()) {
      out.back().text += " " + line;
    }
  }
  if (out.empty()) {
    throw CorruptDataError(source_name + ": no verses found; expected the output of `bible gen1:1-rev22:21` "
                                         "(headers \"Book N\", verses \"  N text\")");
  }
  return out;
}

namespace {

std::string run_bible_command() {
  // A fixed command line: the manifest chooses the source, never the command.
  if (!fs::exists("/usr/bin/bible")) {
    throw MissingInputError("/usr/bin/bible not found: install the Debian packages bible-kjv and bible-kjv-text "
                            "(apt-get install bible-kjv), or use text: {source: file, file: ...}");
  }
  struct PipeCloser {
    void operator()(FILE* f) const { pclose(f); }
  };
  std::unique_ptr<FILE, PipeCloser> pipe(popen("/usr/bin/bible gen1:1-rev22:21 </dev/null 2>/dev/null", "r"));
  if (!pipe) throw MissingInputError("cannot run /usr/bin/bible");
  std::string text;
  std::array<char, 1 << 16> buf{};
  std::size_t n = 0;
  while ((n = std::fread(buf.data(), 1, buf.size(), pipe.get())) > 0) text.append(buf.data(), n);
  return text;
}

void make_dir(const fs::path& dir) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) throw WriteError(dir.string() + ": cannot create the directory (" + ec.message() + ")");
}

std::string load_source_text(const ZooTextSpec& t) {
  if (t.source == "file") return io::read_file(t.file);
  return run_bible_command();
}

// Verses one per line, a blank line between chapters.
std::string verses_text(std::span<const Verse> verses) {
  std::string out;
  for (std::size_t i = 0; i < verses.size(); ++i) {
    if (i > 0 && (verses[i].book != verses[i - 1].book || verses[i].chapter != verses[i - 1].chapter)) out += "\n";
    out += verses[i].text + "\n";
  }
  return out;
}

// Paragraphs of n verses (never across chapters): the study's documents.
std::string study_text(std::span<const Verse> verses, std::int64_t n) {
  std::string out;
  std::int64_t in_par = 0;
  for (std::size_t i = 0; i < verses.size(); ++i) {
    const bool new_chapter = i > 0 && (verses[i].book != verses[i - 1].book || verses[i].chapter != verses[i - 1].chapter);
    if (i > 0 && (new_chapter || in_par == n)) {
      out += "\n\n";
      in_par = 0;
    }
    out += (in_par > 0 ? " " : "") + verses[i].text;
    ++in_par;
  }
  return out + "\n";
}

struct PreparedText {
  std::string train;
  std::string heldout;  // the held-out books, in train's layout
  std::vector<std::string> heldout_books;
};

PreparedText prepare_text(const ZooSpec& z) {
  const auto verses = parse_bible_text(load_source_text(z.text), z.text.source == "file" ? z.text.file.string() : "bible");
  std::vector<std::string> books;
  for (const auto& v : verses) {
    if (books.empty() || books.back() != v.book) books.push_back(v.book);
  }
  if (static_cast<std::int64_t>(books.size()) <= z.text.heldout_books) {
    throw ManifestError(z.source.string() + ": text.heldout_books is " + std::to_string(z.text.heldout_books) +
                        " but the text has only " + std::to_string(books.size()) + " books; hold out fewer");
  }
  const std::string first_heldout = books[books.size() - static_cast<std::size_t>(z.text.heldout_books)];
  std::size_t split = 0;
  while (verses[split].book != first_heldout) ++split;
  const std::span<const Verse> all(verses);
  PreparedText p;
  p.train = verses_text(all.subspan(0, split));
  if (z.text.max_train_bytes > 0 && static_cast<std::int64_t>(p.train.size()) > z.text.max_train_bytes) {
    p.train.resize(p.train.rfind('\n', static_cast<std::size_t>(z.text.max_train_bytes)) + 1);
  }
  p.heldout_books.assign(books.end() - z.text.heldout_books, books.end());
  make_dir(z.out_dir / "text");
  io::write_file_atomic(z.out_dir / "text" / "train.txt", p.train);
  p.heldout = verses_text(all.subspan(split));
  io::write_file_atomic(z.out_dir / "text" / "heldout.txt", p.heldout);
  io::write_file_atomic(z.out_dir / "text" / "study.txt", study_text(all.subspan(split), z.text.study_verses));
  return p;
}

void train_tokenizer(const ZooSpec& z, const std::string& train_text) {
  std::string_view sample(train_text);
  if (z.tokenizer_train_bytes > 0 && static_cast<std::int64_t>(sample.size()) > z.tokenizer_train_bytes) {
    sample = sample.substr(0, sample.rfind('\n', static_cast<std::size_t>(z.tokenizer_train_bytes)) + 1);
  }
  hf::BpeTrainerOptions options;
  options.vocab_size = z.vocab_size;
  const auto result = hf::train_byte_level_bpe(sample, options);
  hf::write_trained_tokenizer(result, z.out_dir / "tokenizer");
}

models::TrainerOptions trainer_options(const ZooSpec& z, const ZooModelSpec& m, std::int64_t vocab_size,
                                       std::size_t model_idx) {
  hf::ModelSizes sizes = m.sizes;
  sizes.vocab_size = vocab_size;
  sizes.max_position_embeddings = std::max<std::int64_t>(512, z.training.context);
  models::TrainerOptions o;
  o.config = hf::default_model_config(m.family, sizes);
  // Seeds differ per model but depend only on the zoo seed and the model's position.
  o.seed = z.seed * 1000003ull + model_idx;
  o.init_std = z.training.init_std;
  o.steps = z.training.steps;
  o.batch_size = z.training.batch_size;
  o.context = z.training.context;
  o.lr = z.training.lr;
  o.min_lr_ratio = z.training.min_lr_ratio;
  o.warmup_steps = z.training.warmup_steps;
  o.schedule = models::parse_lr_schedule(z.training.schedule);
  o.weight_decay = z.training.weight_decay;
  o.grad_clip = z.training.grad_clip;
  o.threads = z.threads;
  o.device = models::parse_device(z.training.device);
  o.precision = models::parse_precision(z.training.precision);
  o.deterministic = z.training.deterministic;
  o.eval_tokens = z.training.eval_tokens;
  return o;
}

fs::path model_dir(const ZooSpec& z, const std::string& id) { return z.out_dir / "models" / id; }

bool checkpoints_exist(const ZooSpec& z, const ZooModelSpec& m, const std::vector<std::int64_t>& steps) {
  for (const auto s : steps) {
    const auto dir = model_dir(z, m.id) / checkpoint_name(s);
    if (!fs::exists(dir / "model.safetensors") || !fs::exists(dir / "config.json")) return false;
  }
  return true;
}

nlohmann::json read_json_or_null(const fs::path& path) {
  if (!fs::exists(path)) return nullptr;
  try {
    return nlohmann::json::parse(io::read_file(path));
  } catch (const nlohmann::json::exception&) {
    return nullptr;  // a damaged marker only means "redo"
  }
}

// 6 significant digits, as the training log always had.
std::string short_text(double v) {
  if (!std::isfinite(v)) return "nan";
  std::ostringstream os;
  os << v;
  return os.str();
}

nlohmann::json number_or_null(double v) { return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr); }

double number_or_nan(const nlohmann::json& j) {
  return j.is_number() ? j.get<double>() : std::numeric_limits<double>::quiet_NaN();
}

TrainedModel cached_model(const ZooModelSpec& m, const nlohmann::json& done, const std::vector<std::int64_t>& steps) {
  TrainedModel t{m.id, std::string(hf::family_name(m.family)), done.value("n_parameters", std::int64_t{0}), steps,
                 done.value("final_loss", 0.0), done.value("seconds", 0.0), true, done.value("device", ""),
                 done.value("precision", ""), done.value("optimizer", ""), {}};
  for (const auto& v : done.value("heldout_loss", nlohmann::json::array())) t.heldout_loss.push_back(number_or_nan(v));
  t.heldout_loss.resize(steps.size(), std::numeric_limits<double>::quiet_NaN());
  return t;
}

void write_logs(const fs::path& dir, const models::TrainResult& result) {
  std::vector<std::vector<std::string>> log;
  for (const auto& e : result.log) log.push_back({std::to_string(e.step), short_text(e.loss), short_text(e.lr)});
  io::write_csv(dir / "train_log.csv", {"step", "loss", "lr"}, log);
  std::vector<std::vector<std::string>> evals;
  for (const auto& e : result.checkpoints) {
    evals.push_back({std::to_string(e.step), io::format_value(e.heldout_loss), io::format_value(e.train_loss)});
  }
  io::write_csv(dir / "eval_log.csv", {"step", "heldout_loss", "train_loss"}, evals);
}

TrainedModel train_one(const ZooSpec& z, const ZooModelSpec& m, std::size_t model_idx, std::span<const std::int32_t> tokens,
                       std::span<const std::int32_t> heldout, std::int64_t vocab_size, const std::string& hash,
                       bool force) {
  const auto steps = checkpoint_steps(z.training);
  const auto dir = model_dir(z, m.id);
  const auto done = read_json_or_null(dir / "done.json");
  if (!force && done.is_object() && done.value("zoo_hash", "") == hash && checkpoints_exist(z, m, steps)) {
    io::log_info("train: " + m.id + " is complete for this zoo hash; reusing it");
    return cached_model(m, done, steps);
  }
  const auto options = trainer_options(z, m, vocab_size, model_idx);
  const auto result = models::train_model(
      options, tokens, heldout, steps, [&](std::int64_t s) { return dir / checkpoint_name(s); }, z.out_dir / "tokenizer",
      [&](std::int64_t s, const fs::path&, const models::CheckpointEval& e) {
        io::log_info("train: " + m.id + " checkpoint " + checkpoint_name(s) + ": held-out loss " +
                     short_text(e.heldout_loss) + ", train loss " + short_text(e.train_loss));
      });
  make_dir(dir);
  write_logs(dir, result);
  double tail = 0.0;
  const std::size_t n_tail = std::min<std::size_t>(10, result.log.size());
  for (std::size_t i = result.log.size() - n_tail; i < result.log.size(); ++i) tail += result.log[i].loss;
  TrainedModel t{m.id, std::string(hf::family_name(m.family)), result.n_parameters, steps,
                 tail / static_cast<double>(std::max<std::size_t>(1, n_tail)), result.seconds, false, result.device,
                 result.precision, result.optimizer, {}};
  nlohmann::json heldout_json = nlohmann::json::array();
  for (const auto& e : result.checkpoints) {
    t.heldout_loss.push_back(e.heldout_loss);
    heldout_json.push_back(number_or_null(e.heldout_loss));
  }
  io::write_file_atomic(dir / "done.json", nlohmann::json{{"zoo_hash", hash}, {"n_parameters", t.n_parameters},
                                                           {"final_loss", t.final_loss}, {"seconds", t.seconds},
                                                           {"device", t.device}, {"precision", t.precision},
                                                           {"optimizer", t.optimizer}, {"heldout_loss", heldout_json}}
                                               .dump(2));
  std::ostringstream msg;
  msg << "train: " << m.id << " (" << t.family << ", " << t.n_parameters << " parameters) " << z.training.steps
      << " steps in " << t.seconds << " s on " << t.device << " (" << t.precision << ", " << t.optimizer
      << "), final loss " << t.final_loss << ", held-out loss " << short_text(t.heldout_loss.back());
  io::log_info(msg.str());
  return t;
}

std::vector<std::int32_t> tokenize_training_text(const ZooSpec& z, const std::string& text) {
  const auto tokenizer = hf::Tokenizer::from_file(z.out_dir / "tokenizer" / "tokenizer.json");
  std::vector<std::int32_t> tokens;
  std::size_t pos = 0;
  // Chapter by chapter, each followed by <|endoftext|>, so windows see document ends.
  const auto eos = tokenizer.token_to_id("<|endoftext|>");
  while (pos < text.size()) {
    auto end = text.find("\n\n", pos);
    end = end == std::string::npos ? text.size() : end + 1;
    const auto ids = tokenizer.encode(std::string_view(text).substr(pos, end - pos), false);
    tokens.insert(tokens.end(), ids.begin(), ids.end());
    if (eos) tokens.push_back(*eos);
    pos = end + 1;
  }
  return tokens;
}

void write_zoo_json(const ZooSpec& z, const std::string& hash, const std::vector<TrainedModel>& models,
                    const std::vector<std::string>& heldout_books, std::int64_t n_train_tokens) {
  nlohmann::json j = {{"zoo", z.zoo}, {"zoo_hash", hash}, {"spec", zoo_to_json(z)}, {"heldout_books", heldout_books},
                      {"n_train_tokens", n_train_tokens}, {"models", nlohmann::json::array()}};
  for (const auto& m : models) {
    nlohmann::json cks = nlohmann::json::array();
    for (std::size_t k = 0; k < m.steps.size(); ++k) {
      const auto s = m.steps[k];
      cks.push_back({{"name", checkpoint_name(s)}, {"step", s},
                     {"tokens", s * z.training.batch_size * z.training.context},
                     {"path", (model_dir(z, m.id) / checkpoint_name(s)).string()},
                     {"heldout_loss", number_or_null(k < m.heldout_loss.size() ? m.heldout_loss[k]
                                                                                : std::numeric_limits<double>::quiet_NaN())}});
    }
    j["models"].push_back({{"id", m.id}, {"family", m.family}, {"n_parameters", m.n_parameters},
                           {"final_loss", m.final_loss}, {"train_seconds", m.seconds}, {"device", m.device},
                           {"precision", m.precision}, {"optimizer", m.optimizer}, {"checkpoints", cks}});
  }
  io::write_file_atomic(z.out_dir / "zoo.json", j.dump(2) + "\n");
}

}  // namespace

ZooResult train_zoo(const ZooSpec& z, bool force) {
  ZooResult r;
  r.hash = zoo_hash(z);
  r.path_zoo_json = z.out_dir / "zoo.json";
  const auto steps = checkpoint_steps(z.training);
  const auto previous = read_json_or_null(r.path_zoo_json);
  bool all_there = previous.is_object() && previous.value("zoo_hash", "") == r.hash;
  for (const auto& m : z.models) all_there = all_there && checkpoints_exist(z, m, steps);
  if (!force && all_there) {
    r.cached = true;
    for (const auto& m : previous["models"]) {
      TrainedModel t{m.value("id", ""), m.value("family", ""), m.value("n_parameters", std::int64_t{0}), steps,
                     m.value("final_loss", 0.0), m.value("train_seconds", 0.0), true, m.value("device", ""),
                     m.value("precision", ""), m.value("optimizer", ""), {}};
      for (const auto& c : m.value("checkpoints", nlohmann::json::array())) {
        t.heldout_loss.push_back(number_or_nan(c.value("heldout_loss", nlohmann::json())));
      }
      r.models.push_back(std::move(t));
    }
    io::log_info("train: zoo " + z.zoo + " is cached (" + r.path_zoo_json.string() + " has the same zoo hash)");
    return r;
  }
  make_dir(z.out_dir);
  std::error_code ec;
  fs::remove(r.path_zoo_json, ec);
  const auto text = prepare_text(z);
  train_tokenizer(z, text.train);
  const auto tokens = tokenize_training_text(z, text.train);
  const auto heldout = tokenize_training_text(z, text.heldout);
  const auto vocab = hf::Tokenizer::from_file(z.out_dir / "tokenizer" / "tokenizer.json").vocab_size();
  io::log_info("train: " + std::to_string(tokens.size()) + " training tokens, " + std::to_string(heldout.size()) +
               " held-out tokens, vocabulary " + std::to_string(vocab) + ", held out: " + text.heldout_books.front() +
               " .. " + text.heldout_books.back());
  for (std::size_t i = 0; i < z.models.size(); ++i) {
    r.models.push_back(train_one(z, z.models[i], i, tokens, heldout, vocab, r.hash, force));
  }
  write_zoo_json(z, r.hash, r.models, text.heldout_books, static_cast<std::int64_t>(tokens.size()));
  return r;
}

}  // namespace ibzoo::zoo
