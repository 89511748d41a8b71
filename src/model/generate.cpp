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

struct Generation::State {
  std::vector<int> prompt;
  GenerateParams params;
  TokenDecoder decode;
  std::vector<std::int64_t> eos_ids;
  std::int64_t max_context;
  Sampler sampler;
  Streamer streamer;
  bool streaming, need_text, done = false;
  std::string text;  // decode(r.ids), kept current when need_text
  std::vector<int> feed;
  GenerateResult r;

  State(const std::vector<int>& p, const GenerateParams& gp, const TokenDecoder& d, const std::vector<std::int64_t>& eos,
        std::int64_t max_ctx)
      : prompt(p),
        params(gp),
        decode(d),
        eos_ids(eos),
        max_context(max_ctx),
        sampler({gp.temperature, gp.top_p, gp.top_k, gp.seed}),
        streamer(params.on_token, params.stop_strings),
        streaming(static_cast<bool>(gp.on_token)),
        need_text(d && (streaming || !gp.stop_strings.empty())) {}

  bool is_stop_id(int id) const {
    if (std::find(params.stop_ids.begin(), params.stop_ids.end(), id) != params.stop_ids.end()) return true;
    return params.stop_at_eos && std::find(eos_ids.begin(), eos_ids.end(), id) != eos_ids.end();
  }

  // max_tokens reached or the context full: finish with "length".
  void check_limits() {
    const bool full = max_context > 0 && static_cast<std::int64_t>(prompt.size() + r.ids.size()) >= max_context;
    if (static_cast<int>(r.ids.size()) >= params.max_tokens || full) finish();
  }

  // The end without a stop string: the whole text, and the final event.
  void finish() {
    if (decode) r.text = need_text && !r.ids.empty() ? text : decode(r.ids);
    if (streaming) streamer.finish(r.text, r.finish_reason);
    done = true;
    feed.clear();
  }
};

Generation::Generation(const std::vector<int>& prompt, const GenerateParams& params, const TokenDecoder& decode,
                       const std::vector<std::int64_t>& eos_ids, std::int64_t max_context) {
  if (prompt.empty()) throw Error("generate: the prompt is empty", "generate", "pass at least one token (e.g. BOS)");
  if (!params.stop_strings.empty() && !decode)
    throw Error("stop strings need a tokenizer (TokenDecoder)", "generate");
  if (max_context > 0 && static_cast<std::int64_t>(prompt.size()) >= max_context)
    throw Error("the prompt (" + std::to_string(prompt.size()) + " tokens) fills the model's context of " +
                    std::to_string(max_context),
                "generate", "shorten the prompt");
  s_ = std::make_unique<State>(prompt, params, decode, eos_ids, max_context);
  s_->r.prompt_tokens = static_cast<int>(prompt.size());
  s_->r.finish_reason = "length";
  s_->feed = prompt;
  s_->check_limits();
}

Generation::~Generation() = default;
Generation::Generation(Generation&&) noexcept = default;
Generation& Generation::operator=(Generation&&) noexcept = default;

bool Generation::done() const { return s_->done; }
const std::vector<int>& Generation::next_ids() const { return s_->feed; }
const std::vector<int>& Generation::prompt() const { return s_->prompt; }
const GenerateResult& Generation::result() const { return s_->r; }
GenerateResult& Generation::result() { return s_->r; }

void Generation::accept(const std::vector<float>& logits) {
  State& g = *s_;
  if (g.done) throw Error("Generation::accept after the generation finished", "generate");
  const int id = g.sampler.sample(logits);
  if (g.is_stop_id(id)) {
    g.r.finish_reason = "stop";
    g.finish();
    return;
  }
  g.r.ids.push_back(id);
  g.feed.assign(1, id);
  if (g.need_text) g.text = g.decode(g.r.ids);
  std::size_t cut = std::string::npos;
  if (!g.params.stop_strings.empty()) {
    for (const auto& s : g.params.stop_strings)
      if (!s.empty()) cut = std::min(cut, g.text.find(s));
  }
  if (g.streaming) {
    static const std::string kNoText;
    const int index = static_cast<int>(g.r.ids.size()) - 1;
    if (!g.streamer.token(id, index, g.decode ? g.text : kNoText, cut)) {
      g.r.text = g.streamer.released();
      g.r.finish_reason = "cancelled";
      g.done = true;
      g.feed.clear();
      return;
    }
  }
  if (cut != std::string::npos) {
    g.r.text = g.text.substr(0, cut);
    g.r.finish_reason = "stop";
    if (g.streaming) g.streamer.finish(g.r.text, g.r.finish_reason);
    g.done = true;
    g.feed.clear();
    return;
  }
  g.check_limits();
}

GenerateResult generate_loop(const std::vector<int>& prompt, const GenerateParams& params, const StepFn& step,
                             const TokenDecoder& decode, const std::vector<std::int64_t>& eos_ids,
                             std::int64_t max_context) {
  using clock = std::chrono::steady_clock;
  Generation g(prompt, params, decode, eos_ids, max_context);
  double prefill_ms = 0, decode_ms = 0;
  for (int n = 0; !g.done(); ++n) {
    const auto t0 = clock::now();
    std::vector<float> logits = step(g.next_ids());
    (n == 0 ? prefill_ms : decode_ms) += std::chrono::duration<double, std::milli>(clock::now() - t0).count();
    g.accept(logits);
  }
  GenerateResult r = std::move(g.result());
  r.prefill_ms = prefill_ms;
  r.decode_ms = decode_ms;
  return r;
}

}  // namespace ecpo::model
