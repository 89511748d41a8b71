#!/usr/bin/python3
"""PyTorch-eager LoRA training step, the baseline of bench/train/run.sh (Debian python3-torch 1.13).

Written the way PEFT + TRL run a LoRA step on a Hugging Face Llama/Qwen2, without the Trainer around it:
HF modules (LlamaRMSNorm in f32, rotate_half RoPE, repeat_kv GQA, eager attention with an f32 softmax, SwiGLU),
every q/k/v/o/gate/up/down projection wrapped as PEFT's lora.Linear (frozen base nn.Linear + lora_A/lora_B
nn.Linear, dropout, scaling α/r; x cast to the adapter dtype), full logits [B, T, V] from lm_head, then
TRL's losses: SFT = cross-entropy with -100 labels over the shifted logits; DPO = selective log-softmax of the
completion tokens, [chosen; rejected] concatenated in one forward, sigmoid loss against cached reference
log-probs. torch.optim.AdamW (lr, betas 0.9/0.999, eps 1e-8, wd 0) and clip_grad_norm_(1.0).

Usage: /usr/bin/python3 bench/train/ref_step.py MODEL_DIR DATA.jsonl sft|dpo float32|bfloat16 THREADS STEPS WARMUP [LABEL]
Prints one JSON line: {impl, model, objective, dtype, step_ms and cpu_ms (per measured step), tokens (per step), first_loss,
peak_rss_mb}. The batch is the whole file (every row, one micro-batch), right-padded.
"""
import json
import math
import os
import resource
import struct
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


def load_safetensors(path, dtype):
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
    del data
    return out


class LoraLinear(nn.Module):
    """peft.tuners.lora.Linear: base_layer(x) + lora_B(lora_A(dropout(x))) * scaling."""

    def __init__(self, weight, bias, r, alpha):
        super().__init__()
        out_f, in_f = weight.shape
        self.base_layer = nn.Linear(in_f, out_f, bias=bias is not None, dtype=weight.dtype)
        self.base_layer.weight = nn.Parameter(weight, requires_grad=False)
        if bias is not None:
            self.base_layer.bias = nn.Parameter(bias, requires_grad=False)
        self.lora_A = nn.Linear(in_f, r, bias=False, dtype=torch.float32)
        self.lora_B = nn.Linear(r, out_f, bias=False, dtype=torch.float32)
        nn.init.kaiming_uniform_(self.lora_A.weight, a=math.sqrt(5))
        nn.init.zeros_(self.lora_B.weight)
        self.lora_dropout = nn.Identity()
        self.scaling = alpha / r

    def forward(self, x):
        result = self.base_layer(x)
        torch_result_dtype = result.dtype
        x = x.to(self.lora_A.weight.dtype)
        result = result + self.lora_B(self.lora_A(self.lora_dropout(x))) * self.scaling
        return result.to(torch_result_dtype)


class RMSNorm(nn.Module):
    def __init__(self, w, eps):
        super().__init__()
        self.weight = nn.Parameter(w, requires_grad=False)
        self.eps = eps

    def forward(self, x):
        dt = x.dtype
        h = x.to(torch.float32)
        h = h * torch.rsqrt(h.pow(2).mean(-1, keepdim=True) + self.eps)
        return self.weight * h.to(dt)


def rotate_half(x):
    h = x.shape[-1] // 2
    return torch.cat((-x[..., h:], x[..., :h]), dim=-1)


def repeat_kv(x, n):
    if n == 1:
        return x
    b, hkv, t, d = x.shape
    return x[:, :, None, :, :].expand(b, hkv, n, t, d).reshape(b, hkv * n, t, d)


