#!/usr/bin/python3
# Writes the fuzz seeds that tests/assets has no file for: a tiny tiktoken rank file, a tiny GGUF vocabulary,
# a tiny safetensors file, and small hand-written JSON/YAML/JSONL inputs. Run once from fuzz/seeds; the
# outputs are committed (scripts/fuzz.sh adds the tests/assets files itself).
import base64, json, os, struct

def write(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())

# tiktoken: all 256 single bytes, then a few merged tokens, "base64 rank" per line.
toks = [bytes([b]) for b in range(256)] + [b"he", b"ll", b"hell", b"hello", b" w", b"or", b" wor", b"ld"]
write("tiktoken/ranks.tiktoken", "".join(f"{base64.b64encode(t).decode()} {i}\n" for i, t in enumerate(toks)))

# GGUF v3, vocab only: tokenizer.ggml.model "gpt2", tokens (GPT-2 byte→unicode form), merges, bos/eos.
def gpt2_map():
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAD)) + list(range(0xAE, 0x100))
    cs, n = bs[:], 0
    for b in range(256):
        if b not in bs:
            bs.append(b); cs.append(256 + n); n += 1
    return {b: chr(c) for b, c in zip(bs, cs)}
m = gpt2_map()
vocab = [m[b] for b in range(256)] + [m[ord("h")] + m[ord("e")], m[ord("l")] + m[ord("l")], m[ord(" ")] + m[ord("w")]]
merges = [m[ord("h")] + " " + m[ord("e")], m[ord("l")] + " " + m[ord("l")], m[ord(" ")] + " " + m[ord("w")]]
def gstr(s):
    b = s.encode(); return struct.pack("<Q", len(b)) + b
def kv_str(k, v): return gstr(k) + struct.pack("<I", 8) + gstr(v)
def kv_strs(k, vs): return gstr(k) + struct.pack("<IIQ", 9, 8, len(vs)) + b"".join(gstr(v) for v in vs)
def kv_u32(k, v): return gstr(k) + struct.pack("<II", 4, v)
def kv_i32s(k, vs): return gstr(k) + struct.pack("<IIQ", 9, 5, len(vs)) + b"".join(struct.pack("<i", v) for v in vs)
kvs = [kv_str("tokenizer.ggml.model", "gpt2"), kv_str("tokenizer.ggml.pre", "gpt-2"), kv_strs("tokenizer.ggml.tokens", vocab),
       kv_i32s("tokenizer.ggml.token_type", [1] * len(vocab)), kv_strs("tokenizer.ggml.merges", merges),
       kv_u32("tokenizer.ggml.bos_token_id", 0), kv_u32("tokenizer.ggml.eos_token_id", 1), kv_u32("general.alignment", 32)]
write("gguf-vocab/tiny.gguf", b"GGUF" + struct.pack("<IQQ", 3, 0, len(kvs)) + b"".join(kvs))

# safetensors: two small tensors, header padded to 8 bytes, data contiguous.
hdr = {"__metadata__": {"format": "pt"}, "a": {"dtype": "F32", "shape": [2, 2], "data_offsets": [0, 16]},
       "b": {"dtype": "BF16", "shape": [3], "data_offsets": [16, 22]}}
h = json.dumps(hdr, separators=(",", ":")).encode(); h += b" " * ((8 - len(h) % 8) % 8)
write("safetensors-header/tiny.safetensors", struct.pack("<Q", len(h)) + h + bytes(range(22)))

write("tokenizer-json/wordpiece.json", json.dumps({
    "model": {"type": "WordPiece", "unk_token": "[UNK]", "continuing_subword_prefix": "##",
              "vocab": {"[PAD]": 0, "[UNK]": 1, "[CLS]": 2, "[SEP]": 3, "hello": 4, "world": 5, "##ing": 6, "un": 7}},
    "normalizer": {"type": "BertNormalizer", "lowercase": True, "strip_accents": None},
    "post_processor": {"type": "BertProcessing", "cls": ["[CLS]", 2], "sep": ["[SEP]", 3]}}))
write("records/records.jsonl", "\n".join(json.dumps(x) for x in [
    {"item_id": "B01", "title": "The Hobbit", "categories": ["Books", "Fantasy"], "description": "A tale.",
     "price": 9.99, "attributes": {"store": "x"}, "domain": "book"},
    {"user_id": "U1", "reviews": [{"item_id": "B01", "rating": 5, "title": "Great", "text": "Loved it",
                                    "timestamp": 1600000000000}]},
    {"task_id": "U1:B01", "user_id": "U1", "target_item_id": "B01", "split": "test", "target_rating": 5}]) + "\n")
write("roles-yaml/small.yaml", """defaults: {timeout_ms: 30000, retry: {max_attempts: 3, base_ms: 200}}
endpoints:
  local: {base_urls: ['http://127.0.0.1:8000/v1', 'http://127.0.0.1:8001/v1'], max_concurrency: 8}
roles:
  agent: {endpoint: local, model: m, params: {temperature: 0.7, top_p: 0.9, max_tokens: 256, stop: ['\\n\\n'], seed: 3}}
  rater: {model: gpt-4o-mini, base_url: 'https://api.openai.com/v1', api_key_env: OPENAI_API_KEY, structured: json_schema}
  student: {backend: local, model: models/tiny, threads: 2}
cache: {enabled: true, mode: deterministic}
prices: {gpt-4o-mini: {input: 0.15, output: 0.6}}
""")
write("openai-reply/reply.json", json.dumps({"id": "c", "object": "chat.completion", "created": 1, "model": "m",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hi there"}, "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7}}))
write("openai-reply/null-content.json", '{"choices":[{"message":{"content":null},"finish_reason":"length"}],"usage":{}}')
write("serve-request/plain.json", json.dumps({"model": "m", "messages": [{"role": "system", "content": "s"},
    {"role": "user", "content": [{"type": "text", "text": "hi"}]}], "temperature": 0.2, "top_p": 0.9,
    "max_tokens": 16, "stop": ["\n", "END"], "seed": 7, "n": 1}))
write("serve-request/stream-schema.json", json.dumps({"messages": [{"role": "developer", "content": "x"},
    {"role": "user", "content": "rate"}], "stream": True, "stream_options": {"include_usage": True},
    "response_format": {"type": "json_schema", "json_schema": {"name": "r", "schema": {"type": "object"}}},
    "max_completion_tokens": 8}))
write("structured-output/fenced.txt", 'Sure!\n```json\n{"reason": "clear", "rating": 4, "tags": ["a"], "note": null}\n```\n')
write("structured-output/schema.txt", json.dumps({"type": "object", "properties": {"x": {"type": ["string", "null"],
    "maxLength": 3}, "y": {"items": {"const": 1}, "minItems": 1}}, "required": ["x"], "additionalProperties": False}))
