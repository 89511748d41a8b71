#!/usr/bin/python3
"""Golden values for the engine tests, computed independently of the C++ code with Debian's python3-torch.

Run once from the repository root:  /usr/bin/python3 tests/assets/model/make_golden.py
Reads tests/assets/model/{tiny-llama,tiny-qwen2}/ (config.json + model.safetensors written by
`ecpo model init`, parsed here by hand: no safetensors package in Debian) and writes golden.json:
  - per model: logits of every position of seq_a, last-position logits of seq_b, 12 greedy ids after seq_a
    (full forward each step, no cache), all computed in float64;
  - rope_llama3: the llama3-scaled inverse frequencies of a Llama-3.1-8B-like config (head_dim 128,
    theta 500000, factor 8, low 1, high 4, original 8192), following transformers' _compute_llama3_parameters.
"""
import json
import math
import os
import struct

import torch

HERE = os.path.dirname(os.path.abspath(__file__))


def load_safetensors(path):
    with open(path, "rb") as f:
        data = f.read()
    n = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + n])
    dtypes = {"F32": torch.float32, "BF16": torch.bfloat16, "F16": torch.float16}
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        b, e = info["data_offsets"]
        raw = bytearray(data[8 + n + b:8 + n + e])
        out[name] = torch.frombuffer(raw, dtype=dtypes[info["dtype"]]).reshape(info["shape"]).to(torch.float64)
    return out


def inv_freq_default(head_dim, theta):
    # transformers: 1.0 / (base ** (torch.arange(0, dim, 2, dtype=torch.int64).float() / dim))  (float32)
    return 1.0 / (theta ** (torch.arange(0, head_dim, 2, dtype=torch.int64).float() / head_dim))


def inv_freq_llama3(inv_freq, factor, low_freq_factor, high_freq_factor, old_context_len):
    low_freq_wavelen = old_context_len / low_freq_factor
    high_freq_wavelen = old_context_len / high_freq_factor
    wavelen = 2 * math.pi / inv_freq
    inv_freq_llama = torch.where(wavelen > low_freq_wavelen, inv_freq / factor, inv_freq)
    smooth_factor = (old_context_len / wavelen - low_freq_factor) / (high_freq_factor - low_freq_factor)
    smoothed_inv_freq = (1 - smooth_factor) * inv_freq_llama / factor + smooth_factor * inv_freq_llama
    is_medium_freq = ~(wavelen < high_freq_wavelen) * ~(wavelen > low_freq_wavelen)
    return torch.where(is_medium_freq, smoothed_inv_freq, inv_freq_llama)


def inv_freq_for(cfg):
    head_dim = cfg.get("head_dim") or cfg["hidden_size"] // cfg["num_attention_heads"]
    f = inv_freq_default(head_dim, cfg["rope_theta"])
    rs = cfg.get("rope_scaling")
    if rs and rs.get("rope_type", rs.get("type")) == "llama3":
        f = inv_freq_llama3(f, rs["factor"], rs["low_freq_factor"], rs["high_freq_factor"],
                            rs["original_max_position_embeddings"])
    return f


def rms_norm(x, w, eps):
    return w * (x / torch.sqrt((x * x).mean(-1, keepdim=True) + eps))


def rotate_half(x):
    h = x.shape[-1] // 2
    return torch.cat([-x[..., h:], x[..., :h]], dim=-1)


