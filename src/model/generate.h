// The generation loop, torch-free: feed the prompt, sample, feed the sample, until max_tokens, a stop id
// (eos) or a stop string. The model is reached through a step callback (new ids → last-position logits), so
// the loop is shared by the KV-cache path, the no-cache reference path and tests with a mock model.
// Text (for stop strings) comes from a TokenDecoder callback, so any tokenizer plugs in. An optional per-token
// callback (GenerateParams::on_token) streams the text live, in UTF-8-whole pieces that never include a stop
// string; it can cancel. The loop is also available one step at a time (Generation), so a scheduler can advance
// many sequences in one forward (model/batch-scheduler.h). Not here: speculative decoding.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ecpo::model {

// ids → text (the whole completion so far). Empty function = no text, stop strings unavailable.
using TokenDecoder = std::function<std::string(const std::vector<int>&)>;
// Feeds `new_ids` (the prompt on the first call, then one id) and returns the logits [V] of the last one.
using StepFn = std::function<std::vector<float>(const std::vector<int>& new_ids)>;

// One streaming event. Events come in order: one per completion id (id >= 0, in GenerateResult::ids order),
// then exactly one final event (id == -1, finish_reason set) unless the callback cancelled or the loop threw.
// `delta` is the text released by this event — it may be empty (text held back). Guarantees:
//   - the concatenation of all deltas equals GenerateResult::text byte for byte;
//   - no delta splits a valid UTF-8 character (bytes of an incomplete trailing sequence wait; bytes that can
//     never become valid are passed on as the decoder made them, so consumers needing strict UTF-8 sanitise
//     each delta — per-delta sanitising equals sanitising the whole text, since a delta never ends in the
//     middle of a sequence that later completes);
//   - text that might still become part of a stop string (the longest suffix that is a proper prefix of any
//     stop string) is held back, so no delta ever contains stop-string text.
// Only the final event may end in an incomplete UTF-8 sequence (a completion cut by max_tokens), exactly as
// GenerateResult::text does. The decoder must be prefix-stable (decode(ids[0..k)) is a byte prefix of
// decode(ids)), as byte-level BPE and SentencePiece byte-fallback decoders are; a decoder that rewrites
// released text makes generate_loop throw ecpo::Error. Without a decoder every delta is empty.
struct TokenEvent {
  int id = -1;                    // the completion id just sampled; -1 on the final event
  int index = -1;                 // its position in GenerateResult::ids; -1 on the final event
  std::string_view delta;         // newly released text (valid only during the call)
  std::string_view finish_reason; // "" except on the final event ("stop" | "length")
};
// Return false to cancel: generation stops at once, finish_reason "cancelled", no final event; the result's
// ids include the id whose event cancelled, and text is exactly the concatenation of the deltas delivered.
// The return value of the final event is ignored.
using TokenCallback = std::function<bool(const TokenEvent&)>;

struct GenerateParams {
  int max_tokens = 256;
  double temperature = 0.0;  // 0 → greedy
  double top_p = 1.0;
  int top_k = 0;
  std::uint64_t seed = 0;
  std::vector<int> stop_ids;                 // in addition to the config's eos ids (when stop_at_eos)
  std::vector<std::string> stop_strings;     // need a TokenDecoder
  bool stop_at_eos = true;
  bool use_kv_cache = true;                  // false: re-run the full forward every step (reference path)
  TokenCallback on_token;                    // empty = no streaming (see TokenEvent)
};

struct GenerateResult {
  std::vector<int> ids;        // completion ids (a stop id is not included; ids completing a stop string are)
  std::string text;            // decoded completion, cut before a matched stop string ("" without a decoder)
  std::string finish_reason;   // "stop" | "length" | "cancelled" (on_token returned false)
  int prompt_tokens = 0;
  double prefill_ms = 0;       // the first step (prompt)
  double decode_ms = 0;        // all later steps
};

// One sequence's generation, one step at a time: next_ids() are the ids to feed (the prompt first, then each sampled
// id), accept() takes the logits [V] of the last id fed — sampling, stop ids, stop strings, max_tokens, the context
// limit, streaming and cancellation exactly as generate_loop (which is a loop over this). Streaming events are
// emitted from inside the constructor (max_tokens 0: the final event) and accept(), on the calling thread.
class Generation {
 public:
  // Throws ecpo::Error for an empty prompt, stop strings without a decoder, or a prompt that fills max_context.
  Generation(const std::vector<int>& prompt, const GenerateParams& params, const TokenDecoder& decode,
             const std::vector<std::int64_t>& eos_ids, std::int64_t max_context = 0);
  ~Generation();
  Generation(Generation&&) noexcept;
  Generation& operator=(Generation&&) noexcept;

  bool done() const;
  const std::vector<int>& next_ids() const;  // empty once done
  void accept(const std::vector<float>& logits);
  const std::vector<int>& prompt() const;
  // ids, text, finish_reason, prompt_tokens (final once done); prefill_ms / decode_ms are the driver's to fill.
  const GenerateResult& result() const;
  GenerateResult& result();

 private:
  struct State;
  std::unique_ptr<State> s_;
};

// Runs the loop. `eos_ids` are honoured when params.stop_at_eos; `max_context` (0 = unlimited) caps
// prompt + completion length (finish_reason "length").
GenerateResult generate_loop(const std::vector<int>& prompt, const GenerateParams& params, const StepFn& step,
                             const TokenDecoder& decode, const std::vector<std::int64_t>& eos_ids,
                             std::int64_t max_context = 0);

// ---- streaming helpers, exposed for tests ----
// Bytes at the end of `s` that begin a valid UTF-8 sequence still missing continuation bytes (0..3).
std::size_t incomplete_utf8_tail(std::string_view s);
// Length of the longest suffix of `text` that is a proper, non-empty prefix of one of `stops` (0 = none).
std::size_t stop_prefix_tail(std::string_view text, const std::vector<std::string>& stops);

}  // namespace ecpo::model
