#!/usr/bin/python3
"""PyTorch-eager reference for bench/model/run.sh: the same Llama forward (HF structure: RMSNorm, RoPE
rotate_half, GQA repeat, SwiGLU) with a torch.cat KV cache, on the models `ecpo model init` wrote.
Measures prefill tokens/s (best of 5 forwards over a P-token prompt) and decode tokens/s (greedy, cache)
in float32 and bfloat16 at N threads, and writes JSON {model: {dtype: {prefill_tps, decode_tps}}}.
Usage: /usr/bin/python3 bench/model/ref_bench.py MODELS_DIR OUT.json [threads] [prompt] [decode]
"""
import json
import math
import os
import struct
import sys
import time

import torch


def load(path, dtype):
    with open(path, "rb") as f:
        data = f.read()
    n = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + n])
    dts = {"F32": torch.float32, "BF16": torch.bfloat16, "F16": torch.float16}
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        b, e = info["data_offsets"]
        out[name] = torch.frombuffer(bytearray(data[8 + n + b:8 + n + e]), dtype=dts[info["dtype"]]) \
            .reshape(info["shape"]).to(dtype)
    return out


class Model:
    def __init__(self, d, dtype):
        self.cfg = json.load(open(os.path.join(d, "config.json")))
        self.w = load(os.path.join(d, "model.safetensors"), dtype)
        self.dtype = dtype
        c = self.cfg
        self.H, self.Hkv = c["num_attention_heads"], c["num_key_value_heads"]
        self.D = c.get("head_dim") or c["hidden_size"] // self.H
        inv = 1.0 / (c["rope_theta"] ** (torch.arange(0, self.D, 2).float() / self.D))
        self.inv_freq = inv  # (llama3 scaling does not change the cost)
        self.head = self.w["model.embed_tokens.weight"] if c.get("tie_word_embeddings") else self.w["lm_head.weight"]

    def norm(self, x, w):
        h = x.float()
        h = h * torch.rsqrt(h.pow(2).mean(-1, keepdim=True) + self.cfg["rms_norm_eps"])
        return w * h.to(x.dtype)

    def forward(self, ids, cache, start):
        T = ids.shape[0]
        H, Hkv, D = self.H, self.Hkv, self.D
        pos = torch.arange(start, start + T).float()
        f = pos[:, None] * self.inv_freq[None, :]
        emb = torch.cat([f, f], -1)
        cos, sin = emb.cos().to(self.dtype), emb.sin().to(self.dtype)

        def rot(x):
            h = x.shape[-1] // 2
            return x * cos + torch.cat([-x[..., h:], x[..., :h]], -1) * sin

        x = self.w["model.embed_tokens.weight"][ids]
        S = start + T
        mask = torch.full((T, S), float("-inf")).triu(start + 1) if T > 1 else None
        F = torch.nn.functional
        for l in range(self.cfg["num_hidden_layers"]):
            p = f"model.layers.{l}."
            w = self.w
            h = self.norm(x, w[p + "input_layernorm.weight"])
            q = F.linear(h, w[p + "self_attn.q_proj.weight"], w.get(p + "self_attn.q_proj.bias"))
            k = F.linear(h, w[p + "self_attn.k_proj.weight"], w.get(p + "self_attn.k_proj.bias"))
            v = F.linear(h, w[p + "self_attn.v_proj.weight"], w.get(p + "self_attn.v_proj.bias"))
            q = rot(q.view(T, H, D).transpose(0, 1))
            k = rot(k.view(T, Hkv, D).transpose(0, 1))
            v = v.view(T, Hkv, D).transpose(0, 1)
            if l in cache:
                k = torch.cat([cache[l][0], k], 1)
                v = torch.cat([cache[l][1], v], 1)
            cache[l] = (k, v)
            k = k.repeat_interleave(H // Hkv, 0)
            v = v.repeat_interleave(H // Hkv, 0)
            s = (q @ k.transpose(1, 2)).float() / math.sqrt(D)
            if mask is not None:
                s = s + mask
            a = torch.softmax(s, -1).to(self.dtype) @ v
            x = x + F.linear(a.transpose(0, 1).reshape(T, H * D), w[p + "self_attn.o_proj.weight"])
            h = self.norm(x, w[p + "post_attention_layernorm.weight"])
            x = x + F.linear(F.silu(F.linear(h, w[p + "mlp.gate_proj.weight"])) * F.linear(h, w[p + "mlp.up_proj.weight"]),
                             w[p + "mlp.down_proj.weight"])
        x = self.norm(x[-1:], self.w["model.norm.weight"])
        return F.linear(x, self.head).float()


def bench(d, dtype, prompt_len, decode_len):
    m = Model(d, dtype)
    V = m.cfg["vocab_size"]
    prompt = torch.tensor([(i * 7919 + 13) % (V - 16) for i in range(prompt_len)])
    m.forward(prompt, {}, 0)
    best = 1e30
    for _ in range(5):
        t0 = time.perf_counter()
        m.forward(prompt, {}, 0)
        best = min(best, time.perf_counter() - t0)
    prefill = prompt_len / best
    short = prompt[:16]
    best_dec = 0
    for _ in range(3):  # first round is the warm-up
        cache = {}
        nxt = int(m.forward(short, cache, 0).argmax())
        t0 = time.perf_counter()
        pos = 16
        for _ in range(decode_len - 1):
            nxt = int(m.forward(torch.tensor([nxt]), cache, pos).argmax())
            pos += 1
        best_dec = max(best_dec, (decode_len - 1) / (time.perf_counter() - t0))
    return {"prefill_tps": prefill, "decode_tps": best_dec}


def main():
    models, out = sys.argv[1], sys.argv[2]
    threads = int(sys.argv[3]) if len(sys.argv) > 3 else 2
    prompt_len = int(sys.argv[4]) if len(sys.argv) > 4 else 128
    decode_len = int(sys.argv[5]) if len(sys.argv) > 5 else 64
    torch.set_num_threads(threads)
    res = {"torch_version": torch.__version__, "threads": threads}
    with torch.inference_mode():
        for name in ("tiny", "small"):
            d = os.path.join(models, name)
            if not os.path.exists(os.path.join(d, "config.json")):
                continue
            res[name] = {dt_name: bench(d, dt, prompt_len, decode_len)
                         for dt_name, dt in (("float32", torch.float32), ("bfloat16", torch.bfloat16))}
    with open(out, "w") as f:
        json.dump(res, f, indent=1)


if __name__ == "__main__":
    main()
