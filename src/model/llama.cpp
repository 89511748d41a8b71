// CausalLM (llama.h), torch-free: loads config.json and the safetensors weights — used in place in the mmapped file
// when their dtype is the compute dtype (nothing copied, nothing fused), otherwise converted once; PEFT LoRA adapters
// are merged in float32 — and runs everything on the kernel forward (llama-forward.cpp). The torch reference
// forward (llama-reference.cpp) is reached only through set_fast_decode(false).
#include "model/llama.h"

#include <algorithm>
#include <cstring>
#include <set>
#include <thread>

#include <sys/mman.h>

#include "model/llama-impl.h"
#include "model/lora-adapter.h"
#include "model/rope.h"
#include "util/error.h"
#include "util/log.h"

namespace fs = std::filesystem;

namespace ecpo::model {

// Large buffers (converted weights, KV caches) are 2 MiB aligned and advised to use transparent huge pages: first
// touching 200 MB of 4 KiB pages cost 50,000 page faults (~0.2 s of a 1-token `ecpo generate` in bf16).
AlignedBuffer::AlignedBuffer(std::size_t bytes) : n_(bytes) {
  if (bytes == 0) return;
  constexpr std::size_t kHuge = std::size_t(2) << 20;
  const std::size_t align = bytes >= 2 * kHuge ? kHuge : 64;
  const std::size_t size = (bytes + align - 1) / align * align;
  p_ = std::aligned_alloc(align, size);
  if (!p_) throw Error("out of memory allocating " + std::to_string(bytes) + " bytes", "model");
  if (align == kHuge) ::madvise(p_, size, MADV_HUGEPAGE);  // advice only: no error if THP is off
}

AlignedBuffer& AlignedBuffer::operator=(AlignedBuffer&& o) noexcept {
  if (this != &o) {
    std::free(p_);
    p_ = o.p_;
    n_ = o.n_;
    o.p_ = nullptr;
    o.n_ = 0;
  }
  return *this;
}

KvCache CausalLM::Impl::make_cache(std::int64_t capacity) const {
  KvCache c;
  c.capacity = capacity;
  c.layers = cfg.num_hidden_layers;
  c.kv_heads = cfg.num_key_value_heads;
  c.head_dim = cfg.head_dim;
  c.elem = elem();
  c.mem = AlignedBuffer(KvCache::bytes_for(cfg, capacity, c.elem));
  return c;
}

void kv_copy_prefix(const KvCache& src, KvCache& dst, std::int64_t n) {
  if (n <= 0) return;
  if (n > src.capacity || n > dst.capacity || src.elem != dst.elem || src.layers != dst.layers)
    throw Error("KV prefix copy out of range", "model");
  const std::size_t row = static_cast<std::size_t>(n * src.elem);
  for (std::int64_t l = 0; l < src.layers; ++l)
    for (std::int64_t g = 0; g < src.kv_heads; ++g) {
      const char* ks = static_cast<const char*>(src.at(l, 0, g));
      char* kd = static_cast<char*>(dst.at(l, 0, g));
      for (std::int64_t d = 0; d < src.head_dim; ++d)  // keys are [D][capacity]: one run per dimension
        std::memcpy(kd + d * dst.capacity * dst.elem, ks + d * src.capacity * src.elem, row);
      std::memcpy(dst.at(l, 1, g), src.at(l, 1, g), row * static_cast<std::size_t>(src.head_dim));  // values [cap][D]
    }
}

void CausalLM::Impl::check_ids(const std::vector<int>& ids) const {
  if (ids.empty()) throw Error("empty token sequence", "model", "pass at least one id");
  for (int id : ids)
    if (id < 0 || id >= cfg.vocab_size)
      throw Error("token id " + std::to_string(id) + " is outside the vocabulary [0, " + std::to_string(cfg.vocab_size) +
                      ")",
                  "model", "the ids do not belong to this model's tokenizer");
}

void CausalLM::Impl::step(ForwardStep& s) {
  if (!fast && reference) {
    reference->forward(s);
    return;
  }
  std::vector<ForwardStep> one{s};
  forward(one);
}

namespace {

std::string shape_str(const std::vector<std::int64_t>& s, const char* sep = ", ") {
  std::string o = "[";
  for (std::size_t i = 0; i < s.size(); ++i) o += (i ? sep : "") + std::to_string(s[i]);
  return o + "]";
}

// Linear weights a LoRA A/B pair may adapt (embeddings use lora_embedding_A/B in PEFT; norms are vectors).
bool adaptable(const std::string& name) {
  const bool weight = name.size() > 7 && name.compare(name.size() - 7, 7, ".weight") == 0;
  return weight && (name.find("_proj.") != std::string::npos || name == "lm_head.weight");
}

// Loads the weights of `m` from `ws`, merging `adapter` (may be null); records merged module paths.
struct Loader {
  CausalLM::Impl& m;
  const WeightStore& ws;
  const LoraAdapter* adapter;
  std::set<std::string> merged;

