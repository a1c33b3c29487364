// The Hugging Face hub cache, read offline the way huggingface_hub lays it out:
//   <cache>/models--<org>--<name>/refs/<revision>          text file: the commit hash
//   <cache>/models--<org>--<name>/snapshots/<commit>/...   files, relative symlinks into blobs/
//   <cache>/models--<org>--<name>/blobs/<etag>
// Nothing is ever downloaded: a revision missing from the cache is an error that says
// which one and where it looked. Also: the training step and token count that
// checkpoint revision names carry (Pythia "step143000", OLMo 2
// "stage1-step140000-tokens588B", DeepSpeed "global_step500", Trainer "checkpoint-500").
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>

namespace ibzoo::hf {

// Reads an environment variable: nullptr when unset (std::getenv by default; tests pass their own).
using EnvLookup = std::function<const char*(const char*)>;

// The hub cache directory, as huggingface_hub chooses it: $HF_HUB_CACHE, else the
// legacy $HUGGINGFACE_HUB_CACHE, else $HF_HOME/hub, else $XDG_CACHE_HOME/huggingface/hub,
// else ~/.cache/huggingface/hub. `chosen_by` (if given) receives which rule applied,
// e.g. "HF_HUB_CACHE". The directory need not exist.
std::filesystem::path hub_cache_dir(const EnvLookup& env = nullptr, std::string* chosen_by = nullptr);

// The snapshot directory of `repo` ("org/name") at `revision` (a branch or tag name
// with a refs/ file, or a 40-hex commit hash). Throws MissingInputError naming the
// repo, the revision, the cache and the paths it tried, with the revisions the cache
// does hold. `repo` must be "org/name" or "name" (no "..", no empty part): else
// MissingInputError too.
std::filesystem::path resolve_hub_revision(const std::filesystem::path& cache, const std::string& repo,
                                           const std::string& revision);

// "org/name" -> "models--org--name".
std::string hub_repo_folder(const std::string& repo);

struct RevisionInfo {
  std::optional<std::int64_t> step;
  std::optional<double> tokens;  // tokensNNN[KMBT] -> NNN x 1e3/1e6/1e9/1e12
};
// The step (and tokens) a checkpoint or revision name carries: "step<N>" (also inside
// "stage1-step<N>-tokens<M>B" and "global_step<N>"), "step-<N>" (ibzoo train's
// checkpoints), "checkpoint-<N>", "ckpt-<N>", "iter_<N>". Empty fields where the name
// says nothing.
RevisionInfo parse_revision_name(const std::string& name);

}  // namespace ibzoo::hf
