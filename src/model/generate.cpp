// The sampling loop with stop ids / stop strings / max tokens, and the live text stream of
// GenerateParams::on_token (see generate.h). Torch-free: the model is a StepFn, the tokenizer a TokenDecoder.
#include "model/generate.h"

#include <algorithm>
#include <chrono>

#include "model/sampler.h"
#include "util/error.h"
#include "util/utf8.h"

namespace ecpo::model {

std::size_t incomplete_utf8_tail(std::string_view s) { return utf8_incomplete_tail(s); }

std::size_t stop_prefix_tail(std::string_view text, const std::vector<std::string>& stops) {
  std::size_t best = 0;
  for (const auto& s : stops) {
    if (s.size() < 2) continue;  // a 1-byte stop string has no proper non-empty prefix
    for (std::size_t k = std::min(s.size() - 1, text.size()); k > best; --k)
      if (text.substr(text.size() - k) == std::string_view(s).substr(0, k)) {
        best = k;
        break;
      }
  }
  return best;
}

namespace {

// Releases streamed text: tracks what was delivered and checks the decoder never rewrites it.
class Streamer {
 public:
  Streamer(const TokenCallback& cb, const std::vector<std::string>& stops) : cb_(cb), stops_(stops) {}

  // `text` is the decoded completion so far; `end` caps the releasable part (a stop-string cut), npos = none.
  // Returns the callback's answer.
  bool token(int id, int index, const std::string& text, std::size_t end) {
    check_prefix(text);
    std::size_t stop = end;
    if (stop == std::string::npos) {
      std::string_view pending = std::string_view(text).substr(released_.size());
      std::size_t hold = std::max(incomplete_utf8_tail(pending), stop_prefix_tail(pending, stops_));
      stop = text.size() - hold;
    }
    return emit(id, index, text, stop, {});
  }

  void finish(const std::string& text, std::string_view finish_reason) {
    check_prefix(text);
    emit(-1, -1, text, text.size(), finish_reason);
  }

  const std::string& released() const { return released_; }

 private:
  void check_prefix(const std::string& text) const {
    if (text.size() < released_.size() || text.compare(0, released_.size(), released_) != 0)
      throw Error("the token decoder changed text it had already produced", "generate",
                  "streaming needs a prefix-stable decoder (byte-level BPE is); generate without on_token");
  }

  bool emit(int id, int index, const std::string& text, std::size_t end, std::string_view finish_reason) {
    const std::size_t from = released_.size();
    const std::size_t to = std::max(from, std::min(end, text.size()));
    released_.append(text, from, to - from);
    TokenEvent ev;
    ev.id = id;
    ev.index = index;
    ev.delta = std::string_view(released_).substr(from);
    ev.finish_reason = finish_reason;
    return cb_(ev);
  }

  const TokenCallback& cb_;
  const std::vector<std::string>& stops_;
  std::string released_;
};

}  // namespace

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

  const bool streaming = static_cast<bool>(params.on_token);
  const bool need_text = decode && (streaming || !params.stop_strings.empty());
  Streamer streamer(params.on_token, params.stop_strings);
  std::string text;  // decode(r.ids), kept current when need_text
  static const std::string kNoText;

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
    if (need_text) text = decode(r.ids);
    std::size_t cut = std::string::npos;
    if (!params.stop_strings.empty()) {
      for (const auto& s : params.stop_strings)
        if (!s.empty()) cut = std::min(cut, text.find(s));
    }
    if (streaming) {
      const int index = static_cast<int>(r.ids.size()) - 1;
      if (!streamer.token(id, index, decode ? text : kNoText, cut)) {
        r.text = streamer.released();
        r.finish_reason = "cancelled";
        return r;
      }
    }
    if (cut != std::string::npos) {
      r.text = text.substr(0, cut);
      r.finish_reason = "stop";
      if (streaming) streamer.finish(r.text, r.finish_reason);
      return r;
    }
  }
  if (decode) r.text = need_text && !r.ids.empty() ? text : decode(r.ids);
  if (streaming) streamer.finish(r.text, r.finish_reason);
  return r;
}

}  // namespace ecpo::model