  TensorView view(const std::string& name, const std::vector<std::int64_t>& shape) const {
    TensorView v = ws.get(name);
    if (v.info->shape != shape)
      throw Error("tensor '" + name + "' has shape " + shape_str(v.info->shape) + ", config.json implies " +
                      shape_str(shape),
                  ws.origin().string(), "config.json and the weights disagree");
    return v;
  }

  // Values as the compute dtype sees them (bf16 rounding applied), widened to float32: norms and biases.
  std::vector<float> vec(const std::string& name, std::int64_t n) {
    std::vector<float> f = view_to_f32(view(name, {n}));
    if (m.wt == kernels::WType::bf16)
      for (float& x : f) x = kernels::from_bf16(kernels::to_bf16(x));
    m.weight_bytes += n * m.elem();
    return f;
  }

  // A matrix in the compute dtype: the mapped bytes themselves when the file already holds that dtype (and they are
  // aligned for it), else a converted copy; LoRA-adapted modules are merged in float32 first.
  const void* mat(const std::string& name, std::int64_t rows, std::int64_t cols) {
    TensorView v = view(name, {rows, cols});
    const std::size_t n = static_cast<std::size_t>(rows * cols);
    m.weight_bytes += rows * cols * m.elem();
    std::vector<float> merged_f32;
    if (adapter && adaptable(name)) merged_f32 = merge_lora(name.substr(0, name.size() - 7), v);
    const std::string want = m.wt == kernels::WType::f32 ? "F32" : "BF16";
    if (merged_f32.empty() && v.info->dtype == want &&
        reinterpret_cast<std::uintptr_t>(v.data) % static_cast<std::uintptr_t>(m.elem()) == 0) {
      prefault(v.data, v.nbytes);
      return v.data;
    }
    const std::size_t bytes = n * static_cast<std::size_t>(m.elem()), start = (m.arena_used + 63) / 64 * 64;
    if (start + bytes > m.arena.size()) throw Error("weight arena exhausted at '" + name + "'", "model");
    void* dst = static_cast<char*>(m.arena.data()) + start;
    m.arena_used = start + bytes;
    if (merged_f32.empty() && v.info->dtype == "F32" && m.wt == kernels::WType::bf16) {  // the common conversion:
      std::vector<float> row(static_cast<std::size_t>(cols));                            // straight from the map
      for (std::int64_t r = 0; r < rows; ++r) {
        std::memcpy(row.data(), v.data + r * cols * 4, static_cast<std::size_t>(cols) * 4);  // (may be unaligned)
        kernels::to_bf16_n(row.data(), static_cast<std::uint16_t*>(dst) + r * cols, cols);
      }
    } else {
      const std::vector<float> f = merged_f32.empty() ? view_to_f32(v) : std::move(merged_f32);
      if (m.wt == kernels::WType::f32) std::memcpy(dst, f.data(), n * 4);
      else kernels::to_bf16_n(f.data(), static_cast<std::uint16_t*>(dst), static_cast<std::int64_t>(n));
    }
    return dst;
  }

  // Maps the pages of a weight used in place now, at load (one call instead of a page fault per 64 KiB during the
  // first forward). Advice only: older kernels without MADV_POPULATE_READ just fault later.
  static void prefault(const void* p, std::size_t n) {
#ifdef MADV_POPULATE_READ
    const std::uintptr_t page = 4096, b = reinterpret_cast<std::uintptr_t>(p) & ~(page - 1);
    ::madvise(reinterpret_cast<void*>(b), reinterpret_cast<std::uintptr_t>(p) + n - b, MADV_POPULATE_READ);
#else
    (void)p, (void)n;
#endif
  }

