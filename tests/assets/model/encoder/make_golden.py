#!/usr/bin/python3
# Writes a tiny randomly initialised BERT in the sentence-transformers/all-MiniLM-L6-v2 layout (HF BertModel
# weight names, config.json, vocab.txt, sentence_bert_config.json) into tiny-bert/, and golden sentence
# embeddings computed by an independent reference forward written here with plain torch ops (no
# transformers): WordPiece (uncased, accents stripped) → [CLS] ids [SEP] → BERT (post-LN, erf GELU) → mean
# pooling over non-pad tokens → L2 normalisation. Run once with Debian's torch:
#   /usr/bin/python3 tests/assets/model/encoder/make_golden.py
# Outputs: tiny-bert/{config.json, model.safetensors, vocab.txt, sentence_bert_config.json}, golden.json.
import json
import math
import os
import struct
import unicodedata

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "tiny-bert")

# ---- tiny vocabulary (id = line number) --------------------------------------------------------------
SPECIAL = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
PUNCT = [".", ",", "!", "?", "'", "-"]
WORDS = ("the a an i you it is was are this that and or but with to of for in on my your "
         "cat dog sat mat good great bad book books movie movies game games story novel read like love "
         "play run jump fun mystery science fiction fantasy recommend something similar new old dark "
         "cafe long short very really want find me please").split()
PIECES = ["##s", "##ing", "##ed", "##er", "##ly", "##y"]
VOCAB = SPECIAL + PUNCT + WORDS + PIECES
IDS = {t: i for i, t in enumerate(VOCAB)}

# ---- model size ------------------------------------------------------------------------------------------
CONFIG = {
    "architectures": ["BertModel"],
    "model_type": "bert",
    "hidden_act": "gelu",
    "hidden_size": 32,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "intermediate_size": 64,
    "max_position_embeddings": 64,
    "type_vocab_size": 2,
    "vocab_size": len(VOCAB),
    "layer_norm_eps": 1e-12,
    "pad_token_id": 0,
    "position_embedding_type": "absolute",
}
MAX_SEQ_LENGTH = 16  # sentence_bert_config.json: longer inputs are cut to 16 tokens including [CLS]/[SEP]

SENTENCES = [
    "The cat sat on the mat.",
    "I really like dark mystery novels, please recommend something similar!",
    "Playing games is fun",
    "Café books",
    "xyzzy jumped?",
    # 20+ tokens: truncated to MAX_SEQ_LENGTH
    "I want a new science fiction book, a fantasy novel, a mystery story and a very long old movie to read and play",
    "",
]


# ---- reference WordPiece (BERT BasicTokenizer uncased + greedy longest-match-first) ------------------------
def basic_tokenize(text):
    text = unicodedata.normalize("NFD", text.lower())
    text = "".join(c for c in text if unicodedata.category(c) != "Mn")
    words, cur = [], ""
    for c in text:
        if c.isspace():
            if cur:
                words.append(cur)
            cur = ""
        elif unicodedata.category(c).startswith("P") or c in "$+<=>^`|~":
            if cur:
                words.append(cur)
            cur = ""
            words.append(c)
        else:
            cur += c
    if cur:
        words.append(cur)
    return words


def wordpiece(word):
    out, start = [], 0
    while start < len(word):
        end, piece = len(word), None
        while start < end:
            sub = word[start:end] if start == 0 else "##" + word[start:end]
            if sub in IDS:
                piece = sub
                break
            end -= 1
        if piece is None:
            return ["[UNK]"]
        out.append(piece)
        start = end
    return out


def tokenize(text):
    toks = []
    for w in basic_tokenize(text):
        toks.extend(wordpiece(w))
    ids = [IDS[t] for t in toks][: MAX_SEQ_LENGTH - 2]
    return [IDS["[CLS]"]] + ids + [IDS["[SEP]"]]


# ---- weights ---------------------------------------------------------------------------------------------
def make_weights(seed=1234):
    g = torch.Generator().manual_seed(seed)
    H, I, V, P, Tv = (CONFIG[k] for k in ("hidden_size", "intermediate_size", "vocab_size",
                                          "max_position_embeddings", "type_vocab_size"))

    def rnd(*shape, std=0.2):
        return (torch.randn(*shape, generator=g) * std).float()

    def ln(name, w):
        w[name + ".weight"] = 1.0 + rnd(H, std=0.1)
        w[name + ".bias"] = rnd(H, std=0.1)

    w = {}
    w["embeddings.word_embeddings.weight"] = rnd(V, H, std=1.0)
    w["embeddings.position_embeddings.weight"] = rnd(P, H, std=0.5)
    w["embeddings.token_type_embeddings.weight"] = rnd(Tv, H, std=0.5)
    ln("embeddings.LayerNorm", w)
    for l in range(CONFIG["num_hidden_layers"]):
        p = f"encoder.layer.{l}."
        for n in ("query", "key", "value"):
            w[p + f"attention.self.{n}.weight"] = rnd(H, H)
            w[p + f"attention.self.{n}.bias"] = rnd(H, std=0.1)
        w[p + "attention.output.dense.weight"] = rnd(H, H)
        w[p + "attention.output.dense.bias"] = rnd(H, std=0.1)
        ln(p + "attention.output.LayerNorm", w)
        w[p + "intermediate.dense.weight"] = rnd(I, H)
        w[p + "intermediate.dense.bias"] = rnd(I, std=0.1)
        w[p + "output.dense.weight"] = rnd(H, I)
        w[p + "output.dense.bias"] = rnd(H, std=0.1)
        ln(p + "output.LayerNorm", w)
    # Present in real MiniLM checkpoints, unused by mean pooling: the loader must ignore it.
    w["pooler.dense.weight"] = rnd(H, H)
    w["pooler.dense.bias"] = rnd(H, std=0.1)
    return w


