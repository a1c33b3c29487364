// The torch-free ibzoo's stand-in for the one stage that runs a model. That executable
// hands every run with an accumulate stage to ibzoo-torch before it starts
// (cli/handoff.h), so this is reached only if that decision is wrong.
#include "errors/error.h"
#include "pipeline/accumulate_study.h"

namespace ibzoo::pipeline {

namespace {
[[noreturn]] void no_model() {
  throw Error("internal: this ibzoo executable runs no model, and the accumulate stage needs one; "
              "run it through ibzoo-torch (installed beside ibzoo)");
}
}  // namespace

std::shared_ptr<ModelCache> start_models(const Study&, const std::vector<std::size_t>&, const RunOptions&,
                                         const io::Communicator&) {
  no_model();
}

void accumulate_items(const Study&, const Texts&, const std::vector<std::size_t>&, ModelCache&, const io::RunDir&,
                      const RunOptions&, const io::Communicator&, const std::atomic<int>&, RunSummary&) {
  no_model();
}

}  // namespace ibzoo::pipeline