  // W' = W + scale·(B @ A) in float32 from the file's values. `module` is the HF module path
  // ("model.layers.0.self_attn.q_proj"). Empty when the adapter does not touch it.
  std::vector<float> merge_lora(const std::string& module, const TensorView& base) {
    const LoraModule* lm = adapter->find(module);
    if (!lm) return {};
    const auto& ws_ = base.info->shape;  // [out, in]
    const auto &as = lm->a.info->shape, &bs = lm->b.info->shape;
    if (ws_.size() != 2 || as[1] != ws_[1] || bs[0] != ws_[0]) {
      const bool a_bad = ws_.size() != 2 || as[1] != ws_[1];
      const std::string short_name = module.substr(module.rfind('.') + 1);
      throw Error("adapter key '" + (a_bad ? lm->key_a : lm->key_b) + "' has shape " + shape_str(a_bad ? as : bs, ",") +
                      " but " + module + ".weight is " + shape_str(ws_, ",") + " (lora_A must be [r, " +
                      std::to_string(ws_.back()) + "], lora_B [" + std::to_string(ws_.front()) + ", r])",
                  adapter->weights_path().string(),
                  "adapter was trained for a different base model: " + short_name + " is " + shape_str(ws_, ",") +
                      ", " + (a_bad ? "lora_A is " + shape_str(as, ",") : "lora_B is " + shape_str(bs, ",")));
    }
    const std::int64_t out = ws_[0], in = ws_[1], r = as[0];
    std::vector<float> w = view_to_f32(base), a = view_to_f32(lm->a), b = view_to_f32(lm->b);
    const float scale = static_cast<float>(adapter->config().scale());
    for (float& x : b) x *= scale;
    kernels::gemm_nn(out, in, r, b.data(), r, a.data(), kernels::WType::f32, in, w.data(), in);  // w += (s·B) A
    merged.insert(module);
    return w;
  }