class Layer(nn.Module):
    def __init__(self, w, p, cfg, r, alpha):
        super().__init__()
        qwen2 = cfg["model_type"] == "qwen2"
        lin = lambda n, bias=False: LoraLinear(w[p + n + ".weight"], w.get(p + n + ".bias") if bias else None, r, alpha)
        self.q_proj, self.k_proj, self.v_proj = lin("self_attn.q_proj", qwen2), lin("self_attn.k_proj", qwen2), \
            lin("self_attn.v_proj", qwen2)
        self.o_proj = lin("self_attn.o_proj")
        self.gate_proj, self.up_proj, self.down_proj = lin("mlp.gate_proj"), lin("mlp.up_proj"), lin("mlp.down_proj")
        self.input_layernorm = RMSNorm(w[p + "input_layernorm.weight"], cfg["rms_norm_eps"])
        self.post_attention_layernorm = RMSNorm(w[p + "post_attention_layernorm.weight"], cfg["rms_norm_eps"])
        self.H, self.Hkv = cfg["num_attention_heads"], cfg["num_key_value_heads"]
        self.D = cfg.get("head_dim") or cfg["hidden_size"] // self.H

    def forward(self, x, cos, sin, mask):
        B, T, _ = x.shape
        h = self.input_layernorm(x)
        q = self.q_proj(h).view(B, T, self.H, self.D).transpose(1, 2)
        k = self.k_proj(h).view(B, T, self.Hkv, self.D).transpose(1, 2)
        v = self.v_proj(h).view(B, T, self.Hkv, self.D).transpose(1, 2)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        k, v = repeat_kv(k, self.H // self.Hkv), repeat_kv(v, self.H // self.Hkv)
        att = torch.matmul(q, k.transpose(2, 3)) / math.sqrt(self.D) + mask
        att = F.softmax(att, dim=-1, dtype=torch.float32).to(q.dtype)
        o = torch.matmul(att, v).transpose(1, 2).reshape(B, T, self.H * self.D)
        x = x + self.o_proj(o)
        h = self.post_attention_layernorm(x)
        return x + self.down_proj(F.silu(self.gate_proj(h)) * self.up_proj(h))


class Model(nn.Module):
    def __init__(self, d, dtype, r=8, alpha=16):
        super().__init__()
        cfg = json.load(open(os.path.join(d, "config.json")))
        w = load_safetensors(os.path.join(d, "model.safetensors"), dtype)
        self.cfg, self.dtype = cfg, dtype
        self.embed = nn.Parameter(w["model.embed_tokens.weight"], requires_grad=False)
        self.layers = nn.ModuleList(Layer(w, f"model.layers.{l}.", cfg, r, alpha) for l in range(cfg["num_hidden_layers"]))
        self.norm = RMSNorm(w["model.norm.weight"], cfg["rms_norm_eps"])
        self.lm_head = self.embed if cfg.get("tie_word_embeddings") else nn.Parameter(w["lm_head.weight"], requires_grad=False)
        H = cfg["num_attention_heads"]
        D = cfg.get("head_dim") or cfg["hidden_size"] // H
        inv = 1.0 / (cfg["rope_theta"] ** (torch.arange(0, D, 2, dtype=torch.int64).float() / D))
        rs = cfg.get("rope_scaling")
        if rs and rs.get("rope_type", rs.get("type")) == "llama3":  # transformers _compute_llama3_parameters
            lo, hi, old = rs["low_freq_factor"], rs["high_freq_factor"], rs["original_max_position_embeddings"]
            wavelen = 2 * math.pi / inv
            scaled = torch.where(wavelen > old / lo, inv / rs["factor"], inv)
            smooth = (old / wavelen - lo) / (hi - lo)
            smoothed = (1 - smooth) * scaled / rs["factor"] + smooth * scaled
            medium = ~(wavelen < old / hi) * ~(wavelen > old / lo)
            inv = torch.where(medium, smoothed, scaled)
        self.inv_freq = inv

    def forward(self, ids):
        B, T = ids.shape
        pos = torch.arange(T).float()
        f = pos[:, None] * self.inv_freq[None, :]
        emb = torch.cat((f, f), dim=-1)
        cos, sin = emb.cos().to(self.dtype)[None, None], emb.sin().to(self.dtype)[None, None]
        mask = torch.full((T, T), float("-inf")).triu(1).to(self.dtype)[None, None]
        x = F.embedding(ids, self.embed)
        for layer in self.layers:
            x = layer(x, cos, sin, mask)
        return F.linear(self.norm(x), self.lm_head)  # [B, T, V]


def selective_log_softmax(logits, index):
    """trl.trainer.utils.selective_log_softmax (f32 path)."""
    logsumexp_values = torch.stack([torch.logsumexp(lg, dim=-1) for lg in logits])
    selected = torch.gather(logits, dim=-1, index=index.unsqueeze(-1)).squeeze(-1)
    return selected - logsumexp_values


def pad(seqs, value=0):
    T = max(len(s) for s in seqs)
    return torch.tensor([s + [value] * (T - len(s)) for s in seqs])


def main():
    d, data, objective, dtype_name, threads, steps, warmup = sys.argv[1:8]
    label = sys.argv[8] if len(sys.argv) > 8 else ""

    threads, steps, warmup = int(threads), int(steps), int(warmup)
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    dtype = torch.bfloat16 if dtype_name == "bfloat16" else torch.float32
    model = Model(d, dtype)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=1e-5, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0)
    rows = [json.loads(l) for l in open(data) if l.strip()]
    if objective == "sft":
        ids = pad([r["input_ids"] for r in rows])
        labels = pad([[t if m else -100 for t, m in zip(r["input_ids"], r["completion_mask"])] for r in rows], -100)
        tokens = sum(len(r["input_ids"]) for r in rows)
    else:
        seqs = [r["prompt_input_ids"] + r["chosen_input_ids"] for r in rows] + \
               [r["prompt_input_ids"] + r["rejected_input_ids"] for r in rows]
        masks = [[0] * len(r["prompt_input_ids"]) + [1] * len(r["chosen_input_ids"]) for r in rows] + \
                [[0] * len(r["prompt_input_ids"]) + [1] * len(r["rejected_input_ids"]) for r in rows]
        ids, cmask = pad(seqs), pad(masks)
        tokens = sum(len(s) for s in seqs)
        with torch.no_grad():  # reference log-probs cached once (precompute_ref_log_probs), not timed
            logits = model(ids)[:, :-1].float()
            ref = (selective_log_softmax(logits, ids[:, 1:]) * cmask[:, 1:]).sum(-1)
            del logits
    P = len(rows)

    def step():
        opt.zero_grad(set_to_none=True)
        logits = model(ids)
        if objective == "sft":
            loss = F.cross_entropy(logits[:, :-1].float().reshape(-1, logits.shape[-1]), labels[:, 1:].reshape(-1),
                                   ignore_index=-100)
        else:
            lp = (selective_log_softmax(logits[:, :-1].float(), ids[:, 1:]) * cmask[:, 1:]).sum(-1)
            logratio = (lp[:P] - ref[:P]) - (lp[P:] - ref[P:])
            loss = -F.logsigmoid(0.1 * logratio).mean()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        return float(loss)

    first = None
    times, cpu = [], []
    for i in range(warmup + steps):
        t, c = time.perf_counter(), time.process_time()
        l = step()
        if first is None:
            first = l
        if i >= warmup:
            times.append((time.perf_counter() - t) * 1000)
            cpu.append((time.process_time() - c) * 1000)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    print(json.dumps({"impl": "python", "model": label, "objective": objective, "dtype": dtype_name, "step_ms": times, "cpu_ms": cpu,
                      "tokens": tokens, "first_loss": first, "peak_rss_mb": rss}))


if __name__ == "__main__":
    main()
