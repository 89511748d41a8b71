// llama2.c v0 checkpoint conversion (see llama2c.h).
#include "model/llama2c.h"

#include <cstring>

#include "model/safetensors.h"
#include "util/error.h"
#include "util/fs.h"
#include "util/jsonl.h"

namespace fs = std::filesystem;

namespace ecpo::model {

HfConfig llama2c_convert(const fs::path& bin, const fs::path& out_dir) {
  const std::string raw = read_file(bin);
  if (raw.size() < 28) throw Error("file is shorter than the 28-byte llama2.c header", bin.string());
  std::int32_t h[7];
  std::memcpy(h, raw.data(), sizeof h);
  const std::int64_t dim = h[0], hidden = h[1], n_layers = h[2], n_heads = h[3], n_kv = h[4], seq_len = h[6];
  const bool shared = h[5] > 0;
  const std::int64_t vocab = shared ? h[5] : -static_cast<std::int64_t>(h[5]);
  if (dim <= 0 || hidden <= 0 || n_layers <= 0 || n_heads <= 0 || n_kv <= 0 || vocab <= 0 || seq_len <= 0 ||
      dim % n_heads != 0 || n_heads % n_kv != 0 || dim > (1 << 16) || n_layers > 1024)
    throw Error("implausible llama2.c header", bin.string(), "only the legacy v0 format (no magic) is supported");
  const std::int64_t hs = dim / n_heads, kv_dim = n_kv * hs;
  const std::int64_t floats_needed = vocab * dim + n_layers * (2 * dim + dim * dim + 2 * dim * kv_dim + dim * dim +
                                                               3 * dim * hidden) +
                                     dim + seq_len * hs + (shared ? 0 : vocab * dim);
  const std::int64_t have = static_cast<std::int64_t>((raw.size() - 28) / 4);
  if (have != floats_needed || (raw.size() - 28) % 4 != 0)
    throw Error("file holds " + std::to_string(have) + " floats, the header implies " + std::to_string(floats_needed),
                bin.string(), "truncated file or a newer llama2.c version (v1/v2 exports have a magic header)");

  const float* p = reinterpret_cast<const float*>(raw.data() + 28);  // raw.data() is suitably aligned (new'd)
  auto take = [&](std::int64_t n) {
    std::vector<float> v(p, p + n);
    p += n;
    return v;
  };
  // HF permute for rotate_half: new row h*D + parity*(D/2) + j ← old row h*D + 2j + parity.
  auto permute = [&](const std::vector<float>& w, std::int64_t heads, std::int64_t cols) {
    std::vector<float> out(w.size());
    for (std::int64_t hh = 0; hh < heads; ++hh)
      for (std::int64_t j = 0; j < hs / 2; ++j)
        for (std::int64_t parity = 0; parity < 2; ++parity) {
          const std::int64_t src = hh * hs + 2 * j + parity, dst = hh * hs + parity * (hs / 2) + j;
          std::memcpy(&out[dst * cols], &w[src * cols], cols * sizeof(float));
        }
    return out;
  };
  auto split_layers = [&](std::int64_t per_layer) {
    std::vector<std::vector<float>> out;
    for (std::int64_t l = 0; l < n_layers; ++l) out.push_back(take(per_layer));
    return out;
  };
  std::vector<TensorData> t;
  auto add = [&](const std::string& name, std::vector<std::int64_t> shape, const std::vector<float>& v) {
    t.push_back({name, "F32", std::move(shape), pack_floats(v, "F32")});
  };
  add("model.embed_tokens.weight", {vocab, dim}, take(vocab * dim));
  auto rms_att = split_layers(dim);
  auto wq = split_layers(dim * dim), wk = split_layers(kv_dim * dim), wv = split_layers(kv_dim * dim);
  auto wo = split_layers(dim * dim);
  auto rms_ffn = split_layers(dim);
  auto w1 = split_layers(hidden * dim), w2 = split_layers(dim * hidden), w3 = split_layers(hidden * dim);
  add("model.norm.weight", {dim}, take(dim));
  p += seq_len * hs;  // freq_cis real + imag (seq_len × hs/2 each): recomputed from rope_theta instead
  if (!shared) add("lm_head.weight", {vocab, dim}, take(vocab * dim));
  for (std::int64_t l = 0; l < n_layers; ++l) {
    const std::string pre = "model.layers." + std::to_string(l) + ".";
    add(pre + "input_layernorm.weight", {dim}, rms_att[l]);
    add(pre + "post_attention_layernorm.weight", {dim}, rms_ffn[l]);
    add(pre + "self_attn.q_proj.weight", {dim, dim}, permute(wq[l], n_heads, dim));
    add(pre + "self_attn.k_proj.weight", {kv_dim, dim}, permute(wk[l], n_kv, dim));
    add(pre + "self_attn.v_proj.weight", {kv_dim, dim}, wv[l]);
    add(pre + "self_attn.o_proj.weight", {dim, dim}, wo[l]);
    add(pre + "mlp.gate_proj.weight", {hidden, dim}, w1[l]);
    add(pre + "mlp.down_proj.weight", {dim, hidden}, w2[l]);
    add(pre + "mlp.up_proj.weight", {hidden, dim}, w3[l]);
  }

  HfConfig c;
  c.architecture = "LlamaForCausalLM";
  c.model_type = "llama";
  c.vocab_size = vocab;
  c.hidden_size = dim;
  c.intermediate_size = hidden;
  c.num_hidden_layers = n_layers;
  c.num_attention_heads = n_heads;
  c.num_key_value_heads = n_kv;
  c.head_dim = hs;
  c.rms_norm_eps = 1e-5;
  c.rope_theta = 10000.0;
  c.tie_word_embeddings = shared;
  c.max_position_embeddings = seq_len;
  c.bos_token_ids = {1};
  c.eos_token_ids = {2};
  c.torch_dtype = "float32";
  std::error_code ec;
  fs::create_directories(out_dir, ec);
  write_json_file(out_dir / "config.json", c.to_json());
  safetensors_write(out_dir / "model.safetensors", std::move(t), {{"format", "pt"}, {"source", "llama2.c v0"}});
  return c;
}

}  // namespace ecpo::model
