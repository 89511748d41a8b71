#!/usr/bin/python3
"""Golden values for the trainer tests, computed independently of the C++ code with Debian's python3-torch.

Run once from the repository root:  /usr/bin/python3 tests/assets/train/make_golden.py
Writes, in tests/assets/train/:
  - sft-tokenized.jsonl: 6 pre-tokenised SFT rows (TRL processed form: input_ids + completion_mask, or HF
    labels with -100), random ids < 507, seed 7;
  - pairs-tokenized.jsonl: 5 pre-tokenised preference rows (prompt_input_ids, chosen_input_ids,
    rejected_input_ids), seed 8;
  - golden.json:
      losses: random float64 scores (seed 3) and every loss of training-reference.md §3/§5/§6 written from
              TRL's formulas (dpo_trainer.dpo_loss, cpo_trainer simpo, kto_trainer.kto_loss), mean loss and the
              gradient of the mean w.r.t. the policy scores;
      models: per tiny model (tests/assets/model/tiny-llama, tiny-qwen2), the SFT loss of sft-tokenized.jsonl
              (total NLL of all completion tokens / their count) and per-pair summed log-probs of
              pairs-tokenized.jsonl under the base model; for tiny-llama also under base + the
              tests/assets/model/tiny-llama-lora adapter (un-merged), with the DPO sigmoid loss (β 0.1,
              policy = base + adapter, reference = base) and the TRL reward metrics.
All forwards are float64 (tests/assets/model/make_golden.py's reader and forward; make_lora_golden.py's
un-merged LoRA forward).
"""
import json
import math
import os
import sys

import torch
import torch.nn.functional as F

sys.dont_write_bytecode = True  # no __pycache__ beside the committed model scripts
HERE = os.path.dirname(os.path.abspath(__file__))
MODEL = os.path.join(HERE, "..", "model")
sys.path.insert(0, MODEL)
import make_golden as mg  # noqa: E402
import make_lora_golden as ml  # noqa: E402


def rand_ids(g, n):
    return torch.randint(0, 507, (n,), generator=g).tolist()


def write_jsonl(path, rows):
    with open(path, "w") as fh:
        for r in rows:
            fh.write(json.dumps(r, separators=(",", ":")) + "\n")


def make_data():
    g = torch.Generator().manual_seed(7)
    sft = []
    for i in range(6):
        p = int(torch.randint(3, 12, (1,), generator=g))
        c = int(torch.randint(2, 10, (1,), generator=g))
        ids = rand_ids(g, p + c)
        if i % 2 == 0:
            sft.append({"input_ids": ids, "completion_mask": [0] * p + [1] * c})
        else:
            sft.append({"input_ids": ids, "labels": [-100] * p + ids[p:]})
    write_jsonl(os.path.join(HERE, "sft-tokenized.jsonl"), sft)
    g = torch.Generator().manual_seed(8)
    pairs = []
    for _ in range(5):
        p = int(torch.randint(3, 12, (1,), generator=g))
        pairs.append({"prompt_input_ids": rand_ids(g, p),
                      "chosen_input_ids": rand_ids(g, int(torch.randint(2, 9, (1,), generator=g))),
                      "rejected_input_ids": rand_ids(g, int(torch.randint(2, 9, (1,), generator=g)))})
    write_jsonl(os.path.join(HERE, "pairs-tokenized.jsonl"), pairs)
    return sft, pairs


def seq_logp(logits, ids, mask):
    """Σ over t >= 1 with mask[t] of log_softmax(logits[t-1])[ids[t]]; also the count."""
    lp = torch.log_softmax(logits, dim=-1)
    total, n = 0.0, 0
    for t in range(1, len(ids)):
        if mask[t]:
            total += float(lp[t - 1, ids[t]])
            n += 1
    return total, n


def sft_mask(r):
    if "completion_mask" in r:
        return r["completion_mask"]
    return [0 if l == -100 else 1 for l in r["labels"]]