  void load() {
    const HfConfig& cfg = m.cfg;
    const auto C = cfg.hidden_size, V = cfg.vocab_size, I = cfg.intermediate_size;
    const auto QD = cfg.num_attention_heads * cfg.head_dim, KD = cfg.num_key_value_heads * cfg.head_dim;
    m.embed = mat("model.embed_tokens.weight", V, C);
    m.norm = vec("model.norm.weight", C);
    if (cfg.tie_word_embeddings || !ws.has("lm_head.weight")) {
      if (!cfg.tie_word_embeddings)
        throw Error("lm_head.weight is missing and tie_word_embeddings is false", ws.origin().string(),
                    "set tie_word_embeddings: true in config.json if the head shares the embedding");
      m.lm_head = m.embed;
    } else {
      m.lm_head = mat("lm_head.weight", V, C);
    }
    for (std::int64_t l = 0; l < cfg.num_hidden_layers; ++l) {
      const std::string p = "model.layers." + std::to_string(l) + ".";
      CausalLM::Impl::Layer L{};
      L.ln_in = vec(p + "input_layernorm.weight", C);
      L.ln_post = vec(p + "post_attention_layernorm.weight", C);
      L.wq = mat(p + "self_attn.q_proj.weight", QD, C);
      L.wk = mat(p + "self_attn.k_proj.weight", KD, C);
      L.wv = mat(p + "self_attn.v_proj.weight", KD, C);
      L.wo = mat(p + "self_attn.o_proj.weight", C, QD);
      if (cfg.has_qkv_bias()) {
        L.bq = vec(p + "self_attn.q_proj.bias", QD);
        L.bk = vec(p + "self_attn.k_proj.bias", KD);
        L.bv = vec(p + "self_attn.v_proj.bias", KD);
      }
      if (cfg.has_o_bias()) L.bo = vec(p + "self_attn.o_proj.bias", C);
      L.w_gate = mat(p + "mlp.gate_proj.weight", I, C);
      L.w_up = mat(p + "mlp.up_proj.weight", I, C);
      L.w_down = mat(p + "mlp.down_proj.weight", C, I);
      m.layers.push_back(std::move(L));
    }
    m.inv_freq = rope_inv_freq(cfg);
  }
};

int hardware_threads() { return static_cast<int>(std::max(1u, std::thread::hardware_concurrency())); }

}  // namespace

// -----------------------------------------------------------------------------------------------------------

CausalLM::CausalLM(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
CausalLM::~CausalLM() = default;

std::unique_ptr<CausalLM> CausalLM::load(const fs::path& dir, const ModelOptions& options) {
  auto impl = std::make_unique<Impl>();
  impl->cfg = HfConfig::load(dir);
  std::string dtype = options.dtype;
  if (dtype == "auto") dtype = impl->cfg.torch_dtype == "bfloat16" ? "bfloat16" : "float32";
  if (dtype == "float32" || dtype == "fp32" || dtype == "f32" || dtype == "float") {
    impl->wt = kernels::WType::f32;
  } else if (dtype == "bfloat16" || dtype == "bf16") {
    impl->wt = kernels::WType::bf16;
  } else if (dtype == "float16" || dtype == "fp16" || dtype == "f16" || dtype == "half") {
    throw Error("float16 compute is not supported on CPU", "--dtype", "use float32 or bfloat16 (fp16 weights load into either)");
  } else {
    throw Error("unknown dtype '" + dtype + "'", "", "use float32, bfloat16 or float16");
  }
  if (impl->cfg.num_attention_heads % impl->cfg.num_key_value_heads != 0)
    throw Error("num_attention_heads is not a multiple of num_key_value_heads", (dir / "config.json").string());
  impl->threads = options.threads > 0 ? options.threads : hardware_threads();
  impl->pool = std::make_unique<WorkPool>(impl->threads);
  std::unique_ptr<LoraAdapter> adapter;
  if (!options.adapter_dir.empty()) adapter = LoraAdapter::load(options.adapter_dir);
  impl->store = WeightStore::open(dir);
  {  // room for every matrix (64-byte aligned each); only the converted ones touch it
    const HfConfig& c = impl->cfg;
    const std::int64_t matrices = 2 + 7 * c.num_hidden_layers;
    impl->arena = AlignedBuffer(static_cast<std::size_t>(c.num_parameters() * impl->elem() + matrices * 64));
  }
  Loader loader{*impl, *impl->store, adapter.get(), {}};
  loader.load();
  if (adapter)
    for (const auto& [module, m] : adapter->modules())
      if (!loader.merged.count(module))
        throw Error("adapter key '" + m.key_a + "' names module '" + module + "', which " + dir.string() +
                        " does not have as a linear layer",
                    adapter->weights_path().string(),
                    "adapter was trained for a different base model, or adapts a module the engine cannot merge "
                    "(only q/k/v/o/gate/up/down projections and an untied lm_head)");
  if (adapter && !base_model_matches(adapter->config().base_model_name_or_path, dir))
    spdlog::warn("LoRA adapter {} was trained on '{}' but is applied to {}: its shapes fit, so it loads; make sure "
                 "this is the intended base model",
                 options.adapter_dir.string(), adapter->config().base_model_name_or_path, dir.string());
  if (adapter)
    spdlog::debug("merged LoRA adapter {} ({} modules, scale {})", options.adapter_dir.string(),
                  adapter->modules().size(), adapter->config().scale());
  spdlog::debug("loaded {} ({} layers, {} params, {}, {} of {} weight bytes copied)", dir.string(),
                impl->cfg.num_hidden_layers, impl->cfg.num_parameters(), dtype, impl->arena_used, impl->weight_bytes);
  return std::unique_ptr<CausalLM>(new CausalLM(std::move(impl)));
}

const HfConfig& CausalLM::config() const { return impl_->cfg; }
std::int64_t CausalLM::weight_bytes() const { return impl_->weight_bytes; }
std::string CausalLM::dtype() const { return impl_->dtype_name(); }

std::int64_t CausalLM::decode_bytes() const {
  const Impl& m = *impl_;
  const std::int64_t table = m.cfg.vocab_size * m.cfg.hidden_size * m.elem();
  if (m.lm_head == m.embed) return m.weight_bytes;
  return m.weight_bytes - table + m.cfg.hidden_size * m.elem();
}

std::vector<float> CausalLM::logits_last(const std::vector<int>& ids) {
  Impl& m = *impl_;
  m.check_ids(ids);
  KvCache cache = m.make_cache(static_cast<std::int64_t>(ids.size()));
  std::vector<float> out(m.cfg.vocab_size);
  ForwardStep s{&cache, ids.data(), static_cast<std::int64_t>(ids.size()), StepLogits::last, out.data()};
  m.step(s);
  return out;
}

std::vector<std::vector<float>> CausalLM::logits_all(const std::vector<int>& ids) {
  Impl& m = *impl_;
  m.check_ids(ids);
  const std::int64_t T = static_cast<std::int64_t>(ids.size()), V = m.cfg.vocab_size;
  KvCache cache = m.make_cache(T);
  std::vector<float> flat(static_cast<std::size_t>(T * V));
  ForwardStep s{&cache, ids.data(), T, StepLogits::all, flat.data()};
  m.step(s);
  std::vector<std::vector<float>> out;
  for (std::int64_t t = 0; t < T; ++t) out.emplace_back(flat.begin() + t * V, flat.begin() + (t + 1) * V);
  return out;
}

std::vector<std::vector<float>> CausalLM::logits_last_batch(const std::vector<std::vector<int>>& batch) {
  Impl& m = *impl_;
  if (batch.empty()) return {};
  for (const auto& ids : batch) m.check_ids(ids);
  if (!m.fast && m.reference) return m.reference->logits_last_batch(batch);
  // every sequence in its own cache, all in one forward
  std::vector<KvCache> caches;
  std::vector<std::vector<float>> out(batch.size(), std::vector<float>(m.cfg.vocab_size));
  std::vector<ForwardStep> steps;
  caches.reserve(batch.size());
  for (std::size_t b = 0; b < batch.size(); ++b) {
    caches.push_back(m.make_cache(static_cast<std::int64_t>(batch[b].size())));
    steps.push_back({&caches.back(), batch[b].data(), static_cast<std::int64_t>(batch[b].size()), StepLogits::last,
                     out[b].data()});
  }
  m.forward(steps);
  return out;
}

std::vector<std::vector<float>> CausalLM::logits_incremental(const std::vector<int>& ids, std::size_t prefix) {
  Impl& m = *impl_;
  m.check_ids(ids);
  if (prefix == 0 || prefix > ids.size())
    throw Error("prefix length " + std::to_string(prefix) + " is outside [1, " + std::to_string(ids.size()) + "]",
                "logits_incremental");
  KvCache cache = m.make_cache(static_cast<std::int64_t>(ids.size()));
  std::vector<std::vector<float>> out;
  auto feed = [&](const int* p, std::int64_t n) {
    out.emplace_back(m.cfg.vocab_size);
    ForwardStep s{&cache, p, n, StepLogits::last, out.back().data()};
    m.step(s);
  };
  feed(ids.data(), static_cast<std::int64_t>(prefix));
  for (std::size_t i = prefix; i < ids.size(); ++i) feed(ids.data() + i, 1);
  return out;
}

bool CausalLM::fast_decode() const { return impl_->fast; }

GenerateResult CausalLM::generate(const std::vector<int>& prompt, const GenerateParams& params,
                                  const TokenDecoder& decode) {
  Impl& m = *impl_;
  m.check_ids(prompt);
  const std::int64_t max_ctx = m.cfg.max_position_embeddings;
  std::vector<int> all;  // every id fed so far (for the no-cache path)
  KvCache cache;
  if (params.use_kv_cache) {
    const std::int64_t cap = static_cast<std::int64_t>(prompt.size()) + std::max(params.max_tokens, 0);
    cache = m.make_cache(std::max<std::int64_t>(1, std::min(cap, max_ctx)));
  }
  StepFn step = [&](const std::vector<int>& new_ids) {
    m.check_ids(new_ids);
    if (!params.use_kv_cache) {
      all.insert(all.end(), new_ids.begin(), new_ids.end());
      return logits_last(all);
    }
    std::vector<float> out(m.cfg.vocab_size);
    ForwardStep s{&cache, new_ids.data(), static_cast<std::int64_t>(new_ids.size()), StepLogits::last, out.data()};
    m.step(s);
    return out;
  };
  return generate_loop(prompt, params, step, decode, m.cfg.eos_token_ids, max_ctx);
}

}  // namespace ecpo::model
