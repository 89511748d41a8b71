// The training forward (see lora-model.h). Block math follows training-reference.md §12 (transformers
// modeling_llama.py / modeling_qwen2.py): RMSNorm in f32, half-split RoPE with f32 cos/sin, GQA causal
// softmax attention (softmax in f32), SwiGLU MLP, tied or separate lm_head; LoRA as PEFT's layer.py (§7).
#include "train/lora-model.h"

#include <cmath>
#include <map>

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <ATen/core/Generator.h>
#include <ATen/CPUGeneratorImpl.h>
#include <nlohmann/json.hpp>

#include "model/rope.h"
#include "train/fused-ops.h"
#include "model/safetensors.h"
#include "util/error.h"
#include "util/fs.h"

namespace fs = std::filesystem;

namespace ecpo::train {

const std::array<const char*, kProjCount> kProjNames = {"q_proj",    "k_proj",  "v_proj",   "o_proj",
                                                        "gate_proj", "up_proj", "down_proj"};

namespace {

// Fused groups: 0 = q|k|v, 1 = o, 2 = gate|up, 3 = down; their members in projection order.
const std::array<std::vector<int>, 4> kGroups = {std::vector<int>{0, 1, 2}, {3}, {4, 5}, {6}};
int group_of(int proj) { return proj < 3 ? 0 : proj == 3 ? 1 : proj < 6 ? 2 : 3; }

std::string shape_str(at::IntArrayRef s) {
  std::string o = "[";
  for (std::size_t i = 0; i < s.size(); ++i) o += (i ? ", " : "") + std::to_string(s[i]);
  return o + "]";
}

}  // namespace

std::string proj_module_path(std::int64_t layer, int proj) {
  return "model.layers." + std::to_string(layer) + (proj < 4 ? ".self_attn." : ".mlp.") + kProjNames[proj];
}

double LoraSpec::scale() const {
  return rslora ? alpha / std::sqrt(static_cast<double>(r)) : alpha / static_cast<double>(r);
}

std::vector<std::string> LoraSpec::target_names() const {
  std::vector<std::string> out;
  for (int p = 0; p < kProjCount; ++p)
    if (targets[p]) out.push_back(kProjNames[p]);
  return out;
}

std::array<bool, kProjCount> parse_lora_targets(const std::vector<std::string>& names) {
  std::array<bool, kProjCount> t{};
  for (std::string n : names) {
    while (!n.empty() && n.back() == ' ') n.pop_back();
    while (!n.empty() && n.front() == ' ') n.erase(n.begin());
    if (n.empty()) continue;
    if (n == "all" || n == "all-linear") {
      t.fill(true);
      continue;
    }
    bool found = false;
    for (int p = 0; p < kProjCount; ++p) {
      const std::string full = kProjNames[p];
      if (n == full || n + "_proj" == full) {
        t[p] = true;
        found = true;
      }
    }
    if (!found)
      throw Error("unknown LoRA target '" + n + "'", "lora_targets",
                  "use all, or a list of q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj");
  }
  bool any = false;
  for (bool b : t) any = any || b;
  if (!any) throw Error("no LoRA target given", "lora_targets", "use all, or e.g. q_proj,v_proj");
  return t;
}

std::int64_t lora_param_count(const model::HfConfig& c, const LoraSpec& spec) {
  const std::int64_t C = c.hidden_size, HD = c.num_attention_heads * c.head_dim, KD = c.num_key_value_heads * c.head_dim,
                     I = c.intermediate_size;
  const std::array<std::int64_t, kProjCount> in = {C, C, C, HD, C, C, I}, out = {HD, KD, KD, C, I, I, C};
  std::int64_t per_layer = 0;
  for (int p = 0; p < kProjCount; ++p)
    if (spec.targets[p]) per_layer += spec.r * (in[p] + out[p]);
  return per_layer * c.num_hidden_layers;
}

torch::Tensor LoraWeights::a_of(std::int64_t layer, int proj) const {
  if (!spec.targets[proj]) return {};
  const int g = group_of(proj);
  std::int64_t row = 0;
  for (int m : kGroups[g]) {
    if (m == proj) break;
    if (spec.targets[m]) row += spec.r;
  }
  return layers[layer].a[g].narrow(0, row, spec.r);
}

// ---- weights ---------------------------------------------------------------------------------------------

struct LayerW {
  torch::Tensor in_norm, post_norm, w_qkv, b_qkv, w_o, b_o, w_gu, b_gu, w_down, b_down;
};

struct TrainModel::Impl {
  torch::Tensor embed, lm_head, norm;  // embed [V, C]; lm_head [V, C] (the same tensor when tied)
  std::vector<LayerW> layers;
  torch::Tensor inv_freq;  // [D/2] f32
  std::int64_t C = 0, H = 0, Hkv = 0, D = 0, I = 0, V = 0, L = 0;
  double eps = 1e-6;
  // Per padded length T: rope tables [T, D] (f32; sin with its first half negated).
  struct Tables {
    torch::Tensor cos, sin_signed;
  };
  std::map<std::int64_t, Tables> tables;