def write_safetensors(path, tensors):
    header, offset, blobs = {"__metadata__": {"format": "pt"}}, 0, []
    for name in sorted(tensors):
        t = tensors[name].contiguous()
        data = t.numpy().astype("<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(t.shape), "data_offsets": [offset, offset + len(data)]}
        offset += len(data)
        blobs.append(data)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


# ---- reference forward -----------------------------------------------------------------------------------
def layer_norm(x, w, b, eps):
    mu = x.mean(-1, keepdim=True)
    var = ((x - mu) ** 2).mean(-1, keepdim=True)
    return (x - mu) / torch.sqrt(var + eps) * w + b


def gelu(x):
    return 0.5 * x * (1.0 + torch.erf(x / math.sqrt(2.0)))


def forward(w, ids_batch):
    H, nH, eps = CONFIG["hidden_size"], CONFIG["num_attention_heads"], CONFIG["layer_norm_eps"]
    D = H // nH
    B, T = len(ids_batch), max(len(x) for x in ids_batch)
    ids = torch.zeros(B, T, dtype=torch.long)
    mask = torch.zeros(B, T)
    for i, x in enumerate(ids_batch):
        ids[i, : len(x)] = torch.tensor(x)
        mask[i, : len(x)] = 1.0
    pos = torch.arange(T)
    h = (w["embeddings.word_embeddings.weight"][ids] + w["embeddings.position_embeddings.weight"][pos][None]
         + w["embeddings.token_type_embeddings.weight"][0][None, None])
    h = layer_norm(h, w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"], eps)
    add_mask = (1.0 - mask)[:, None, None, :] * -1e30
    for l in range(CONFIG["num_hidden_layers"]):
        p = f"encoder.layer.{l}."

        def lin(x, n):
            return x @ w[p + n + ".weight"].T + w[p + n + ".bias"]

        def heads(x):
            return x.view(B, T, nH, D).transpose(1, 2)

        q, k, v = (heads(lin(h, f"attention.self.{n}")) for n in ("query", "key", "value"))
        att = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(D) + add_mask, dim=-1)
        ctx = (att @ v).transpose(1, 2).reshape(B, T, H)
        h = layer_norm(lin(ctx, "attention.output.dense") + h, w[p + "attention.output.LayerNorm.weight"],
                       w[p + "attention.output.LayerNorm.bias"], eps)
        ff = lin(gelu(lin(h, "intermediate.dense")), "output.dense")
        h = layer_norm(ff + h, w[p + "output.LayerNorm.weight"], w[p + "output.LayerNorm.bias"], eps)
    summed = (h * mask[:, :, None]).sum(1)
    pooled = summed / mask.sum(1, keepdim=True).clamp(min=1e-9)
    return pooled / pooled.norm(dim=1, keepdim=True).clamp(min=1e-12)


def main():
    os.makedirs(OUT, exist_ok=True)
    w = make_weights()
    write_safetensors(os.path.join(OUT, "model.safetensors"), w)
    with open(os.path.join(OUT, "config.json"), "w") as f:
        json.dump(CONFIG, f, indent=2)
    with open(os.path.join(OUT, "vocab.txt"), "w") as f:
        f.write("\n".join(VOCAB) + "\n")
    with open(os.path.join(OUT, "sentence_bert_config.json"), "w") as f:
        json.dump({"max_seq_length": MAX_SEQ_LENGTH, "do_lower_case": False}, f, indent=2)
    with open(os.path.join(OUT, "tokenizer_config.json"), "w") as f:
        json.dump({"do_lower_case": True, "strip_accents": None, "tokenizer_class": "BertTokenizer"}, f, indent=2)

    ids = [tokenize(s) for s in SENTENCES]
    with torch.no_grad():
        single = [forward(w, [x])[0] for x in ids]
        batched = forward(w, ids)
    # Self-check of the reference: padding must not change a sentence's vector.
    for a, b in zip(single, batched):
        assert (a - b).abs().max().item() < 1e-5, (a - b).abs().max().item()
    golden = {
        "source": "tests/assets/model/encoder/make_golden.py (torch " + torch.__version__ + ", seed 1234)",
        "dim": CONFIG["hidden_size"],
        "max_seq_length": MAX_SEQ_LENGTH,
        "cases": [{"text": s, "ids": x, "embedding": [round(float(v), 8) for v in e]}
                  for s, x, e in zip(SENTENCES, ids, single)],
    }
    with open(os.path.join(HERE, "golden.json"), "w") as f:
        json.dump(golden, f, indent=1, ensure_ascii=False)
    print("wrote", OUT, "and golden.json;", len(SENTENCES), "sentences")


if __name__ == "__main__":
    main()
