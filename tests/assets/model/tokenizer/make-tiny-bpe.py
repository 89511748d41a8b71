#!/usr/bin/python3
# Writes the two hand-designed byte-level BPE fixtures tiny-bpe.json and tiny-bpe-array.json (run once;
# outputs committed). Vocabulary: ids 0..255 are the single bytes in byte order (GPT-2 byte->unicode
# form), then the merge results below, then one token ("Ġhi", 263) that no merge produces, then added
# tokens. Expected ids in tests/model/tokenizer-hf-test.cpp are worked out by hand from this list.
import json


def bytes_to_unicode():
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {b: chr(c) for b, c in zip(bs, cs)}


b2u = bytes_to_unicode()
vocab = {b2u[b]: b for b in range(256)}
merges = [("Ġ", "t"), ("e", "r"), ("h", "e"), ("Ġt", "he"), ("l", "l"), ("he", "ll"), ("hell", "o")]
for a, b in merges:
    vocab[a + b] = len(vocab)          # 256 Ġt, 257 er, 258 he, 259 Ġthe, 260 ll, 261 hell, 262 hello
vocab["Ġhi"] = len(vocab)              # 263: only reachable through ignore_merges
added = [
    {"id": 264, "content": "<|eot|>", "single_word": False, "lstrip": False, "rstrip": False,
     "normalized": False, "special": True},
    {"id": 265, "content": "<sep>", "single_word": False, "lstrip": False, "rstrip": False,
     "normalized": False, "special": False},
    {"id": 266, "content": "<s>", "single_word": False, "lstrip": False, "rstrip": False,
     "normalized": False, "special": True},
]
post = {"type": "TemplateProcessing",
        "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
        "pair": [],
        "special_tokens": {"<s>": {"id": "<s>", "ids": [266], "tokens": ["<s>"]}}}

strings = {
    "version": "1.0", "truncation": None, "padding": None, "added_tokens": added, "normalizer": None,
    "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True},
    "post_processor": post,
    "decoder": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True},
    "model": {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": None,
              "end_of_word_suffix": None, "fuse_unk": False, "byte_fallback": False, "ignore_merges": True,
              "vocab": vocab, "merges": [a + " " + b for a, b in merges]},
}
llama3_pat = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
arrays = json.loads(json.dumps(strings))
arrays["pre_tokenizer"] = {"type": "Sequence", "pretokenizers": [
    {"type": "Split", "pattern": {"Regex": llama3_pat}, "behavior": "Isolated", "invert": False},
    {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": False}]}
arrays["model"]["ignore_merges"] = False
arrays["model"]["merges"] = [[a, b] for a, b in merges]

with open("tiny-bpe.json", "w", encoding="utf-8") as f:
    json.dump(strings, f, ensure_ascii=False, indent=1)
with open("tiny-bpe-array.json", "w", encoding="utf-8") as f:
    json.dump(arrays, f, ensure_ascii=False, indent=1)
