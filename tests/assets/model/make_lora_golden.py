#!/usr/bin/python3
"""Golden values for the LoRA adapter tests, computed independently of the C++ code (Debian python3-torch).

Run once from the repository root:  /usr/bin/python3 tests/assets/model/make_lora_golden.py
Writes tests/assets/model/tiny-llama-lora/{adapter_config.json, adapter_model.safetensors} (a random PEFT
LoRA adapter over tiny-llama, r 4, alpha 8, all seven Llama linear targets, seed 1234, B non-zero) and
golden_lora.json: last-position logits with the adapter applied UN-merged (x@W.T + s·(x@A.T)@B.T), for
s = alpha/r (LoRA) and s = alpha/sqrt(r) (rsLoRA), plus the base logits — the C++ engine merges instead.
"""
import json
import math
import os
import struct
import sys

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import make_golden as mg  # noqa: E402  (the independent safetensors reader and forward)

R, ALPHA, SEED = 4, 8, 1234
TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
SEQS = [[507, 10, 200, 33, 400, 7, 256, 99, 3], [507, 5, 6], [507, 300, 301, 302, 303, 42]]


def module_path(l, t):
    return f"model.layers.{l}." + ("self_attn." if t.endswith(("q_proj", "k_proj", "v_proj", "o_proj")) else "mlp.") + t


def write_safetensors(path, tensors):
    """Like the safetensors package: sorted names, compact JSON header padded with spaces to 8 bytes."""
    header, blobs, off = {"__metadata__": {"format": "pt"}}, [], 0
    for name in sorted(tensors):
        t = tensors[name].to(torch.float32).contiguous()
        raw = t.numpy().tobytes()
        header[name] = {"dtype": "F32", "shape": list(t.shape), "data_offsets": [off, off + len(raw)]}
        blobs.append(raw)
        off += len(raw)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def forward_lora(w, cfg, ids, lora, scale):
    """mg.forward with every targeted Linear replaced by x@W.T + scale·(x@A.T)@B.T (un-merged)."""
    T = len(ids)
    C, H = cfg["hidden_size"], cfg["num_attention_heads"]
    Hkv = cfg.get("num_key_value_heads") or H
    D = cfg.get("head_dim") or C // H
    eps = cfg["rms_norm_eps"]
    inv_freq = mg.inv_freq_for(cfg).to(torch.float64)
    ang = torch.arange(T, dtype=torch.float64)[:, None] * inv_freq[None, :]
    emb = torch.cat([ang, ang], dim=-1)
    cos, sin = emb.cos(), emb.sin()
    mask = torch.full((T, T), float("-inf"), dtype=torch.float64).triu(1)

    def lin(x, l, t):
        p = module_path(l, t)
        y = x @ w[p + ".weight"].T
        if p in lora:
            A, B = lora[p]
            y = y + scale * ((x @ A.T) @ B.T)
        return y

    x = w["model.embed_tokens.weight"][torch.tensor(ids)]
    for l in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{l}."
        h = mg.rms_norm(x, w[p + "input_layernorm.weight"], eps)
        q = lin(h, l, "q_proj").view(T, H, D).transpose(0, 1)
        k = lin(h, l, "k_proj").view(T, Hkv, D).transpose(0, 1)
        v = lin(h, l, "v_proj").view(T, Hkv, D).transpose(0, 1)
        q = q * cos + mg.rotate_half(q) * sin
        k = k * cos + mg.rotate_half(k) * sin
        k = k.repeat_interleave(H // Hkv, dim=0)
        v = v.repeat_interleave(H // Hkv, dim=0)
        att = torch.softmax(q @ k.transpose(1, 2) / math.sqrt(D) + mask, dim=-1) @ v
        x = x + lin(att.transpose(0, 1).reshape(T, H * D), l, "o_proj")
        h = mg.rms_norm(x, w[p + "post_attention_layernorm.weight"], eps)
        g = torch.nn.functional.silu(lin(h, l, "gate_proj")) * lin(h, l, "up_proj")
        x = x + lin(g, l, "down_proj")
    x = mg.rms_norm(x, w["model.norm.weight"], eps)
    head = w["model.embed_tokens.weight"] if cfg.get("tie_word_embeddings") else w["lm_head.weight"]
    return x @ head.T


def main():
    d = os.path.join(HERE, "tiny-llama")
    cfg = json.load(open(os.path.join(d, "config.json")))
    w = mg.load_safetensors(os.path.join(d, "model.safetensors"))
    g = torch.Generator().manual_seed(SEED)
    lora, tensors = {}, {}
    for l in range(cfg["num_hidden_layers"]):
        for t in TARGETS:
            p = module_path(l, t)
            out_f, in_f = w[p + ".weight"].shape
            A = (torch.rand(R, in_f, generator=g, dtype=torch.float64) * 2 - 1) / math.sqrt(in_f)
            B = torch.randn(out_f, R, generator=g, dtype=torch.float64) * 0.05
            A, B = A.to(torch.float32), B.to(torch.float32)  # stored as F32; the golden uses exactly these
            lora[p] = (A.to(torch.float64), B.to(torch.float64))
            tensors["base_model.model." + p + ".lora_A.weight"] = A
            tensors["base_model.model." + p + ".lora_B.weight"] = B
    out_dir = os.path.join(HERE, "tiny-llama-lora")
    os.makedirs(out_dir, exist_ok=True)
    write_safetensors(os.path.join(out_dir, "adapter_model.safetensors"), tensors)
    config = {"base_model_name_or_path": "tests/assets/model/tiny-llama", "bias": "none", "fan_in_fan_out": False,
              "inference_mode": True, "lora_alpha": ALPHA, "lora_dropout": 0.0, "modules_to_save": None,
              "peft_type": "LORA", "r": R, "target_modules": TARGETS, "task_type": "CAUSAL_LM",
              "use_dora": False, "use_rslora": False}
    with open(os.path.join(out_dir, "adapter_config.json"), "w") as fh:
        json.dump(config, fh, indent=2)
        fh.write("\n")
    cases = []
    for ids in SEQS:
        cases.append({"ids": ids,
                      "base_last": mg.r7(mg.forward(w, cfg, ids)[-1]),
                      "lora_last": mg.r7(forward_lora(w, cfg, ids, lora, ALPHA / R)[-1]),
                      "rslora_last": mg.r7(forward_lora(w, cfg, ids, lora, ALPHA / math.sqrt(R))[-1])})
    out = {"torch_version": torch.__version__, "r": R, "lora_alpha": ALPHA, "seed": SEED, "compute": "float64",
           "scale_lora": ALPHA / R, "scale_rslora": ALPHA / math.sqrt(R), "cases": cases}
    with open(os.path.join(HERE, "golden_lora.json"), "w") as fh:
        json.dump(out, fh)
        fh.write("\n")


if __name__ == "__main__":
    main()