def forward(w, cfg, ids):
    """Logits [T, V] of a Llama/Qwen2 decoder on one sequence, float64, no cache."""
    T = len(ids)
    C, H = cfg["hidden_size"], cfg["num_attention_heads"]
    Hkv = cfg.get("num_key_value_heads") or H
    D = cfg.get("head_dim") or C // H
    eps = cfg["rms_norm_eps"]
    qwen2 = cfg["model_type"] == "qwen2"
    inv_freq = inv_freq_for(cfg).to(torch.float64)
    ang = torch.arange(T, dtype=torch.float64)[:, None] * inv_freq[None, :]   # [T, D/2]
    emb = torch.cat([ang, ang], dim=-1)
    cos, sin = emb.cos(), emb.sin()                                           # [T, D]
    mask = torch.full((T, T), float("-inf"), dtype=torch.float64).triu(1)
    x = w["model.embed_tokens.weight"][torch.tensor(ids)]                     # [T, C]
    for l in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{l}."
        h = rms_norm(x, w[p + "input_layernorm.weight"], eps)
        q = h @ w[p + "self_attn.q_proj.weight"].T
        k = h @ w[p + "self_attn.k_proj.weight"].T
        v = h @ w[p + "self_attn.v_proj.weight"].T
        if qwen2:
            q = q + w[p + "self_attn.q_proj.bias"]
            k = k + w[p + "self_attn.k_proj.bias"]
            v = v + w[p + "self_attn.v_proj.bias"]
        q = q.view(T, H, D).transpose(0, 1)                                   # [H, T, D]
        k = k.view(T, Hkv, D).transpose(0, 1)
        v = v.view(T, Hkv, D).transpose(0, 1)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        k = k.repeat_interleave(H // Hkv, dim=0)                              # kv head j serves q heads j*r..j*r+r-1
        v = v.repeat_interleave(H // Hkv, dim=0)
        att = torch.softmax(q @ k.transpose(1, 2) / math.sqrt(D) + mask, dim=-1) @ v
        x = x + att.transpose(0, 1).reshape(T, H * D) @ w[p + "self_attn.o_proj.weight"].T
        h = rms_norm(x, w[p + "post_attention_layernorm.weight"], eps)
        g = torch.nn.functional.silu(h @ w[p + "mlp.gate_proj.weight"].T) * (h @ w[p + "mlp.up_proj.weight"].T)
        x = x + g @ w[p + "mlp.down_proj.weight"].T
    x = rms_norm(x, w["model.norm.weight"], eps)
    head = w["model.embed_tokens.weight"] if cfg.get("tie_word_embeddings") else w["lm_head.weight"]
    return x @ head.T


def r7(t):
    return [float("%.7g" % v) for v in t.tolist()]


def main():
    out = {"torch_version": torch.__version__, "models": {}}
    seqs = {"tiny-llama": ([507, 10, 200, 33, 400, 7, 256, 99, 3], [507, 5, 6]),
            "tiny-qwen2": ([12, 200, 33, 400, 7, 256, 99, 3, 100, 500], [509, 5, 6, 480])}
    for name, (seq_a, seq_b) in seqs.items():
        d = os.path.join(HERE, name)
        cfg = json.load(open(os.path.join(d, "config.json")))
        w = load_safetensors(os.path.join(d, "model.safetensors"))
        la = forward(w, cfg, seq_a)
        lb = forward(w, cfg, seq_b)
        ids = list(seq_a)
        greedy = []
        for _ in range(12):
            nxt = int(forward(w, cfg, ids)[-1].argmax())
            greedy.append(nxt)
            ids.append(nxt)
        out["models"][name] = {"seq_a": seq_a, "logits_a": [r7(row) for row in la], "seq_b": seq_b,
                               "logits_b_last": r7(lb[-1]), "greedy_a": greedy, "compute": "float64"}
    f = inv_freq_llama3(inv_freq_default(128, 500000.0), 8.0, 1.0, 4.0, 8192)
    out["rope_llama3"] = {"head_dim": 128, "rope_theta": 500000.0, "factor": 8.0, "low_freq_factor": 1.0,
                          "high_freq_factor": 4.0, "original_max_position_embeddings": 8192,
                          "inv_freq": [float(v) for v in f.tolist()]}
    with open(os.path.join(HERE, "golden.json"), "w") as fh:
        json.dump(out, fh)
        fh.write("\n")


if __name__ == "__main__":
    main()
