// CausalLM's state (INTERNAL to src/model/, torch-free): the config, every weight as a raw pointer (into the mmapped
// safetensors file when its dtype is the compute dtype, else into a converted copy), per-sequence KV caches, and the
// kernel forward that runs any number of sequences at once — each feeding some new tokens after its own cache — as
// one set of matrix products (prefill, decode, chunked prefill and batched decode are all this one call).
// Shared by llama.cpp (load, public API), llama-forward.cpp (the kernel forward), llama-reference.cpp (the torch
// reference, linked only by programs that ask for it) and the batch scheduler.
// Shapes: M rows (tokens of all sequences), C hidden, H heads, Hkv kv heads, D head dim, I intermediate, V vocab.
#pragma once
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "model/hf-config.h"
#include "model/kernels.h"
#include "model/llama.h"
#include "model/safetensors.h"
#include "model/work-pool.h"

namespace ecpo::model {

// 64-byte aligned, uninitialised bytes.
class AlignedBuffer {
 public:
  AlignedBuffer() = default;
  explicit AlignedBuffer(std::size_t bytes);
  AlignedBuffer(AlignedBuffer&& o) noexcept : p_(o.p_), n_(o.n_) { o.p_ = nullptr, o.n_ = 0; }
  AlignedBuffer& operator=(AlignedBuffer&& o) noexcept;
  AlignedBuffer(const AlignedBuffer&) = delete;
  AlignedBuffer& operator=(const AlignedBuffer&) = delete;
  ~AlignedBuffer() { std::free(p_); }
  void* data() const { return p_; }
  std::size_t size() const { return n_; }

 private:
  void* p_ = nullptr;
  std::size_t n_ = 0;
};

// One sequence's keys and values in the compute dtype (float32, or bf16 rounded to nearest even): per layer and kv
// head the keys TRANSPOSED, [D][capacity] (scores q·Kᵀ are then a plain C += A·B product over D), and the values
// [capacity][D]. Positions [0, len) are filled.
struct KvCache {
  AlignedBuffer mem;
  std::int64_t len = 0, capacity = 0;
  std::int64_t layers = 0, kv_heads = 0, head_dim = 0, elem = 0;  // elem = bytes per value

  // Bytes a cache of `capacity` positions takes for this model shape.
  static std::size_t bytes_for(const HfConfig& cfg, std::int64_t capacity, std::int64_t elem) {
    return static_cast<std::size_t>(2 * cfg.num_hidden_layers * cfg.num_key_value_heads * capacity * cfg.head_dim * elem);
  }
  // keys (which = 0, [D][capacity]) or values (which = 1, [capacity][D]) of layer l, kv head g
  void* at(std::int64_t l, int which, std::int64_t g) const {
    return static_cast<char*>(mem.data()) + (((l * 2 + which) * kv_heads + g) * capacity * head_dim) * elem;
  }
};

// Copies positions [0, n) of every layer and head from `src` to `dst` (capacities may differ); dst.len is left alone.
void kv_copy_prefix(const KvCache& src, KvCache& dst, std::int64_t n);

// What a step wants back: nothing (a prefill chunk that is not the last), the last row's logits [V], or every row's
// logits [n][V].
enum class StepLogits { none, last, all };

struct ForwardStep {
  KvCache* cache = nullptr;  // the new tokens go to positions cache->len .. cache->len + n - 1; len advances by n
  const int* ids = nullptr;
  std::int64_t n = 0;
  StepLogits logits = StepLogits::last;
  float* out = nullptr;  // [V] or [n][V] float32 when logits != none
};

// The torch forward over the same weights (llama-reference.cpp): the readable reference every kernel path is tested
// against. Created by CausalLM::set_fast_decode(false), so only programs that call it link libtorch.
class ReferenceForward {
 public:
  virtual ~ReferenceForward() = default;
  // Same contract as Impl::forward for ONE step (B = 1).
  virtual void forward(ForwardStep& step) = 0;
  // Left-padded batch without cache: last-position logits per sequence [B][V].
  virtual std::vector<std::vector<float>> logits_last_batch(const std::vector<std::vector<int>>& batch) = 0;
};

struct CausalLM::Impl {
  HfConfig cfg;
  kernels::WType wt = kernels::WType::f32;  // compute dtype of weights, activations in float32
  std::int64_t weight_bytes = 0;

  // Weights: raw pointers into `store` (mmapped, used in place) or into `arena` (converted or LoRA-merged copies,
  // bump-allocated from one huge-page buffer sized for every weight; untouched space is never paged in).
  std::optional<WeightStore> store;
  AlignedBuffer arena;
  std::size_t arena_used = 0;
  struct Layer {
    const void *wq, *wk, *wv, *wo;       // [H*D, C], [Hkv*D, C], [Hkv*D, C], [C, H*D]
    const void *w_gate, *w_up, *w_down;  // [I, C], [I, C], [C, I]
    std::vector<float> ln_in, ln_post;   // [C] (values of the compute dtype, widened)
    std::vector<float> bq, bk, bv, bo;   // biases or empty
  };
  const void* embed = nullptr;    // [V, C]
  const void* lm_head = nullptr;  // [V, C] (== embed when tied)
  std::vector<float> norm;        // [C]
  std::vector<Layer> layers;
  std::vector<float> inv_freq;    // [D/2]

  std::unique_ptr<WorkPool> pool;  // `threads` participants: every matrix product, attention and row loop
  int threads = 1;
  bool fast = true;                // kernels (default) or the torch reference
  std::unique_ptr<ReferenceForward> reference;

  // Scratch of the kernel forward, grown as needed.
  struct Scratch {
    std::vector<float> h, x, qkv, att, g, u, cos, sin, logits_x;
    std::vector<std::int64_t> row_seq, row_pos;
  } scratch;

  std::int64_t elem() const { return wt == kernels::WType::f32 ? 4 : 2; }
  std::string dtype_name() const { return wt == kernels::WType::f32 ? "float32" : "bfloat16"; }

  // An empty cache with room for `capacity` positions.
  KvCache make_cache(std::int64_t capacity) const;

  // The kernel forward (llama-forward.cpp): feeds every step's ids after its cache, appends their keys/values,
  // writes the requested logits. Steps must use distinct caches. Rows of different steps never mix: a step's
  // results are bit-identical whatever other steps run with it (kernels.h determinism contract).
  void forward(std::vector<ForwardStep>& steps);

  // One step through the path in use (kernels, or the torch reference when fast is off).
  void step(ForwardStep& s);

  void check_ids(const std::vector<int>& ids) const;
};

}  // namespace ecpo::model
