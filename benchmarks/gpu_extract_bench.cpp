// Throughput of ibzoo's extraction on one model directory, for the GPU benchmark
// (benchmarks/gpu_bench.py runs it next to transformers and prints the table).
//
//   gpu_extract_bench MODEL_DIR DEVICE DTYPE BATCH SEQ N_BATCHES THREADS
//
// Documents are SEQ tokens drawn from a Zipf(1.1) law over the vocabulary (so that
// n-gram labels repeat as in text), BATCH documents per forward pass. Timed modes,
// each after one untimed warm-up batch, print one JSON line each:
//   forward          the forward pass alone (no LM head, nothing leaves the device)
//   assign           forward + the device's soft assignments of every layer, rounded
//                    to float16 and copied to the host, without writing them: the
//                    estimator's cost on the device
//   extract          the real extract stage: forward + soft assignments of every
//                    layer, written with the positions' 8 n-gram label sets (orders
//                    1-4, input and output) to the item's state.h5 as in a run, with
//                    float16 assignments (storage.assignments auto for bfloat16);
//                    then, timed apart (reduce_s), the reduce of that item, which
//                    builds the label tables from the stored assignments on the host
//   extract_float32  the same with float32 assignments
#include "analysis/labels.h"
#include "analysis/reference_points.h"
#include "io/run_dir.h"
#include "models/model.h"
#include "stages/extract.h"
#include "stages/reduce.h"

#include <nlohmann/json.hpp>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <deque>
#include <filesystem>
#include <iostream>
#include <string>
#include <unistd.h>
#include <vector>