  std::int64_t proj_in(int p) const { return p == 3 ? H * D : p == 6 ? I : C; }
  std::int64_t proj_out(int p) const {
    switch (p) {
      case 0: return H * D;
      case 1:
      case 2: return Hkv * D;
      case 3: return C;
      case 4:
      case 5: return I;
      default: return C;
    }
  }
};

namespace {

torch::Tensor view_tensor(const model::TensorView& v, torch::ScalarType to) {
  static const std::map<std::string, torch::ScalarType> kTypes = {
      {"F32", torch::kFloat}, {"BF16", torch::kBFloat16}, {"F16", torch::kHalf}, {"F64", torch::kDouble}};
  auto it = kTypes.find(v.info->dtype);
  if (it == kTypes.end())
    throw Error("tensor '" + v.info->name + "' has dtype " + v.info->dtype + ", expected a float type", "weights");
  auto t = torch::from_blob(const_cast<std::uint8_t*>(v.data), v.info->shape, torch::TensorOptions().dtype(it->second));
  return it->second == to ? t.clone() : t.to(to);
}

}  // namespace

TrainModel::~TrainModel() = default;

std::unique_ptr<TrainModel> TrainModel::load(const fs::path& dir, const std::string& dtype, const std::string& device) {
  std::unique_ptr<TrainModel> m(new TrainModel());
  m->dir_ = dir;
  m->cfg_ = model::HfConfig::load(dir);
  if (dtype == "float32" || dtype == "f32" || dtype == "fp32") m->dtype_ = torch::kFloat;
  else if (dtype == "bfloat16" || dtype == "bf16") m->dtype_ = torch::kBFloat16;
  else throw Error("unknown dtype '" + dtype + "'", "dtype", "use float32 or bfloat16");
  if (device != "cpu")
    throw Error("device '" + device + "' is not available in this build", "device",
                "this libtorch is a CPU build; use device=cpu (GPU training: export the data to TRL/LLaMA-Factory)");
  const auto& c = m->cfg_;
  if (c.hidden_act != "silu")
    throw Error("hidden_act '" + c.hidden_act + "' is not supported", (dir / "config.json").string(), "Llama/Qwen2 use silu");
  m->impl_ = std::make_unique<Impl>();
  Impl& I = *m->impl_;
  I.C = c.hidden_size;
  I.H = c.num_attention_heads;
  I.Hkv = c.num_key_value_heads;
  I.D = c.head_dim;
  I.I = c.intermediate_size;
  I.V = c.vocab_size;
  I.L = c.num_hidden_layers;
  I.eps = c.rms_norm_eps;
  if (I.H % I.Hkv != 0) throw Error("num_attention_heads is not a multiple of num_key_value_heads", (dir / "config.json").string());
  std::vector<float> f = model::rope_inv_freq(c);
  I.inv_freq = torch::from_blob(f.data(), {static_cast<std::int64_t>(f.size())}, torch::kFloat).clone();

  const model::WeightStore ws = model::WeightStore::open(dir);
  const torch::ScalarType dt = m->dtype_;
  auto get = [&](const std::string& name, std::vector<std::int64_t> shape) {
    torch::Tensor t = view_tensor(ws.get(name), dt);
    if (t.sizes() != at::IntArrayRef(shape))
      throw Error("tensor '" + name + "' has shape " + shape_str(t.sizes()) + ", config.json implies " +
                      shape_str(shape),
                  ws.origin().string(), "config.json and the weights disagree");
    return t;
  };
  I.embed = get("model.embed_tokens.weight", {I.V, I.C});
  I.lm_head = c.tie_word_embeddings || !ws.has("lm_head.weight") ? I.embed : get("lm_head.weight", {I.V, I.C});
  I.norm = get("model.norm.weight", {I.C});
  for (std::int64_t l = 0; l < I.L; ++l) {
    const std::string p = "model.layers." + std::to_string(l) + ".";
    LayerW w;
    w.in_norm = get(p + "input_layernorm.weight", {I.C});
    w.post_norm = get(p + "post_attention_layernorm.weight", {I.C});
    w.w_qkv = torch::cat({get(p + "self_attn.q_proj.weight", {I.H * I.D, I.C}),
                          get(p + "self_attn.k_proj.weight", {I.Hkv * I.D, I.C}),
                          get(p + "self_attn.v_proj.weight", {I.Hkv * I.D, I.C})});
    if (c.has_qkv_bias())
      w.b_qkv = torch::cat({get(p + "self_attn.q_proj.bias", {I.H * I.D}), get(p + "self_attn.k_proj.bias", {I.Hkv * I.D}),
                            get(p + "self_attn.v_proj.bias", {I.Hkv * I.D})});
    w.w_o = get(p + "self_attn.o_proj.weight", {I.C, I.H * I.D});
    if (c.has_o_bias()) w.b_o = get(p + "self_attn.o_proj.bias", {I.C});
    w.w_gu = torch::cat({get(p + "mlp.gate_proj.weight", {I.I, I.C}), get(p + "mlp.up_proj.weight", {I.I, I.C})});
    w.w_down = get(p + "mlp.down_proj.weight", {I.C, I.I});
    if (c.mlp_bias) {
      w.b_gu = torch::cat({get(p + "mlp.gate_proj.bias", {I.I}), get(p + "mlp.up_proj.bias", {I.I})});
      w.b_down = get(p + "mlp.down_proj.bias", {I.C});
    }
    I.layers.push_back(std::move(w));
  }
  return m;
}

// ---- adapters --------------------------------------------------------------------------------------------

namespace {

// Builds the flat-buffer layout of a trainable adapter: leaves are views into `flat` with their grads preset
// to views into `grad`, so autograd accumulates straight into the flat gradient buffer.
struct FlatBuilder {
  std::vector<std::pair<std::int64_t, std::vector<std::int64_t>>> slots;  // offset, shape
  std::int64_t total = 0;
  std::size_t add(std::vector<std::int64_t> shape) {
    std::int64_t n = 1;
    for (auto s : shape) n *= s;
    slots.push_back({total, std::move(shape)});
    total += n;
    return slots.size() - 1;
  }
};

torch::Tensor leaf_view(torch::Tensor& flat, torch::Tensor& grad, const std::pair<std::int64_t, std::vector<std::int64_t>>& s) {
  std::int64_t n = 1;
  for (auto d : s.second) n *= d;
  torch::Tensor t = flat.narrow(0, s.first, n).view(s.second).detach();
  t.requires_grad_(true);
  t.mutable_grad() = grad.narrow(0, s.first, n).view(s.second);
  return t;
}

}  // namespace

void TrainModel::lora_init(const LoraSpec& spec, std::uint64_t seed) {
  const Impl& I = *impl_;
  if (spec.r <= 0) throw Error("lora_r must be positive", "lora_r");
  if (full_) throw Error("the model is being fully fine-tuned; it takes no adapter", "finetuning_type");
  FlatBuilder fb;
  struct Idx {
    std::array<std::size_t, 4> a{};
    std::array<std::size_t, kProjCount> b{};
  };
  std::vector<Idx> idx(static_cast<std::size_t>(I.L));
  for (std::int64_t l = 0; l < I.L; ++l) {
    for (int g = 0; g < 4; ++g) {
      std::int64_t m = 0;
      for (int p : kGroups[g]) m += spec.targets[p];
      idx[l].a[g] = m ? fb.add({m * spec.r, I.proj_in(kGroups[g][0])}) : SIZE_MAX;
    }
    for (int p = 0; p < kProjCount; ++p) idx[l].b[p] = spec.targets[p] ? fb.add({I.proj_out(p), spec.r}) : SIZE_MAX;
  }
  torch::NoGradGuard ng;
  flat_p_ = torch::zeros({fb.total}, torch::TensorOptions().dtype(torch::kFloat).device(device_));
  flat_g_ = torch::zeros({fb.total}, torch::TensorOptions().dtype(torch::kFloat).device(device_));
  policy_ = LoraWeights{};
  policy_.spec = spec;
  policy_.layers.resize(static_cast<std::size_t>(I.L));
  at::Generator gen = at::detail::createCPUGenerator(seed);
  for (std::int64_t l = 0; l < I.L; ++l) {
    auto& L = policy_.layers[l];
    for (int g = 0; g < 4; ++g)
      if (idx[l].a[g] != SIZE_MAX) {
        L.a[g] = leaf_view(flat_p_, flat_g_, fb.slots[idx[l].a[g]]);
        const double bound = 1.0 / std::sqrt(static_cast<double>(I.proj_in(kGroups[g][0])));
        // PEFT: kaiming_uniform_(A, a=√5) → U(−1/√in, 1/√in); each module's A drawn on its own.
        for (int p : kGroups[g])
          if (spec.targets[p]) policy_.a_of(l, p).uniform_(-bound, bound, gen);
      }
    for (int p = 0; p < kProjCount; ++p)
      if (idx[l].b[p] != SIZE_MAX) L.b[p] = leaf_view(flat_p_, flat_g_, fb.slots[idx[l].b[p]]);  // zeros
  }
}

LoraSpec TrainModel::lora_spec_of(const model::LoraAdapter& adapter) const {
  const Impl& I = *impl_;
  const auto& ac = adapter.config();
  LoraSpec s;
  s.r = ac.r;
  s.alpha = ac.lora_alpha;
  s.rslora = ac.use_rslora;
  s.targets.fill(false);
  const std::string where = adapter.weights_path().string();
  for (const auto& [module, lm] : adapter.modules()) {
    // model.layers.N.(self_attn|mlp).X_proj
    int proj = -1;
    std::int64_t layer = -1;
    const std::string pre = "model.layers.";
    if (module.rfind(pre, 0) == 0) {
      const auto dot = module.find('.', pre.size());
      try {
        layer = std::stoll(module.substr(pre.size(), dot - pre.size()));
      } catch (const std::exception&) {
        layer = -1;
      }
      for (int p = 0; p < kProjCount; ++p)
        if (dot != std::string::npos && module.substr(dot + 1) == std::string(p < 4 ? "self_attn." : "mlp.") + kProjNames[p])
          proj = p;
    }
    if (proj < 0 || layer < 0 || layer >= I.L)
      throw Error("adapter key '" + lm.key_a + "' adapts '" + module + "', which this model does not have", where,
                  "the adapter was made for another base model (this one has " + std::to_string(I.L) +
                      " layers; LoRA targets q/k/v/o/gate/up/down_proj)");
    const std::vector<std::int64_t> want_a = {ac.r, I.proj_in(proj)}, want_b = {I.proj_out(proj), ac.r};
    if (lm.a.info->shape != want_a || lm.b.info->shape != want_b)
      throw Error("adapter tensors of '" + module + "' have shapes " + shape_str(lm.a.info->shape) + " / " +
                      shape_str(lm.b.info->shape) + ", this model needs " + shape_str(want_a) + " / " + shape_str(want_b),
                  where, "the adapter was trained on a base model of another shape; pass the matching --model");
    s.targets[proj] = true;
  }
  // Every layer must carry the same projections (the flat layout assumes it).
  for (std::int64_t l = 0; l < I.L; ++l)
    for (int p = 0; p < kProjCount; ++p)
      if (s.targets[p] && !adapter.find(proj_module_path(l, p)))
        throw Error("the adapter adapts " + std::string(kProjNames[p]) + " in some layers but not in layer " +
                        std::to_string(l),
                    where, "only adapters with the same targets in every layer can be trained further");
  return s;
}

void TrainModel::lora_load(const model::LoraAdapter& adapter) {
  LoraSpec s = lora_spec_of(adapter);
  s.dropout = policy_.spec.dropout;
  lora_init(s, 0);
  torch::NoGradGuard ng;
  for (std::int64_t l = 0; l < impl_->L; ++l)
    for (int p = 0; p < kProjCount; ++p) {
      if (!s.targets[p]) continue;
      const model::LoraModule* lm = adapter.find(proj_module_path(l, p));
      policy_.a_of(l, p).copy_(view_tensor(lm->a, torch::kFloat));
      policy_.layers[l].b[p].copy_(view_tensor(lm->b, torch::kFloat));
    }
}

namespace {

// Block-diagonal B of a group, zero blocks for untargeted members, so one matmul adds every member's delta.
torch::Tensor group_b(const LoraWeights::Layer& L, int g, const std::function<std::int64_t(int)>& out_of) {
  const auto& members = kGroups[g];
  if (members.size() == 1) return L.b[members[0]];
  std::vector<torch::Tensor> blocks;
  for (int p : members)
    blocks.push_back(L.b[p].defined() ? L.b[p] : torch::zeros({out_of(p), 0}, L.a[g].options().requires_grad(false)));
  return at::block_diag(blocks);
}

}  // namespace

LoraWeights TrainModel::adapter_weights(const model::LoraAdapter& adapter) const {
  const Impl& I = *impl_;
  LoraWeights w;
  w.spec = lora_spec_of(adapter);
  w.layers.resize(static_cast<std::size_t>(I.L));
  torch::NoGradGuard ng;
  for (std::int64_t l = 0; l < I.L; ++l) {
    auto& L = w.layers[l];
    for (int p = 0; p < kProjCount; ++p) {
      const model::LoraModule* lm = adapter.find(proj_module_path(l, p));
      if (lm) L.b[p] = view_tensor(lm->b, torch::kFloat);
    }
    for (int g = 0; g < 4; ++g) {
      std::vector<torch::Tensor> as;
      for (int p : kGroups[g])
        if (const model::LoraModule* lm = adapter.find(proj_module_path(l, p))) as.push_back(view_tensor(lm->a, torch::kFloat));
      if (as.empty()) continue;
      L.a[g] = torch::cat(as);
    }
  }
  return w;
}

void TrainModel::set_reference(const model::LoraAdapter& adapter) { ref_ = adapter_weights(adapter); }

std::vector<std::pair<std::string, torch::Tensor>> TrainModel::lora_state() const {
  std::vector<std::pair<std::string, torch::Tensor>> out;
  for (std::int64_t l = 0; l < impl_->L; ++l)
    for (int p = 0; p < kProjCount; ++p) {
      if (!policy_.spec.targets[p]) continue;
      const std::string base = "base_model.model." + proj_module_path(l, p);
      out.push_back({base + ".lora_A.weight", policy_.a_of(l, p).detach().contiguous().clone()});
      out.push_back({base + ".lora_B.weight", policy_.layers[l].b[p].detach().contiguous().clone()});
    }
  return out;
}

namespace {

// name → contiguous float32 tensor (lora_state, full_state), as safetensors_write takes them.
std::vector<model::TensorData> f32_tensors(const std::vector<std::pair<std::string, torch::Tensor>>& state) {
  std::vector<model::TensorData> out;
  for (const auto& [name, t] : state) {
    model::TensorData d;
    d.name = name;
    d.dtype = "F32";
    d.shape = t.sizes().vec();
    d.bytes.assign(static_cast<const char*>(t.data_ptr()), static_cast<std::size_t>(t.numel()) * sizeof(float));
    out.push_back(std::move(d));
  }
  return out;
}

}  // namespace

void TrainModel::lora_save(const fs::path& dir, const std::string& base_model_name_or_path) const {
  if (!has_lora()) throw Error("no adapter to save", dir.string());
  std::vector<model::TensorData> tensors = f32_tensors(lora_state());
  const LoraSpec& s = policy_.spec;
  nlohmann::json cfg = {{"peft_type", "LORA"},
                        {"task_type", "CAUSAL_LM"},
                        {"base_model_name_or_path", base_model_name_or_path},
                        {"r", s.r},
                        {"lora_alpha", s.alpha},
                        {"target_modules", s.target_names()},
                        {"lora_dropout", s.dropout},
                        {"bias", "none"},
                        {"fan_in_fan_out", false},
                        {"use_rslora", s.rslora},
                        {"use_dora", false},
                        {"modules_to_save", nullptr},
                        {"init_lora_weights", true},
                        {"inference_mode", true},
                        {"layers_to_transform", nullptr},
                        {"rank_pattern", nlohmann::json::object()},
                        {"alpha_pattern", nlohmann::json::object()},
                        {"revision", nullptr}};
  fs::create_directories(dir);
  model::safetensors_write(dir / "adapter_model.safetensors", std::move(tensors), {{"format", "pt"}});
  write_file_atomic(dir / "adapter_config.json", cfg.dump(2) + "\n");
}

// ---- full fine-tuning ------------------------------------------------------------------------------------

namespace {

// Every weight tensor of the model with its HF name; fused tensors are listed once with the parts they hold
// (name, rows) so full_state can split them again. A tied lm_head is not listed (it is the embedding).
struct WeightRef {
  torch::Tensor* t;
  std::vector<std::pair<std::string, std::int64_t>> parts;  // HF names and their rows (one part: all rows)
};

}  // namespace

static std::vector<WeightRef> weight_refs(TrainModel::Impl& I);

void TrainModel::full_init() {
  Impl& I = *impl_;
  if (dtype_ != torch::kFloat)
    throw Error("full fine-tuning needs dtype=float32 (the weights themselves are trained)", "finetuning_type",
                "set dtype=float32, or use finetuning_type=lora for a bfloat16 base");
  auto refs = weight_refs(I);
  FlatBuilder fb;
  std::vector<std::size_t> slot;
  for (const auto& r : refs) slot.push_back(fb.add(r.t->sizes().vec()));
  torch::NoGradGuard ng;
  torch::Tensor p = torch::zeros({fb.total}, torch::TensorOptions().dtype(torch::kFloat).device(device_));
  torch::Tensor g = torch::zeros({fb.total}, torch::TensorOptions().dtype(torch::kFloat).device(device_));
  const bool tied = I.lm_head.is_same(I.embed);
  for (std::size_t i = 0; i < refs.size(); ++i) {
    torch::Tensor v = leaf_view(p, g, fb.slots[slot[i]]);
    v.detach().copy_(*refs[i].t);
    *refs[i].t = v;
  }
  if (tied) I.lm_head = I.embed;
  flat_p_ = p, flat_g_ = g;
  policy_ = LoraWeights{};
  ref_ = LoraWeights{};
  full_ = true;
}

std::vector<std::pair<std::string, torch::Tensor>> TrainModel::full_state() const {
  std::vector<std::pair<std::string, torch::Tensor>> out;
  for (const auto& r : weight_refs(*impl_)) {
    std::int64_t row = 0;
    for (const auto& [name, rows] : r.parts) {
      torch::Tensor t = r.parts.size() == 1 ? *r.t : r.t->narrow(0, row, rows);
      out.push_back({name, t.detach().to(torch::kFloat).contiguous().clone()});
      row += rows;
    }
  }
  return out;
}

void TrainModel::full_load(const fs::path& dir) {
  if (!full_) throw Error("full_load needs full_init first", dir.string());
  const model::WeightStore ws = model::WeightStore::open(dir);
  torch::NoGradGuard ng;
  for (const auto& r : weight_refs(*impl_)) {
    std::int64_t row = 0;
    for (const auto& [name, rows] : r.parts) {
      torch::Tensor dst = r.parts.size() == 1 ? r.t->detach() : r.t->detach().narrow(0, row, rows);
      torch::Tensor src = view_tensor(ws.get(name), torch::kFloat);
      if (src.sizes() != dst.sizes())
        throw Error("tensor '" + name + "' has shape " + shape_str(src.sizes()) + ", this model needs " +
                        shape_str(dst.sizes()),
                    ws.origin().string(), "the checkpoint was saved from a model of another shape");
      dst.copy_(src);
      row += rows;
    }
  }
}

void TrainModel::full_save(const fs::path& dir) const {
  if (!full_) throw Error("no fully fine-tuned model to save", dir.string());
  std::vector<model::TensorData> tensors = f32_tensors(full_state());
  fs::create_directories(dir);
  // Everything of the base directory but its weights: config, generation config, tokenizer files.
  for (const auto& e : fs::directory_iterator(dir_)) {
    if (!e.is_regular_file()) continue;
    const std::string n = e.path().filename().string();
    const auto ext = e.path().extension().string();
    if (ext == ".safetensors" || ext == ".bin" || ext == ".pt" || ext == ".pth" ||
        n.find(".safetensors.index") != std::string::npos || n.find(".bin.index") != std::string::npos)
      continue;
    if (n == "config.json") {
      nlohmann::json c = nlohmann::json::parse(read_file(e.path()));
      c["torch_dtype"] = "float32";
      write_file_atomic(dir / n, c.dump(2) + "\n");
    } else {
      write_file_atomic(dir / n, read_file(e.path()));
    }
  }
  model::safetensors_write(dir / "model.safetensors", std::move(tensors), {{"format", "pt"}});
}

static std::vector<WeightRef> weight_refs(TrainModel::Impl& I) {
  std::vector<WeightRef> r;
  auto one = [&](torch::Tensor& t, const std::string& name) { r.push_back({&t, {{name, t.size(0)}}}); };
  one(I.embed, "model.embed_tokens.weight");
  if (!I.lm_head.is_same(I.embed)) one(I.lm_head, "lm_head.weight");
  one(I.norm, "model.norm.weight");
  for (std::int64_t l = 0; l < I.L; ++l) {
    LayerW& w = I.layers[static_cast<std::size_t>(l)];
    const std::string p = "model.layers." + std::to_string(l) + ".";
    one(w.in_norm, p + "input_layernorm.weight");
    one(w.post_norm, p + "post_attention_layernorm.weight");
    const std::int64_t q = I.H * I.D, kv = I.Hkv * I.D;
    r.push_back({&w.w_qkv, {{p + "self_attn.q_proj.weight", q}, {p + "self_attn.k_proj.weight", kv},
                            {p + "self_attn.v_proj.weight", kv}}});
    if (w.b_qkv.defined())
      r.push_back({&w.b_qkv, {{p + "self_attn.q_proj.bias", q}, {p + "self_attn.k_proj.bias", kv},
                              {p + "self_attn.v_proj.bias", kv}}});
    one(w.w_o, p + "self_attn.o_proj.weight");
    if (w.b_o.defined()) one(w.b_o, p + "self_attn.o_proj.bias");
    r.push_back({&w.w_gu, {{p + "mlp.gate_proj.weight", I.I}, {p + "mlp.up_proj.weight", I.I}}});
    if (w.b_gu.defined()) r.push_back({&w.b_gu, {{p + "mlp.gate_proj.bias", I.I}, {p + "mlp.up_proj.bias", I.I}}});
    one(w.w_down, p + "mlp.down_proj.weight");
    if (w.b_down.defined()) one(w.b_down, p + "mlp.down_proj.bias");
  }
  return r;
}

torch::Tensor TrainModel::linear(const torch::Tensor& x, const torch::Tensor& w, const torch::Tensor& b) const {
  return full_ ? at::linear(x, w, b) : frozen_linear(x, w, b);  // a trained weight needs autograd's weight gradient
}

torch::Tensor TrainModel::norm(const torch::Tensor& x, const torch::Tensor& w) const {
  if (!full_) return rms_norm_fused(x, w, impl_->eps);
  // HF LlamaRMSNorm, eager: the weight is a trained leaf here
  return w * (x * at::rsqrt(x.pow(2).mean(-1, true) + impl_->eps));
}

// ---- forward ---------------------------------------------------------------------------------------------

const LoraWeights* TrainModel::branch_weights(Branch b) const {
  switch (b) {
    case Branch::base: return nullptr;
    case Branch::policy: return has_lora() ? &policy_ : nullptr;
    case Branch::reference: return has_reference() ? &ref_ : nullptr;
  }
  return nullptr;
}

namespace {

// y [N, out_group] += s · (dropout(x) · A_groupᵀ) · B_blockᵀ, in f32 (PEFT casts x to the adapter dtype): the
// eager path, used for LoRA dropout while training (one mask per module, as PEFT draws them).
torch::Tensor lora_add(const torch::Tensor& y, const torch::Tensor& x, const LoraWeights& w, std::int64_t layer, int g,
                       bool train, const std::function<std::int64_t(int)>& out_of) {
  const auto& L = w.layers[layer];
  if (!L.a[g].defined()) return y;
  torch::Tensor xf = x.scalar_type() == torch::kFloat ? x : x.to(torch::kFloat);
  torch::Tensor u;
  const double p = w.spec.dropout;
  if (train && p > 0) {  // every module draws its own dropout mask, as PEFT's per-module lora_dropout does
    std::vector<torch::Tensor> parts;
    for (int m : kGroups[g])
      if (w.spec.targets[m]) parts.push_back(at::matmul(at::dropout(xf, p, true), w.a_of(layer, m).t()));
    u = parts.size() == 1 ? parts[0] : at::cat(parts, 1);
  } else {
    u = at::matmul(xf, L.a[g].t());
  }
  torch::Tensor bb = group_b(L, g, out_of);
  const double s = w.spec.scale();
  if (y.scalar_type() == torch::kFloat) return at::addmm(y, u, bb.t(), 1.0, s);
  return y + at::mm(u, bb.t()).mul(s).to(y.scalar_type());
}

}  // namespace

struct TrainModel::Packed {
  std::int64_t B = 0, T = 0;
  std::vector<std::int64_t> ids;   // [B·T], pads 0
  std::vector<std::int64_t> pos;   // [B·T] position ids (empty: 0..T−1 in every row)
  std::vector<std::uint8_t> br;    // [B·T] attention branch (empty: plain causal); 0 = shared prefix
  std::vector<std::int64_t> rows, targets, seq;  // scored entries: predicting flat row, target id, output sequence
  std::vector<std::int64_t> seq_tokens;          // scored tokens per output sequence
  std::int64_t input_tokens = 0;                 // Σ lengths of the sequences as if unpacked
};

torch::Tensor TrainModel::hidden(const torch::Tensor& ids, const torch::Tensor& pos, const torch::Tensor& mask,
                                 const torch::Tensor& rows, const LoraWeights* lora, bool train) {
  Impl& I = *impl_;
  const std::int64_t B = ids.size(0), T = ids.size(1), N = B * T;
  const std::int64_t H = I.H, Hkv = I.Hkv, D = I.D, rep = H / Hkv;
  auto it = I.tables.find(T);
  if (it == I.tables.end()) {
    torch::NoGradGuard ng;
    Impl::Tables tb;
    torch::Tensor ang = at::outer(torch::arange(T, torch::kFloat), I.inv_freq);  // [T, D/2], as HF: f32 pos × inv_freq
    torch::Tensor emb = torch::cat({ang, ang}, -1);
    torch::Tensor sign = torch::cat({-torch::ones({D / 2}), torch::ones({D / 2})});
    tb.cos = emb.cos();
    tb.sin_signed = emb.sin() * sign;  // rotate_half(x)·sin = roll(x, D/2)·(±sin)
    it = I.tables.emplace(T, std::move(tb)).first;
  }
  const Impl::Tables& tb = it->second;
  torch::Tensor cos = tb.cos, sin_signed = tb.sin_signed;
  if (pos.defined()) {  // packed rows: positions restart for each completion
    torch::NoGradGuard ng;
    torch::Tensor ang = pos.reshape({N, 1}).to(torch::kFloat) * I.inv_freq.view({1, D / 2});
    torch::Tensor emb = torch::cat({ang, ang}, -1);
    torch::Tensor sign = torch::cat({-torch::ones({D / 2}), torch::ones({D / 2})});
    cos = emb.cos();  // [B·T, D]
    sin_signed = emb.sin() * sign;
  }
  auto out_of = [&](int p) { return I.proj_out(p); };
  const double scale = 1.0 / std::sqrt(static_cast<double>(D));

  // A frozen projection group with its LoRA deltas: the fused op, or (dropout while training) the eager
  // composition, which draws one dropout mask per module.
  const bool eager_lora = lora && train && lora->spec.dropout > 0;
  auto project = [&](const torch::Tensor& in, std::int64_t l, int g, const torch::Tensor& w, const torch::Tensor& b) {
    if (!lora || !lora->layers[l].a[g].defined()) return linear(in, w, b);
    if (eager_lora) return lora_add(frozen_linear(in, w, b), in, *lora, l, g, train, out_of);
    std::vector<torch::Tensor> bs;
    std::vector<std::int64_t> offs;
    std::int64_t off = 0;
    for (int p : kGroups[g]) {
      if (lora->spec.targets[p]) bs.push_back(lora->layers[l].b[p]), offs.push_back(off);
      off += I.proj_out(p);
    }
    return lora_linear(in, w, b, lora->layers[l].a[g], bs, offs, lora->spec.scale());
  };

  torch::Tensor x = I.embed.index_select(0, ids.reshape({N}));  // [N, C]
  for (std::int64_t l = 0; l < I.L; ++l) {
    const LayerW& w = I.layers[l];
    const bool last = l + 1 == I.L && rows.defined();
    // attention
    torch::Tensor h = norm(x, w.in_norm);
    torch::Tensor qkv = project(h, l, 0, w.w_qkv, w.b_qkv);  // [N, (H + 2·Hkv)·D]
    // RoPE + GQA layout in one pass: q [B·Hkv, rep·T, D] (the rep query heads of kv head j stacked along the
    // query axis, so no repeat_kv), k and v [B·Hkv, T, D].
    auto qkv3 = rope_split(qkv.view({B, T, H + 2 * Hkv, D}), cos, sin_signed, H, Hkv);
    const torch::Tensor &q = qkv3[0], &k = qkv3[1], &v = qkv3[2];
    // Blocks of 64 queries skip ~(1 − 1/n)/2 of the score work for n blocks, and keep each block's products small
    // (OpenBLAS splits a larger product over its threads call by call: a hand-off per head, costly on a busy
    // machine); rows up to 64 tokens stay one block.
    torch::Tensor ctx = causal_attention(q, k, v, mask, B, scale, T > 64 ? 64 : T);  // [B·Hkv, rep·T, D]
    torch::Tensor att = ctx.view({B, Hkv, rep, T, D}).permute({0, 3, 1, 2, 4}).reshape({N, H * D});
    if (last) {  // only the scored rows go on: o_proj and the MLP of the other rows would be thrown away
      att = gather_rows(att, rows);
      x = gather_rows(x, rows);
    }
    x = x + project(att, l, 1, w.w_o, w.b_o);
    // MLP
    h = norm(x, w.post_norm);
    torch::Tensor act = swiglu(project(h, l, 2, w.w_gu, w.b_gu));  // [N, I]
    x = x + project(act, l, 3, w.w_down, w.b_down);
  }
  if (rows.defined() && I.L == 0) x = gather_rows(x, rows);
  return x;
}

namespace {

void pack_plain(TrainModel::Packed& p, const TokenSeq& s, std::int64_t b, std::int64_t out_seq) {
  for (std::size_t t = 0; t < s.ids.size(); ++t) {
    p.ids[b * p.T + static_cast<std::int64_t>(t)] = s.ids[t];
    if (t > 0 && s.mask[t]) {
      p.rows.push_back(b * p.T + static_cast<std::int64_t>(t) - 1);
      p.targets.push_back(s.ids[t]);
      p.seq.push_back(out_seq);
      ++p.seq_tokens[out_seq];
    }
  }
  p.input_tokens += static_cast<std::int64_t>(s.ids.size());
}

}  // namespace

ScoreOut TrainModel::score(const std::vector<const TokenSeq*>& batch, Branch branch, bool train) {
  Packed p;
  p.B = static_cast<std::int64_t>(batch.size());
  for (const TokenSeq* s : batch) p.T = std::max<std::int64_t>(p.T, static_cast<std::int64_t>(s->ids.size()));
  p.ids.assign(static_cast<std::size_t>(p.B * p.T), 0);
  p.seq_tokens.assign(batch.size(), 0);
  for (std::int64_t b = 0; b < p.B; ++b) pack_plain(p, *batch[b], b, b);
  return score_packed(p, branch, train);
}

ScoreOut TrainModel::score_pairs(const std::vector<const TokenSeq*>& chosen, const std::vector<const TokenSeq*>& rejected,
                                 const std::vector<std::int64_t>& prompt_tokens, Branch branch, bool train) {
  const std::size_t P = chosen.size();
  Packed p;
  p.seq_tokens.assign(2 * P, 0);
  // Row layout and length of each pair: packed when both share the prompt and score nothing inside it.
  std::vector<bool> packed(P);
  std::vector<std::int64_t> len;  // per row
  std::vector<std::pair<std::size_t, int>> row_of;  // (pair, side: 0 packed, 1 chosen alone, 2 rejected alone)
  for (std::size_t i = 0; i < P; ++i) {
    const TokenSeq &c = *chosen[i], &r = *rejected[i];
    const auto n = static_cast<std::size_t>(prompt_tokens[i]);
    bool ok = n >= 1 && n <= c.ids.size() && n <= r.ids.size() &&
              std::equal(c.ids.begin(), c.ids.begin() + static_cast<std::ptrdiff_t>(n), r.ids.begin());
    for (std::size_t t = 0; ok && t < n; ++t) ok = !c.mask[t] && !r.mask[t];
    packed[i] = ok;
    if (ok) {
      row_of.push_back({i, 0});
      len.push_back(static_cast<std::int64_t>(c.ids.size() + r.ids.size() - n));
    } else {
      row_of.push_back({i, 1});
      len.push_back(static_cast<std::int64_t>(c.ids.size()));
      row_of.push_back({i, 2});
      len.push_back(static_cast<std::int64_t>(r.ids.size()));
    }
  }
  p.B = static_cast<std::int64_t>(row_of.size());
  for (auto l : len) p.T = std::max(p.T, l);
  const std::int64_t T = p.T;
  p.ids.assign(static_cast<std::size_t>(p.B * T), 0);
  p.pos.assign(static_cast<std::size_t>(p.B * T), 0);
  p.br.assign(static_cast<std::size_t>(p.B * T), 255);  // padding
  for (std::int64_t b = 0; b < p.B; ++b) {
    const auto [i, side] = row_of[static_cast<std::size_t>(b)];
    const std::int64_t base = b * T;
    if (side != 0) {
      const TokenSeq& s = side == 1 ? *chosen[i] : *rejected[i];
      pack_plain(p, s, b, side == 1 ? static_cast<std::int64_t>(i) : static_cast<std::int64_t>(P + i));
      for (std::size_t t = 0; t < s.ids.size(); ++t) {
        p.pos[base + static_cast<std::int64_t>(t)] = static_cast<std::int64_t>(t);
        p.br[base + static_cast<std::int64_t>(t)] = 0;
      }
      for (std::int64_t t = static_cast<std::int64_t>(s.ids.size()); t < T; ++t) p.pos[base + t] = t;
      continue;
    }
    const TokenSeq &c = *chosen[i], &r = *rejected[i];
    const auto n = static_cast<std::int64_t>(prompt_tokens[i]);
    std::int64_t k = 0;  // packed column
    auto put = [&](std::int32_t id, std::int64_t position, std::uint8_t branch_id) {
      p.ids[base + k] = id;
      p.pos[base + k] = position;
      p.br[base + k] = branch_id;
      ++k;
    };
    for (std::int64_t t = 0; t < n; ++t) put(c.ids[t], t, 0);
    for (int side2 = 1; side2 <= 2; ++side2) {
      const TokenSeq& s = side2 == 1 ? c : r;
      const std::int64_t first = k;  // packed column of this completion's token n
      const std::int64_t out_seq = side2 == 1 ? static_cast<std::int64_t>(i) : static_cast<std::int64_t>(P + i);
      for (std::int64_t t = n; t < static_cast<std::int64_t>(s.ids.size()); ++t) {
        put(s.ids[t], t, static_cast<std::uint8_t>(side2));
        if (s.mask[t]) {
          p.rows.push_back(base + (t == n ? n - 1 : first + (t - 1 - n)));
          p.targets.push_back(s.ids[t]);
          p.seq.push_back(out_seq);
          ++p.seq_tokens[out_seq];
        }
      }
      p.input_tokens += static_cast<std::int64_t>(s.ids.size());
    }
    for (std::int64_t t = k; t < T; ++t) p.pos[base + t] = t;
  }
  return score_packed(p, branch, train);
}

ScoreOut TrainModel::score_packed(const Packed& p, Branch branch, bool train) {
  Impl& I = *impl_;
  const std::int64_t B = p.B, T = p.T;
  if (B == 0 || T == 0) throw Error("empty batch", "train");
  ScoreOut out;
  out.seq_tokens = p.seq_tokens;
  out.input_tokens = p.input_tokens;
  out.padded_tokens = B * T;
  const auto n_seq = static_cast<std::int64_t>(p.seq_tokens.size());
  auto as_tensor = [&](const std::vector<std::int64_t>& v, std::vector<std::int64_t> shape) {
    return torch::from_blob(const_cast<std::int64_t*>(v.data()), shape, torch::kLong).clone().to(device_);
  };
  // Distinct predicting rows (a shared prompt's last row predicts the first token of both completions).
  std::vector<std::int64_t> uniq(p.rows);
  std::sort(uniq.begin(), uniq.end());
  uniq.erase(std::unique(uniq.begin(), uniq.end()), uniq.end());
  const auto U = static_cast<std::int64_t>(uniq.size()), S = static_cast<std::int64_t>(p.rows.size());
  std::vector<std::int64_t> flat(static_cast<std::size_t>(S));  // index into the [U, V] logits, flattened
  for (std::int64_t s = 0; s < S; ++s) {
    const auto u = std::lower_bound(uniq.begin(), uniq.end(), p.rows[s]) - uniq.begin();
    flat[s] = u * I.V + p.targets[s];
  }
  torch::Tensor pos, mask;
  if (!p.pos.empty()) pos = as_tensor(p.pos, {B, T});
  if (!p.br.empty()) {  // key j is visible to query i when j <= i and j is in the shared prefix or i's branch
    torch::NoGradGuard ng;
    torch::Tensor br = torch::from_blob(const_cast<std::uint8_t*>(p.br.data()), {B, T}, torch::kUInt8).to(torch::kLong);
    torch::Tensor qb = br.view({B, T, 1}), kb = br.view({B, 1, T});
    torch::Tensor ok = (kb == 0).logical_or(kb == qb).logical_and(torch::ones({T, T}, torch::kBool).tril().view({1, T, T}));
    mask = torch::zeros({B, T, T}, torch::kFloat).masked_fill_(ok.logical_not(), -INFINITY);
  }
  torch::Tensor x = hidden(as_tensor(p.ids, {B, T}), pos, mask, as_tensor(uniq, {U}), branch_weights(branch), train);
  torch::Tensor logits = linear(norm(x, I.norm), I.lm_head);  // [U, V]
  if (logits.scalar_type() != torch::kFloat) logits = logits.to(torch::kFloat);
  torch::Tensor idx = as_tensor(flat, {S});
  torch::Tensor row_of = at::floor_divide(idx, I.V);
  out.token_logp = logits.reshape({U * I.V}).index_select(0, idx) - at::logsumexp(logits, {1}).index_select(0, row_of);
  torch::Tensor seg_t = as_tensor(p.seq, {S});
  out.seq_logp = torch::zeros({n_seq}, logits.options().requires_grad(false)).index_add(0, seg_t, out.token_logp);
  {
    torch::NoGradGuard ng;
    torch::Tensor ld = logits.detach();
    out.seq_logit_sum = torch::zeros({n_seq}, logits.options()).index_add_(0, seg_t, ld.mean(1).index_select(0, row_of));
    torch::Tensor tgt = idx - row_of * I.V;
    out.correct = ld.argmax(1).index_select(0, row_of).eq(tgt).sum().item<std::int64_t>();
  }
  return out;
}

torch::Tensor TrainModel::logits(const std::vector<std::int32_t>& ids, Branch branch) {
  Impl& I = *impl_;
  const std::int64_t T = static_cast<std::int64_t>(ids.size());
  std::vector<std::int64_t> v(ids.begin(), ids.end());
  torch::Tensor t = torch::from_blob(v.data(), {1, T}, torch::kLong).clone().to(device_);
  torch::Tensor x = hidden(t, {}, {}, {}, branch_weights(branch), false);
  torch::Tensor lg = linear(norm(x, I.norm), I.lm_head);
  return lg.to(torch::kFloat);
}

}  // namespace ecpo::train
