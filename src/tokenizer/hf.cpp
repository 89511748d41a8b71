// HF tokenizer.json reader (see load.h). Supported: model BPE (byte-level: a ByteLevel
// pre-tokenizer or decoder) with merges as "a b" strings or ["a", "b"] pairs, vocab, added_tokens,
// ignore_merges; pre_tokenizer ByteLevel / Split(Isolated) / Digits / Sequence; normalizer null / NFC;
// post_processor TemplateProcessing / BertProcessing / RobertaProcessing / ByteLevel / Sequence; and model
// WordPiece with a BertNormalizer. Anything else is refused with an ecpo::Error naming the component.
#include <algorithm>
#include <functional>

#include <nlohmann/json.hpp>

#include "tokenizer/bpe.h"
#include "tokenizer/load.h"
#include "tokenizer/regex.h"
#include "tokenizer/wordpiece.h"
#include "util/error.h"
#include "util/jsonl.h"

namespace ecpo::tok {

namespace fs = std::filesystem;

namespace {

struct Ctx {
  std::string where;
  [[noreturn]] void fail(const std::string& what, const std::string& hint = {}) const {
    throw Error(what, where, hint);
  }
};

std::string regex_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (std::string_view("\\^$.|?*+()[]{}").find(c) != std::string_view::npos) out += '\\';
    out += c;
  }
  return out;
}

// Walks a pre_tokenizer tree; returns true when a ByteLevel step is present.
bool read_pre_tokenizer(const json& p, BpeSpec& spec, const Ctx& ctx) {
  if (p.is_null()) return false;
  std::string type = p.value("type", "");
  if (type == "Sequence") {
    bool byte_level = false;
    for (const auto& sub : p.at("pretokenizers")) byte_level |= read_pre_tokenizer(sub, spec, ctx);
    return byte_level;
  }
  if (type == "ByteLevel") {
    if (p.value("use_regex", true)) spec.patterns.push_back(kGpt2Pattern);
    spec.add_prefix_space = p.value("add_prefix_space", false);
    return true;
  }
  if (type == "Split") {
    std::string behavior = p.value("behavior", "Isolated");
    if (behavior != "Isolated" || p.value("invert", false))
      ctx.fail("unsupported Split pre-tokenizer behaviour '" + behavior + "'", "only Isolated, invert false is supported");
    const json& pat = p.at("pattern");
    if (pat.contains("Regex")) spec.patterns.push_back(pat["Regex"].get<std::string>());
    else if (pat.contains("String")) spec.patterns.push_back(regex_escape(pat["String"].get<std::string>()));
    else ctx.fail("Split pre-tokenizer without a Regex or String pattern");
    return false;
  }
  if (type == "Digits") {
    spec.patterns.push_back(p.value("individual_digits", false) ? R"(\p{N})" : R"(\p{N}+)");
    return false;
  }
  ctx.fail("unsupported pre_tokenizer type '" + type + "'", "supported: ByteLevel, Split, Digits, Sequence");
}

void read_normalizer(const json& n, BpeSpec& spec, const Ctx& ctx) {
  if (n.is_null()) return;
  std::string type = n.value("type", "");
  if (type == "NFC") spec.nfc = true;
  else if (type == "Sequence")
    for (const auto& sub : n.at("normalizers")) read_normalizer(sub, spec, ctx);
  else
    ctx.fail("unsupported normalizer type '" + type + "' for a BPE tokenizer", "supported: null, NFC");
}


void read_post_processor(const json& p, const std::function<std::optional<TokenId>(const std::string&)>& id_of,
                         std::vector<TokenId>& prefix, std::vector<TokenId>& suffix, const Ctx& ctx) {
  if (p.is_null()) return;
  std::string type = p.value("type", "");
  if (type == "Sequence") {
    for (const auto& sub : p.at("processors")) read_post_processor(sub, id_of, prefix, suffix, ctx);
    return;
  }
  if (type == "ByteLevel") return;
  if (type == "BertProcessing" || type == "RobertaProcessing") {
    prefix = {p.at("cls").at(1).get<TokenId>()};
    suffix = {p.at("sep").at(1).get<TokenId>()};
    return;
  }
  if (type == "TemplateProcessing") {
    bool after = false;
    prefix.clear();
    suffix.clear();
    for (const auto& item : p.at("single")) {
      if (item.contains("Sequence")) {
        after = true;
        continue;
      }
      if (!item.contains("SpecialToken")) continue;
      std::string name = item["SpecialToken"].at("id").get<std::string>();
      std::vector<TokenId> ids;
      const json& st = p.value("special_tokens", json::object());
      if (st.contains(name)) {
        for (const auto& v : st[name].at("ids")) ids.push_back(v.get<TokenId>());
      } else if (auto id = id_of(name)) {
        ids.push_back(*id);
      } else {
        ctx.fail("post_processor names unknown special token '" + name + "'");
      }
      (after ? suffix : prefix).insert((after ? suffix : prefix).end(), ids.begin(), ids.end());
    }
    return;
  }
  ctx.fail("unsupported post_processor type '" + type + "'",
           "supported: TemplateProcessing, BertProcessing, RobertaProcessing, ByteLevel, Sequence");
}