namespace {

using namespace ibzoo;
using Clock = std::chrono::steady_clock;

std::vector<std::int64_t> zipf_tokens(std::int64_t n, std::int64_t vocab, std::uint64_t seed) {
  std::vector<double> cdf(static_cast<std::size_t>(vocab));
  double total = 0.0;
  for (std::int64_t k = 0; k < vocab; ++k) cdf[static_cast<std::size_t>(k)] = total += std::pow(static_cast<double>(k + 1), -1.1);
  analysis::SplitMix64Stream rng(seed);
  std::vector<std::int64_t> out(static_cast<std::size_t>(n));
  for (auto& t : out) {
    const double u = static_cast<double>(rng.next() >> 11) * 0x1.0p-53 * total;
    t = std::lower_bound(cdf.begin(), cdf.end(), u) - cdf.begin();
    if (t >= vocab) t = vocab - 1;
  }
  return out;
}

stages::PreparedText make_text(std::int64_t n_docs, std::int64_t seq, std::int64_t vocab) {
  stages::PreparedText text;
  text.id = "bench";
  text.corpus.tokens = zipf_tokens(n_docs * seq, vocab, 42);
  for (std::int64_t k = 0; k <= n_docs; ++k) text.corpus.doc_offsets.push_back(k * seq);
  for (std::int64_t k = 0; k < n_docs; ++k) text.corpus.doc_ids.push_back(k);
  text.positions = analysis::ngram_positions(text.corpus, 4);
  text.pos_offsets.assign(static_cast<std::size_t>(n_docs + 1), 0);
  for (const auto doc : text.positions.doc_ids) ++text.pos_offsets[static_cast<std::size_t>(doc + 1)];
  for (std::size_t k = 1; k < text.pos_offsets.size(); ++k) text.pos_offsets[k] += text.pos_offsets[k - 1];
  for (const auto dir : {analysis::NgramDirection::kInput, analysis::NgramDirection::kOutput}) {
    for (int order = 1; order <= 4; ++order) {
      const auto name = std::string(dir == analysis::NgramDirection::kInput ? "in" : "out") + std::to_string(order);
      text.label_sets.push_back(analysis::ngram_label_set(name, text.corpus, text.positions, order, dir));
    }
  }
  return text;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 8) {
    std::cerr << "usage: gpu_extract_bench MODEL_DIR cpu|cuda float32|bfloat16|float16 BATCH SEQ N_BATCHES THREADS\n";
    return 2;
  }
  try {
    const std::filesystem::path dir = argv[1];
    models::RunOptions options;
    options.device = models::parse_device(argv[2]);
    options.dtype = models::parse_dtype(argv[3]);
    const auto batch = std::stoll(argv[4]);
    const auto seq = std::stoll(argv[5]);
    const auto n_batches = std::stoll(argv[6]);
    const int threads = std::stoi(argv[7]);

    auto t0 = Clock::now();
    const auto model = models::Model::load(dir, options);
    const double load_s = std::chrono::duration<double>(Clock::now() - t0).count();
    const auto text = make_text(batch * (n_batches + 1), seq, model->vocab_size());

    // forward: warm-up batch 0, then batches 1..n.
    const auto docs = [&](std::int64_t b) {
      std::vector<std::vector<std::int32_t>> seqs;
      for (std::int64_t k = b * batch; k < (b + 1) * batch; ++k) {
        const auto* p = text.corpus.tokens.data() + k * seq;
        seqs.emplace_back(p, p + seq);
      }
      return seqs;
    };
    model->forward_layers(docs(0), models::LayerSink{});
    model->synchronize();
    t0 = Clock::now();
    for (std::int64_t b = 1; b <= n_batches; ++b) model->forward_layers(docs(b), models::LayerSink{});
    model->synchronize();
    const double forward_s = std::chrono::duration<double>(Clock::now() - t0).count();
    const auto tokens = static_cast<double>(n_batches * batch * seq);
    std::cout << nlohmann::json{{"mode", "forward"}, {"model", dir.filename().string()}, {"tokens", tokens},
                                {"seconds", forward_s}, {"tokens_per_s", tokens / forward_s}, {"load_s", load_s}}
                     .dump()
              << std::endl;

    // assign: the device kernel and the copy back, nothing written.
    const auto points = analysis::generate_reference_points(1, 100, model->hidden_size());
    const models::DeviceAssigner device_assigner(*model, points.w, points.n_points, points.dim, 0.1);
    std::vector<std::int64_t> rows;
    for (std::int64_t k = 0; k < batch * seq; ++k) {
      if (k % seq >= 7) rows.push_back(k);  // ~ the extract's positions per document
    }
    const bool half = true;
    model->forward_assignments(docs(0), rows, device_assigner, {}, half).wait();
    t0 = Clock::now();
    {
      std::deque<models::Assignments> in_flight;
      for (std::int64_t b = 1; b <= n_batches; ++b) {
        in_flight.push_back(model->forward_assignments(docs(b), rows, device_assigner, {}, half));
        if (in_flight.size() > 2) {
          in_flight.front().wait();
          in_flight.pop_front();
        }
      }
      for (const auto& a : in_flight) a.wait();
    }
    const double assign_s = std::chrono::duration<double>(Clock::now() - t0).count();
    std::cout << nlohmann::json{{"mode", "assign"}, {"model", dir.filename().string()}, {"tokens", tokens},
                                {"positions", static_cast<double>(rows.size() * static_cast<std::size_t>(n_batches))},
                                {"seconds", assign_s}, {"tokens_per_s", tokens / assign_s}}
                     .dump()
              << std::endl;

    // extract: the stage itself, warm-up item (document 0's batch) then the timed item.
    const auto root = std::filesystem::temp_directory_path() / ("ibzoo_gpu_bench_" + std::to_string(::getpid()));
    std::filesystem::remove_all(root);
    const io::RunDir run(root);
    stages::EstimatorSetup setup{analysis::SoftAssigner(points, 0.1), {}, "fixed", analysis::checksum(points)};
    setup.layout.n_bins = 100;
    stages::ExtractJob job;
    job.tokens_per_batch = batch * seq;
    job.threads = threads;
    job.layers = stages::resolve_layers({}, model->n_layers(), "bench");
    job.run = run;
    job.item_id = "warmup";
    job.doc_begin = 0;
    job.doc_end = batch;
    stages::extract(job, text, *model, setup);
    job.doc_begin = batch;
    job.doc_end = batch * (n_batches + 1);
    for (const bool float16 : {false, true}) {
      job.item_id = float16 ? "timed" : "timed_float32";
      job.assignments_float16 = float16;
      const auto result = stages::extract(job, text, *model, setup);
      // The reduce of that item on the host (the label tables are built there from
      // the stored assignments): a separate stage, reported on its own.
      stages::ReduceJob reduce_job;
      reduce_job.run = run;
      reduce_job.model = "bench";
      reduce_job.checkpoint = job.item_id;
      reduce_job.item_ids = {job.item_id};
      reduce_job.threads = threads;
      const auto t_reduce = Clock::now();
      (void)stages::reduce(reduce_job);
      const double reduce_s = std::chrono::duration<double>(Clock::now() - t_reduce).count();
      std::cout << nlohmann::json{{"mode", float16 ? "extract" : "extract_float32"},
                                  {"model", dir.filename().string()},
                                  {"tokens", result.n_tokens},
                                  {"positions", result.n_positions},
                                  {"layers", job.layers.size()},
                                  {"label_sets", text.label_sets.size()},
                                  {"seconds", result.wall_s},
                                  {"forward_s", result.forward_s},
                                  {"estimate_wait_s", result.estimate_s},
                                  {"write_s", result.write_s},
                                  {"state_bytes", result.state_bytes},
                                  {"reduce_s", reduce_s},
                                  {"async_copies", models::async_device_copies()},
                                  {"tokens_per_s", static_cast<double>(result.n_tokens) / result.wall_s}}
                       .dump()
                << std::endl;
    }
    std::filesystem::remove_all(root);
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "gpu_extract_bench: " << e.what() << "\n";
    return 1;
  }
}
