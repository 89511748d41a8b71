// Continuous batching for one loaded CausalLM. Concurrent generate() calls (from any threads) queue; one scheduler
// thread admits them into the running batch at token boundaries while the KV memory cap and max_batch allow (a
// request that does not fit waits — it never fails for lack of room), and every step runs ONE kernel forward over all
// active sequences: a single new token for each decoding sequence plus chunks of arriving prompts (chunked prefill,
// at most prefill_chunk prompt tokens per step, so arrivals do not stall running sequences for long).
// Prefix reuse: a finished sequence's keys/values stay in a cache keyed by its tokens (hashed 16-token blocks,
// LRU within the same memory cap); a new prompt starts from the longest cached prefix and prefills only the rest.
// Sampling, stop ids/strings, streaming, cancellation and seeds behave exactly as CausalLM::generate: a sequence's
// logits are bit-identical whatever runs beside it (kernels.h determinism contract), so greedy output alone equals
// greedy output in any batch, with or without a prefix hit. Streaming callbacks run on the calling thread.
#pragma once
#include <cstdint>
#include <memory>
#include <vector>

#include "model/generate.h"
#include "model/llama.h"

namespace ecpo::model {

struct BatchOptions {
  int max_batch = 32;               // sequences in the running batch at most
  std::int64_t kv_cache_mb = 1024;  // KV memory of running sequences + the prefix cache, MiB
  int prefill_chunk = 256;          // prompt tokens fed per step, over all arriving sequences
  bool prefix_cache = true;         // keep finished sequences' KV for later prompts that share a prefix
};

// Per request, filled by generate().
struct RequestStats {
  std::int64_t cached_tokens = 0;  // prompt tokens whose keys/values came from the prefix cache (not prefilled)
  double queue_ms = 0;             // waiting for room (max_batch, KV memory)
  double ttft_ms = 0;              // submission → first completion token sampled
};

// Counters since the scheduler started.
struct SchedulerMetrics {
  std::int64_t requests = 0;              // finished (including cancelled and failed)
  std::int64_t prefix_hits = 0;           // requests that reused a cached prefix
  std::int64_t prefill_tokens = 0;        // prompt tokens computed
  std::int64_t prefill_tokens_saved = 0;  // prompt tokens taken from the prefix cache instead
  std::int64_t decode_tokens = 0;         // single-token steps of sequences
  std::int64_t steps = 0;                 // forwards run
  int max_active = 0;                     // largest batch seen
  std::int64_t kv_bytes_reserved = 0;     // now: running sequences' caches
  std::int64_t prefix_entries = 0, prefix_bytes = 0;  // now: the prefix cache
};

class BatchScheduler {
 public:
  // `lm` must outlive the scheduler; nothing else may run it while the scheduler lives.
  BatchScheduler(CausalLM& lm, const BatchOptions& options = {});
  ~BatchScheduler();  // finishes running requests, then stops
  BatchScheduler(const BatchScheduler&) = delete;
  BatchScheduler& operator=(const BatchScheduler&) = delete;

  // Thread-safe. Blocks until the sequence finishes (or its on_token callback returns false: finish_reason
  // "cancelled", ids up to the cancelling one, text = the deltas delivered). params.use_kv_cache is ignored.
  // prefill_ms = admission → first token; decode_ms = first token → end. Throws what CausalLM::generate throws.
  GenerateResult generate(const std::vector<int>& prompt, const GenerateParams& params, const TokenDecoder& decode = {},
                          RequestStats* stats = nullptr);

  SchedulerMetrics metrics() const;
  const BatchOptions& options() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace ecpo::model
