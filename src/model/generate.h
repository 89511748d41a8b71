// The generation loop, torch-free: feed the prompt, sample, feed the sample, until max_tokens, a stop id
// (eos) or a stop string. The model is reached through a step callback (new ids → last-position logits), so
// the loop is shared by the KV-cache path, the no-cache reference path and tests with a mock model.
// Text (for stop strings) comes from a TokenDecoder callback, so any tokenizer plugs in.
#pragma once
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace ecpo::model {

// ids → text (the whole completion so far). Empty function = no text, stop strings unavailable.
using TokenDecoder = std::function<std::string(const std::vector<int>&)>;
// Feeds `new_ids` (the prompt on the first call, then one id) and returns the logits [V] of the last one.
using StepFn = std::function<std::vector<float>(const std::vector<int>& new_ids)>;

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
};

struct GenerateResult {
  std::vector<int> ids;        // completion ids (a stop id is not included; ids completing a stop string are)
  std::string text;            // decoded completion, cut before a matched stop string ("" without a decoder)
  std::string finish_reason;   // "stop" | "length"
  int prompt_tokens = 0;
  double prefill_ms = 0;       // the first step (prompt)
  double decode_ms = 0;        // all later steps
};

// Runs the loop. `eos_ids` are honoured when params.stop_at_eos; `max_context` (0 = unlimited) caps
// prompt + completion length (finish_reason "length").
GenerateResult generate_loop(const std::vector<int>& prompt, const GenerateParams& params, const StepFn& step,
                             const TokenDecoder& decode, const std::vector<std::int64_t>& eos_ids,
                             std::int64_t max_context = 0);

}  // namespace ecpo::model