// tokenizer_config.json "bos_token": "<s>" or {"content": "<s>", ...}.
std::optional<std::string> config_token(const json& cfg, const char* key) {
  if (!cfg.contains(key)) return std::nullopt;
  const json& v = cfg[key];
  if (v.is_string()) return v.get<std::string>();
  if (v.is_object() && v.contains("content") && v["content"].is_string()) return v["content"].get<std::string>();
  return std::nullopt;
}

std::unique_ptr<Tokenizer> load_wordpiece_json(const json& j, const Ctx& ctx) {
  const json& model = j.at("model");
  WordPieceSpec spec;
  std::size_t n = 0;
  for (const auto& [tok, id] : model.at("vocab").items()) n = std::max(n, id.get<std::size_t>() + 1);
  spec.vocab.assign(n, "");
  for (const auto& [tok, id] : model.at("vocab").items()) spec.vocab[id.get<std::size_t>()] = tok;
  spec.unk_token = model.value("unk_token", "[UNK]");
  spec.continuing_prefix = model.value("continuing_subword_prefix", "##");
  spec.max_input_chars_per_word = model.value("max_input_chars_per_word", std::size_t{100});
  const json& norm = j.value("normalizer", json());
  if (!norm.is_null()) {
    if (norm.value("type", "") != "BertNormalizer")
      ctx.fail("unsupported normalizer '" + norm.value("type", "") + "' for WordPiece", "expected BertNormalizer");
    spec.clean_text = norm.value("clean_text", true);
    spec.tokenize_chinese_chars = norm.value("handle_chinese_chars", true);
    spec.lower_case = norm.value("lowercase", true);
    spec.strip_accents = norm.contains("strip_accents") && norm["strip_accents"].is_boolean()
                             ? norm["strip_accents"].get<bool>()
                             : spec.lower_case;
  }
  try {
    return std::make_unique<WordPieceTokenizer>(std::move(spec));
  } catch (const Error& e) {
    ctx.fail(e.message(), e.hint());
  }
}

}  // namespace