def losses_section():
    g = torch.Generator().manual_seed(3)
    P = 6

    def rnd(scale, shift):
        return (torch.rand(P, generator=g, dtype=torch.float64) * scale + shift)

    inputs = {"pol_c": rnd(10, -20), "pol_r": rnd(10, -20), "ref_c": rnd(10, -20), "ref_r": rnd(10, -20),
              "avg_c": rnd(2, -3), "avg_r": rnd(2, -3),
              "kto_pol": rnd(10, -20), "kto_ref": rnd(10, -20), "kl_pol": rnd(10, -20), "kl_ref": rnd(10, -20)}
    kto_label = [1, 0, 1, 1, 0, 0]
    out = {"inputs": {k: v.tolist() for k, v in inputs.items()}}
    out["inputs"]["kto_label"] = kto_label

    dpo = []
    for loss_type, beta, eps in [("sigmoid", 0.1, 0.0), ("sigmoid", 0.3, 0.2), ("robust", 0.1, 0.15),
                                 ("hinge", 0.05, 0.0), ("ipo", 0.1, 0.0), ("ipo", 2.0, 0.0)]:
        pc = inputs["pol_c"].clone().requires_grad_(True)
        pr = inputs["pol_r"].clone()
        logits = (pc - inputs["ref_c"]) - (pr - inputs["ref_r"])
        if loss_type == "sigmoid":  # cDPO form (torchtune DPOLoss; TRL before robust split it off)
            losses = -F.logsigmoid(beta * logits) * (1 - eps) - F.logsigmoid(-beta * logits) * eps
        elif loss_type == "robust":
            losses = (-F.logsigmoid(beta * logits) * (1 - eps) + F.logsigmoid(-beta * logits) * eps) / (1 - 2 * eps)
        elif loss_type == "hinge":
            losses = torch.relu(1 - beta * logits)
        else:  # ipo: (logits - 1/(2β))²
            losses = (logits - 1 / (2 * beta)) ** 2
        loss = losses.mean()
        loss.backward()
        dpo.append({"loss_type": loss_type, "beta": beta, "label_smoothing": eps, "loss": float(loss),
                    "grad_pol_c": pc.grad.tolist()})
    out["dpo"] = dpo

    beta, gamma, eps = 2.5, 1.2, 0.1
    ac = inputs["avg_c"].clone().requires_grad_(True)
    logits = ac - inputs["avg_r"]
    logits = logits - gamma / beta  # cpo_trainer: gamma_logratio = simpo_gamma / beta
    losses = -F.logsigmoid(beta * logits) * (1 - eps) - F.logsigmoid(-beta * logits) * eps
    losses.mean().backward()
    out["simpo"] = {"beta": beta, "gamma": gamma, "label_smoothing": eps, "loss": float(losses.mean()),
                    "grad_avg_c": ac.grad.tolist()}

    beta, wd, wu = 0.2, 1.5, 0.75
    pol = inputs["kto_pol"].clone().requires_grad_(True)
    kl = (inputs["kl_pol"] - inputs["kl_ref"]).mean().clamp(min=0).detach()
    lab = torch.tensor(kto_label, dtype=torch.bool)
    ratios = pol - inputs["kto_ref"]
    chosen = 1 - torch.sigmoid(beta * (ratios - kl))
    rejected = 1 - torch.sigmoid(beta * (kl - ratios))
    losses = torch.where(lab, wd * chosen, wu * rejected)
    losses.mean().backward()
    out["kto"] = {"beta": beta, "desirable_weight": wd, "undesirable_weight": wu, "kl": float(kl),
                  "loss": float(losses.mean()), "grad_pol": pol.grad.tolist()}
    return out


def models_section(sft, pairs):
    out = {}
    for name in ["tiny-llama", "tiny-qwen2"]:
        d = os.path.join(MODEL, name)
        cfg = json.load(open(os.path.join(d, "config.json")))
        w = mg.load_safetensors(os.path.join(d, "model.safetensors"))
        total, count = 0.0, 0
        for r in sft:
            s, n = seq_logp(mg.forward(w, cfg, r["input_ids"]), r["input_ids"], sft_mask(r))
            total -= s
            count += n
        entry = {"sft_loss": total / count, "sft_tokens": count, "sft_nll_sum": total}
        fwds = {"base": lambda ids: mg.forward(w, cfg, ids)}
        if name == "tiny-llama":
            ad = mg.load_safetensors(os.path.join(MODEL, "tiny-llama-lora", "adapter_model.safetensors"))
            acfg = json.load(open(os.path.join(MODEL, "tiny-llama-lora", "adapter_config.json")))
            lora = {}
            for k, v in ad.items():
                mod = k[len("base_model.model."):].rsplit(".lora_", 1)[0]
                slot = 0 if ".lora_A." in k else 1
                lora.setdefault(mod, [None, None])[slot] = v
            scale = acfg["lora_alpha"] / acfg["r"]
            fwds["lora"] = lambda ids: ml.forward_lora(w, cfg, ids, lora, scale)
        for tag, fwd in fwds.items():
            rows = []
            for p in pairs:
                row = {}
                for side in ["chosen", "rejected"]:
                    ids = p["prompt_input_ids"] + p[side + "_input_ids"]
                    mask = [0] * len(p["prompt_input_ids"]) + [1] * len(p[side + "_input_ids"])
                    s, n = seq_logp(fwd(ids), ids, mask)
                    row[side] = s
                    row[side + "_tokens"] = n
                rows.append(row)
            entry["pairs_" + tag] = rows
        if "pairs_lora" in entry:
            beta = 0.1
            pc = torch.tensor([r["chosen"] for r in entry["pairs_lora"]], dtype=torch.float64)
            pr = torch.tensor([r["rejected"] for r in entry["pairs_lora"]], dtype=torch.float64)
            rc = torch.tensor([r["chosen"] for r in entry["pairs_base"]], dtype=torch.float64)
            rr = torch.tensor([r["rejected"] for r in entry["pairs_base"]], dtype=torch.float64)
            logits = (pc - rc) - (pr - rr)
            loss = (-F.logsigmoid(beta * logits)).mean()
            r_c, r_r = beta * (pc - rc), beta * (pr - rr)
            entry["dpo_lora_vs_base"] = {"beta": beta, "loss": float(loss),
                                         "rewards/chosen": float(r_c.mean()), "rewards/rejected": float(r_r.mean()),
                                         "rewards/accuracies": float((r_c > r_r).double().mean()),
                                         "rewards/margins": float((r_c - r_r).mean()),
                                         "logps/chosen": float(pc.mean()), "logps/rejected": float(pr.mean())}
        out[name] = entry
    return out


def main():
    sft, pairs = make_data()
    out = {"torch_version": torch.__version__, "compute": "float64", "losses": losses_section(),
           "models": models_section(sft, pairs)}
    with open(os.path.join(HERE, "golden.json"), "w") as fh:
        json.dump(out, fh, indent=1)
        fh.write("\n")


if __name__ == "__main__":
    main()
