// Data flow: text file -> hf::Tokenizer -> models::Model (layers streamed) -> HDF5.
// Used by `ibzoo extract` to inspect one model on one text; the study path is extract.cpp.
#include "cli/tools/extract_file.h"

#include "errors/error.h"
#include "io/corpus.h"
#include "io/fs.h"
#include "io/h5.h"
#include "io/log.h"
#include "hf/tokenizer.h"

#include <cstring>

namespace ibzoo::tools {

ExtractFileResult extract_file(const ExtractFileJob& job) {
  const auto model = models::Model::load(job.model_dir, job.run);
  const auto tokenizer = hf::Tokenizer::from_file(job.model_dir);
  const auto text = io::read_utf8_text(job.text_file);
  const auto ids = tokenizer.encode(text, job.add_special_tokens);
  if (ids.empty()) {
    throw CorruptDataError(job.text_file.string() + ": the text gives no tokens (empty file?); give a non-empty text");
  }
  ExtractFileResult result{static_cast<std::int64_t>(ids.size()), model->n_layers(), model->hidden_size()};
  const auto t = result.n_tokens;
  const auto d = result.hidden_size;
  const auto n_layer_values = static_cast<std::size_t>(t * d);
  std::vector<float> hidden(static_cast<std::size_t>(result.n_layers + 1) * n_layer_values);
  const auto sink = [&](int layer_idx, const float* rows, std::int64_t n_rows, std::int64_t dim) {
    if (n_rows != t || dim != d) throw ModelError("extract: layer output has an unexpected shape");
    std::memcpy(hidden.data() + static_cast<std::size_t>(layer_idx) * n_layer_values, rows, n_layer_values * sizeof(float));
  };
  const std::vector<std::vector<std::int32_t>> seqs = {ids};
  std::vector<std::vector<float>> logits;
  if (job.logits) {
    logits = model->forward_layers_and_logits(seqs, sink);
  } else {
    model->forward_layers(seqs, sink);
  }

  const auto tmp = io::temp_path_for(job.out);
  {
    auto h5 = io::H5File::create(tmp);
    const std::vector<std::int64_t> ids64(ids.begin(), ids.end());
    h5.write("/input_ids", std::span<const std::int64_t>(ids64), {t});
    h5.write("/hidden_states", std::span<const float>(hidden), {result.n_layers + 1, t, d});
    if (job.logits) h5.write("/logits", std::span<const float>(logits[0]), {t, model->vocab_size()});
    h5.set_attr("/", "model_dir", job.model_dir.string());
    h5.set_attr("/", "text_file", job.text_file.string());
    h5.set_attr("/", "model_type", model->config().model_type);
    h5.set_attr("/", "device", models::device_name(job.run.device));
    h5.set_attr("/", "dtype", models::dtype_name(job.run.dtype));
    h5.set_attr("/", "final_norm", std::string(job.run.final_norm ? "apply" : "skip"));
    h5.set_attr("/", "add_special_tokens", std::int64_t{job.add_special_tokens ? 1 : 0});
    h5.set_attr("/", "ibzoo_version", io::version_string());
    h5.close();
  }
  io::commit_file(tmp, job.out);
  return result;
}

}  // namespace ibzoo::tools
