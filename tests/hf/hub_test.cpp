#include "hf/hub.h"

#include "errors/error.h"
#include "io/fs.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <map>

namespace ibzoo::hf {
namespace {

namespace fs = std::filesystem;
using io::write_file_atomic;

EnvLookup env_of(std::map<std::string, std::string> vars) {
  return [vars = std::move(vars)](const char* name) -> const char* {
    const auto it = vars.find(name);
    return it == vars.end() ? nullptr : it->second.c_str();
  };
}

TEST(HfHubTest, CacheDirectoryFollowsHuggingfaceHubsOrder) {
  std::string rule;
  EXPECT_EQ(hub_cache_dir(env_of({{"HF_HUB_CACHE", "/a"}, {"HF_HOME", "/b"}}), &rule), fs::path("/a"));
  EXPECT_EQ(rule, "HF_HUB_CACHE");
  EXPECT_EQ(hub_cache_dir(env_of({{"HF_HOME", "/b"}, {"HOME", "/h"}}), &rule), fs::path("/b/hub"));
  EXPECT_EQ(rule, "HF_HOME/hub");
  EXPECT_EQ(hub_cache_dir(env_of({{"XDG_CACHE_HOME", "/x"}}), &rule), fs::path("/x/huggingface/hub"));
  EXPECT_EQ(hub_cache_dir(env_of({{"HOME", "/h"}}), &rule), fs::path("/h/.cache/huggingface/hub"));
  EXPECT_EQ(rule, "~/.cache/huggingface/hub");
  EXPECT_EQ(hub_repo_folder("EleutherAI/pythia-160m"), "models--EleutherAI--pythia-160m");
}

TEST(HfHubTest, RevisionNamesGiveStepsAndTokens) {
  EXPECT_EQ(parse_revision_name("step143000").step, 143000);
  const auto olmo = parse_revision_name("stage1-step140000-tokens588B");
  EXPECT_EQ(olmo.step, 140000);
  EXPECT_DOUBLE_EQ(*olmo.tokens, 588e9);
  EXPECT_EQ(parse_revision_name("global_step500").step, 500);
  EXPECT_EQ(parse_revision_name("step-000160").step, 160);
  EXPECT_EQ(parse_revision_name("checkpoint-1200").step, 1200);
  EXPECT_EQ(parse_revision_name("iter_0004000").step, 4000);
  EXPECT_FALSE(parse_revision_name("main").step.has_value());
  EXPECT_FALSE(parse_revision_name("steps").step.has_value());
}

TEST(HfHubTest, ResolvesRefsAndCommitsAndSaysWhereItLooked) {
  const auto cache = fs::temp_directory_path() / "ibzoo_hf_hub_test";
  fs::remove_all(cache);
  const auto repo = cache / "models--org--m";
  const std::string commit(40, 'a');
  fs::create_directories(repo / "snapshots" / commit);
  fs::create_directories(repo / "refs");
  write_file_atomic(repo / "refs" / "main", commit + "\n");
  EXPECT_EQ(resolve_hub_revision(cache, "org/m", "main"), repo / "snapshots" / commit);
  EXPECT_EQ(resolve_hub_revision(cache, "org/m", commit), repo / "snapshots" / commit);
  auto message = [&](const std::string& r, const std::string& rev) {
    try {
      resolve_hub_revision(cache, r, rev);
    } catch (const MissingInputError& e) {
      return std::string(e.what());
    }
    return std::string("(no error)");
  };
  EXPECT_NE(message("org/m", "step1").find("no " + (repo / "refs" / "step1").string() + "; revisions there: " +
                                            commit + ", main"),
            std::string::npos);
  EXPECT_NE(message("org/other", "main").find((cache / "models--org--other").string() + " does not exist"),
            std::string::npos);
  EXPECT_NE(message("org/m", std::string(40, 'b')).find("has no snapshot"), std::string::npos);
  EXPECT_NE(message("../x", "main").find("is not a repo id"), std::string::npos);
  EXPECT_NE(message("org/m", "../../etc").find("is not a branch, tag or commit name"), std::string::npos);
  fs::remove_all(cache);
}

}  // namespace
}  // namespace ibzoo::hf