std::unique_ptr<Tokenizer> load_hf_tokenizer_json(const fs::path& file) {
  json j = read_json_file(file);
  Ctx ctx{error_location(file.string())};
  try {
    if (!j.is_object() || !j.contains("model")) ctx.fail("not a tokenizer.json (no 'model' object)");
    const json& model = j["model"];
    std::string type = model.value("type", "BPE");
    if (type == "WordPiece") return load_wordpiece_json(j, ctx);
    if (type != "BPE") ctx.fail("unsupported tokenizer model type '" + type + "'", "supported: BPE, WordPiece");

    BpeSpec spec;
    spec.kind = "bpe-hf";
    spec.ignore_merges = model.value("ignore_merges", false);
    const json& vocab = model.at("vocab");
    std::size_t n = 0;
    for (const auto& [tok, id] : vocab.items()) n = std::max(n, id.get<std::size_t>() + 1);
    const json added = j.value("added_tokens", json::array());
    for (const auto& a : added) n = std::max(n, a.at("id").get<std::size_t>() + 1);
    spec.id_bytes.assign(n, "");
    spec.id_token.assign(n, "");
    spec.id_special.assign(n, 0);
    spec.id_present.assign(n, 0);

    bool byte_level = read_pre_tokenizer(j.value("pre_tokenizer", json()), spec, ctx);
    const json& decoder = j.value("decoder", json());
    if (!decoder.is_null() && decoder.value("type", "") == "ByteLevel") byte_level = true;
    if (!byte_level)
      ctx.fail("only byte-level BPE tokenizer.json files are supported (no ByteLevel pre-tokenizer or decoder)",
               "SentencePiece-style BPE (Llama 2) is not supported");
    read_normalizer(j.value("normalizer", json()), spec, ctx);

    StringIdMap vocab_ids;
    for (const auto& [tok, idj] : vocab.items()) {
      auto id = idj.get<std::size_t>();
      auto bytes = gpt2_unicode_to_bytes(tok);
      spec.id_bytes[id] = bytes ? *bytes : tok;  // tokens outside the byte alphabet decode as written
      spec.id_token[id] = tok;
      spec.id_present[id] = 1;
      vocab_ids.emplace(tok, static_cast<TokenId>(id));
    }
    for (const auto& a : added) {
      auto id = a.at("id").get<TokenId>();
      std::string content = a.at("content").get<std::string>();
      bool special = a.value("special", false);
      spec.id_bytes[id] = content;
      spec.id_token[id] = content;
      spec.id_special[id] = special ? 1 : 0;
      spec.id_present[id] = 1;
      spec.added.push_back({content, id, special});
    }
    const json& merges = model.value("merges", json::array());
    std::size_t k = 0;
    for (const auto& m : merges) {
      std::string a, b;
      if (m.is_string()) {
        std::string s = m.get<std::string>();
        auto sp = s.find(' ');
        if (sp == std::string::npos) ctx.fail("merge #" + std::to_string(k) + " '" + s + "' has no space");
        a = s.substr(0, sp);
        b = s.substr(sp + 1);
      } else if (m.is_array() && m.size() == 2) {
        a = m[0].get<std::string>();
        b = m[1].get<std::string>();
      } else {
        ctx.fail("merge #" + std::to_string(k) + " is neither \"a b\" nor [\"a\", \"b\"]");
      }
      auto ia = vocab_ids.find(a), ib = vocab_ids.find(b);
      if (ia == vocab_ids.end() || ib == vocab_ids.end())
        ctx.fail("merge #" + std::to_string(k) + " uses a token not in the vocabulary ('" + a + "' '" + b + "')");
      spec.merges.emplace_back(ia->second, ib->second);
      ++k;
    }
    if (model.contains("unk_token") && model["unk_token"].is_string()) {
      auto it = vocab_ids.find(model["unk_token"].get<std::string>());
      if (it != vocab_ids.end()) spec.unk = it->second;
    }

    auto id_of = [&](const std::string& name) -> std::optional<TokenId> {
      for (const auto& a : spec.added)
        if (a.content == name) return a.id;
      auto it = vocab_ids.find(name);
      if (it != vocab_ids.end()) return it->second;
      return std::nullopt;
    };
    read_post_processor(j.value("post_processor", json()), id_of, spec.prefix_ids, spec.suffix_ids, ctx);

    // Special ids: tokenizer_config.json beside the file first, then well-known names.
    json cfg = json::object();
    fs::path cfg_path = file.parent_path() / "tokenizer_config.json";
    if (fs::exists(cfg_path)) cfg = read_json_file(cfg_path);
    auto pick = [&](const char* key, std::initializer_list<const char*> names) -> std::optional<TokenId> {
      if (auto t = config_token(cfg, key))
        if (auto id = id_of(*t)) return id;
      for (const char* nm : names)
        if (auto id = id_of(nm)) return id;
      return std::nullopt;
    };
    spec.special.bos = pick("bos_token", {"<|begin_of_text|>", "<s>", "<|startoftext|>"});
    spec.special.eos = pick("eos_token", {"<|end_of_text|>", "<|endoftext|>", "</s>"});
    spec.special.pad = pick("pad_token", {"<|finetune_right_pad_id|>", "<pad>"});
    spec.special.eot = id_of("<|eot_id|>");
    if (!spec.special.eot) spec.special.eot = id_of("<|im_end|>");
    // Stop ids: the configured EOS (Llama 3.1 Instruct says <|eot_id|>), the base model's end-of-text,
    // end of message and end of turn.
    for (auto id : {spec.special.eos, id_of("<|end_of_text|>"), id_of("<|endoftext|>"), id_of("<|eom_id|>"),
                    spec.special.eot})
      if (id && std::find(spec.special.stop.begin(), spec.special.stop.end(), *id) == spec.special.stop.end())
        spec.special.stop.push_back(*id);
    return std::make_unique<BpeTokenizer>(std::move(spec));
  } catch (const json::exception& e) {
    ctx.fail(std::string("malformed tokenizer.json: ") + e.what());
  }
}

}  // namespace ecpo::tok
