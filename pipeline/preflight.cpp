// Preflight of the model files: manifest -> [preflight] -> plan -> labels -> extract.
// Catches broken checkpoints once, all together, before any work item starts.
#include "pipeline/preflight.h"

#include "errors/error.h"
#include "hf/config.h"
#include "hf/safetensors.h"
#include "hf/tokenizer.h"
#include "hf/layout.h"

#include <algorithm>
#include <map>
#include <optional>
#include <set>
#include <sstream>

namespace ibzoo::pipeline {

namespace {

namespace fs = std::filesystem;

std::string shape_str(const std::vector<std::int64_t>& s) {
  std::string out = "[";
  for (std::size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
  return out + "]";
}

// Every tensor the architecture reads, as transformers saves it (tolerating a
// checkpoint saved without the base-model prefix, as the loader does). The untied LM
// head is not required: the estimator never runs it.
std::vector<std::string> weight_problems(const hf::WeightStore& weights, const hf::ModelConfig& config) {
  const auto specs = hf::hf_param_specs(config);
  const auto prefix = hf::hf_prefix(config.family);
  const auto head = hf::hf_lm_head_name(config.family);
  const bool strip = !specs.empty() && !weights.find(specs.front().name) &&
                     weights.find(specs.front().name.substr(prefix.size()));
  std::vector<std::string> missing, wrong;
  for (const auto& spec : specs) {
    const auto name = strip && spec.name.starts_with(prefix) ? spec.name.substr(prefix.size()) : spec.name;
    const auto* view = weights.find(name);
    if (!view) {
      if (spec.name != head) missing.push_back(name);
      continue;
    }
    if (view->shape != spec.shape) {
      wrong.push_back("tensor \"" + name + "\" has shape " + shape_str(view->shape) + ", expected " +
                      shape_str(spec.shape) + " from config.json");
    } else if (view->dtype != hf::DType::F32 && view->dtype != hf::DType::F16 && view->dtype != hf::DType::BF16) {
      wrong.push_back("tensor \"" + name + "\" has dtype " + std::string(hf::dtype_name(view->dtype)) +
                      ", expected F32, F16 or BF16");
    }
  }
  std::vector<std::string> out;
  if (!missing.empty()) {
    std::string list;
    for (std::size_t i = 0; i < missing.size() && i < 3; ++i) list += (i ? ", " : "") + missing[i];
    out.push_back(weights.dir().string() + ": " + std::to_string(missing.size()) + " tensor(s) that " +
                  std::string(hf::family_name(config.family)) + " needs are missing from the safetensors files (" +
                  list + (missing.size() > 3 ? ", ..." : "") + "); config.json and the weights disagree");
  }
  for (std::size_t i = 0; i < wrong.size() && i < 3; ++i) out.push_back(weights.dir().string() + ": " + wrong[i]);
  if (wrong.size() > 3) out.push_back(weights.dir().string() + ": ... and " + std::to_string(wrong.size() - 3) + " more");
  return out;
}

std::vector<std::string> checkpoint_problems(const ModelSpec& model, const Checkpoint& ckpt) {
  std::vector<std::string> out;
  std::optional<hf::ModelConfig> config;
  try {
    config = hf::read_model_config(ckpt.path);
  } catch (const Error& e) {
    out.push_back(e.what());
  }
  if (config) {
    const auto types = model_types_of_family(model.family);
    const auto type = std::string(hf::family_name(config->family));
    if (!types.empty() && std::find(types.begin(), types.end(), type) == types.end()) {
      out.push_back((ckpt.path / "config.json").string() + ": model_type is \"" + config->model_type +
                    "\", but the manifest's family '" + model.family + "' is " +
                    (types.size() == 1 ? types.front() : "one of " + types.front() + ", ...") +
                    "; fix 'family' or the path");
    }
  }
  try {
    const auto weights = hf::WeightStore::open_dir(ckpt.path);
    if (config) {
      const auto p = weight_problems(weights, *config);
      out.insert(out.end(), p.begin(), p.end());
    }
  } catch (const Error& e) {
    out.push_back(e.what());
  }
  return out;
}

}  // namespace

std::vector<std::string> model_types_of_family(const std::string& family) {
  static const std::map<std::string, std::vector<std::string>> kFamilies = {
      {"gpt2", {"gpt2"}},         {"pythia", {"gpt_neox"}}, {"gpt_neox", {"gpt_neox"}}, {"gpt-neox", {"gpt_neox"}},
      {"llama", {"llama"}},       {"llama2", {"llama"}},    {"llama3", {"llama"}},      {"smollm", {"llama"}},
      {"smollm2", {"llama"}},     {"mistral", {"mistral"}}, {"qwen2", {"qwen2"}},       {"qwen2.5", {"qwen2"}},
      {"olmo2", {"olmo2"}},       {"gemma2", {"gemma2"}}};
  std::string key;
  for (char c : family) key += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  const auto it = kFamilies.find(key);
  return it == kFamilies.end() ? std::vector<std::string>{} : it->second;
}

std::vector<PreflightProblem> preflight(const Manifest& manifest) {
  std::vector<PreflightProblem> out;
  std::map<fs::path, std::vector<std::string>> seen_checkpoints;  // a directory is opened once
  std::map<fs::path, std::string> seen_tokenizers;
  for (const auto& model : manifest.models) {
    if (!seen_tokenizers.contains(model.tokenizer)) {
      std::string problem;
      try {
        hf::Tokenizer::from_file(model.tokenizer);
      } catch (const Error& e) {
        problem = e.what();
      }
      seen_tokenizers[model.tokenizer] = problem;
    }
    if (const auto& p = seen_tokenizers[model.tokenizer]; !p.empty()) out.push_back({model.id, "", p});
    for (const auto& ckpt : model.checkpoints) {
      auto it = seen_checkpoints.find(ckpt.path);
      if (it == seen_checkpoints.end()) it = seen_checkpoints.emplace(ckpt.path, checkpoint_problems(model, ckpt)).first;
      for (const auto& p : it->second) out.push_back({model.id, ckpt.name, p});
    }
  }
  return out;
}

std::string describe_problems(const Manifest& manifest, const std::vector<PreflightProblem>& problems) {
  if (problems.empty()) return "";
  std::ostringstream os;
  os << manifest.source.string() << ": " << problems.size() << " problem" << (problems.size() == 1 ? "" : "s")
     << " with the models, nothing was run:";
  for (const auto& p : problems) {
    os << "\n  " << p.model << (p.checkpoint.empty() ? " (tokenizer)" : "/" + p.checkpoint) << ": " << p.message;
  }
  return os.str();
}

void check_models(const Manifest& manifest) {
  const auto text = describe_problems(manifest, preflight(manifest));
  if (!text.empty()) throw ManifestError(text);
}

void check_models_collective(const Manifest& manifest, io::Communicator& comm) {
  std::string text;
  if (comm.rank() == 0) {
    try {
      check_models(manifest);
    } catch (const ManifestError& e) {
      text = e.what();
    }
  }
  comm.broadcast_value(text);
  if (text.empty()) return;
  throw ManifestError(comm.rank() == 0 ? text : "the model files were rejected on rank 0");
}

}  // namespace ibzoo::pipeline
