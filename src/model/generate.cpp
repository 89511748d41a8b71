// The sampling loop with stop ids / stop strings / max tokens (see generate.h).
#include "model/generate.h"

#include <algorithm>
#include <chrono>

#include "model/sampler.h"
#include "util/error.h"

namespace ecpo::model {

GenerateResult generate_loop(const std::vector<int>& prompt, const GenerateParams& params, const StepFn& step,
                             const TokenDecoder& decode, const std::vector<std::int64_t>& eos_ids,
                             std::int64_t max_context) {
  if (prompt.empty()) throw Error("generate: the prompt is empty", "generate", "pass at least one token (e.g. BOS)");
  if (!params.stop_strings.empty() && !decode)
    throw Error("stop strings need a tokenizer (TokenDecoder)", "generate");
  using clock = std::chrono::steady_clock;
  GenerateResult r;
  r.prompt_tokens = static_cast<int>(prompt.size());
  r.finish_reason = "length";
  Sampler sampler({params.temperature, params.top_p, params.top_k, params.seed});
  auto is_stop_id = [&](int id) {
    if (std::find(params.stop_ids.begin(), params.stop_ids.end(), id) != params.stop_ids.end()) return true;
    return params.stop_at_eos && std::find(eos_ids.begin(), eos_ids.end(), id) != eos_ids.end();
  };
  if (max_context > 0 && static_cast<std::int64_t>(prompt.size()) >= max_context)
    throw Error("the prompt (" + std::to_string(prompt.size()) + " tokens) fills the model's context of " +
                    std::to_string(max_context),
                "generate", "shorten the prompt");

  std::vector<int> feed = prompt;
  for (int n = 0; n < params.max_tokens; ++n) {
    if (max_context > 0 && static_cast<std::int64_t>(prompt.size() + r.ids.size()) >= max_context) break;
    auto t0 = clock::now();
    std::vector<float> logits = step(feed);
    double ms = std::chrono::duration<double, std::milli>(clock::now() - t0).count();
    (n == 0 ? r.prefill_ms : r.decode_ms) += ms;
    int id = sampler.sample(logits);
    if (is_stop_id(id)) {
      r.finish_reason = "stop";
      break;
    }
    r.ids.push_back(id);
    feed.assign(1, id);
    if (!params.stop_strings.empty()) {
      std::string text = decode(r.ids);
      std::size_t cut = std::string::npos;
      for (const auto& s : params.stop_strings)
        if (!s.empty()) cut = std::min(cut, text.find(s));
      if (cut != std::string::npos) {
        r.text = text.substr(0, cut);
        r.finish_reason = "stop";
        return r;
      }
    }
  }
  if (decode) r.text = decode(r.ids);
  return r;
}

}  // namespace ecpo::model
