// The command line's shared parts: did-you-mean, defaults as written, the exit code of
// each kind of error, --help's content, and one set of defaults for the manifest and
// the commands that take the same settings.
#include "cli/command.h"

#include "errors/error.h"
#include "io/fs.h"
#include "pipeline/manifest.h"
#include "stages/regress.h"

#include <gtest/gtest.h>

#include <unistd.h>

#include <iostream>
#include <sstream>

namespace ibzoo::cli {
namespace {

namespace fs = std::filesystem;

TEST(CommandTest, DidYouMeanSuggestsTheNearestName) {
  const std::vector<std::string> commands = {"cancel", "plan", "report", "run", "status", "submit"};
  EXPECT_EQ(did_you_mean("stauts", commands), " (did you mean 'status'?)");
  EXPECT_EQ(did_you_mean("sumbit", commands), " (did you mean 'submit'?)");
  EXPECT_EQ(did_you_mean("rpt", commands), "");
  EXPECT_EQ(did_you_mean("--quite", {"--quiet", "--stage"}), " (did you mean '--quiet'?)");
  EXPECT_EQ(did_you_mean("--run", {"--quiet", "--run-dir"}), " (did you mean '--run-dir'?)");
  EXPECT_EQ(did_you_mean("xyzzy", commands), "");
}

TEST(CommandTest, DefaultsPrintAsWritten) {
  EXPECT_EQ(default_text(0.95), "0.95");
  EXPECT_EQ(default_text(0.02), "0.02");
  EXPECT_EQ(default_text(1.0), "1");
  EXPECT_EQ(default_text(30.0), "30");
}

TEST(CommandTest, InputErrorsExitTwoAndRuntimeFailuresOne) {
  EXPECT_EQ(exit_code_for(UsageError("x")), 2);
  EXPECT_EQ(exit_code_for(ManifestError("x")), 2);
  EXPECT_EQ(exit_code_for(MissingInputError("x")), 2);
  EXPECT_EQ(exit_code_for(CorruptDataError("x")), 2);
  EXPECT_EQ(exit_code_for(ModelError("x")), 2);
  EXPECT_EQ(exit_code_for(WriteError("x")), 1);
  EXPECT_EQ(exit_code_for(MpiError("x")), 1);
  EXPECT_EQ(exit_code_for(Error("2 item(s) failed")), 1);
  EXPECT_EQ(exit_code_for(std::runtime_error("torch")), 1);
}

std::string help_of(CommandLine cli) {
  std::ostringstream out;
  auto* old = std::cout.rdbuf(out.rdbuf());
  const auto vm = parse_command_line(cli, {"--help"});
  std::cout.rdbuf(old);
  EXPECT_FALSE(vm);
  return out.str();
}

TEST(CommandTest, HelpListsArgumentsOptionsDefaultsAndExitCodes) {
  CommandLine cli{"ibzoo thing RUN [options]", po::options_description("options"), {"run"}, "  RUN   a run", "thing: 1 when x"};
  cli.options.add_options()("level", po::value<double>()->default_value(0.95, default_text(0.95)), "a level");
  const auto help = help_of(cli);
  for (const auto* words : {"usage: ibzoo thing RUN [options]", "arguments:\n  RUN   a run", "--help", "--level arg (=0.95)",
                            "exit codes: 0 success; 1 runtime failure", "2 usage or input error", "thing: 1 when x"}) {
    EXPECT_NE(help.find(words), std::string::npos) << words << " not in:\n" << help;
  }
  // A command without options of its own still lists --help, under one "options:" header.
  const auto bare = help_of({"ibzoo bare RUN", po::options_description("options"), {"run"}, "", ""});
  EXPECT_EQ(bare.find("options:"), bare.rfind("options:")) << bare;
  EXPECT_NE(bare.find("--help"), std::string::npos) << bare;
}

TEST(CommandTest, AnUnknownOptionGetsASuggestion) {
  CommandLine cli{"ibzoo thing", po::options_description("options"), {}, "", ""};
  cli.options.add_options()("quiet", "say less");
  try {
    parse_command_line(cli, {"--quite"});
    FAIL();
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("unknown option '--quite' (did you mean '--quiet'?)"), std::string::npos)
        << e.what();
  }
}

TEST(CommandTest, RegressStartsFromTheManifestsAnalysisDefaults) {
  const pipeline::AnalysisSpec manifest;
  const stages::RegressJob regress;
  EXPECT_EQ(regress.predictors, manifest.predictors);
  EXPECT_EQ(regress.controls, manifest.controls);
  EXPECT_EQ(regress.cv, manifest.cv);
  EXPECT_EQ(static_cast<std::int64_t>(regress.n_bootstrap), manifest.bootstrap);
  EXPECT_EQ(regress.seed, manifest.seed);
}

TEST(CommandTest, AManifestThatSetsNothingGetsTheStructDefaults) {
  const auto dir = fs::temp_directory_path() / ("ibzoo_command_test_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  const std::string src = IBZOO_SOURCE_DIR;
  io::write_file_atomic(dir / "m.yaml", "study: d\nroots: [" + src + "]\nmodels:\n  - {id: t, family: gpt2, path: " + src +
                                            "/manifests/test/models/tiny-gpt2}\ndata:\n  text: {files: [" + src +
                                            "/manifests/test/data/genesis.txt]}\n");
  const auto m = pipeline::load_manifest(dir / "m.yaml");
  fs::remove_all(dir);
  EXPECT_EQ(m.estimator, pipeline::EstimatorSpec{});
  EXPECT_EQ(m.storage, pipeline::StorageSpec{});
  EXPECT_EQ(m.compute, pipeline::ComputeSpec{});
  EXPECT_EQ(m.analysis, pipeline::AnalysisSpec{});
  auto text = m.text;
  text.files.clear();
  EXPECT_EQ(text, pipeline::TextData{});
}

}  // namespace
}  // namespace ibzoo::cli
