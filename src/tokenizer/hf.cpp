// HF tokenizer.json reader (see load.h). Supported: model BPE (byte-level: a ByteLevel
// pre-tokenizer or decoder) with merges as "a b" strings or ["a", "b"] pairs, vocab, added_tokens,
// ignore_merges; pre_tokenizer ByteLevel / Split(Isolated) / Digits / Sequence; normalizer null / NFC;
// post_processor TemplateProcessing / BertProcessing / RobertaProcessing / ByteLevel / Sequence; and model
// WordPiece with a BertNormalizer. Anything else is refused with an ecpo::Error naming the component.
// Every id, count and type is checked before use; errors name the file, the key path and a hint.
#include <algorithm>
#include <functional>

#include <nlohmann/json.hpp>

#include "tokenizer/bpe.h"
#include "tokenizer/load.h"
#include "tokenizer/regex.h"
#include "tokenizer/wordpiece.h"
#include "util/error.h"
#include "util/fs.h"
#include "util/json-read.h"
#include "util/jsonl.h"

namespace ecpo::tok {

namespace fs = std::filesystem;

namespace {

// Ids may leave holes (a vocabulary's table is sized by its largest id), but not absurd ones: at most
// this many more than there are entries, and never beyond kMaxId.
constexpr std::int64_t kMaxHoles = 1 << 16;
constexpr std::int64_t kMaxId = (1 << 24) - 1;

std::string regex_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (std::string_view("\\^$.|?*+()[]{}").find(c) != std::string_view::npos) out += '\\';
    out += c;
  }
  return out;
}

// Walks a pre_tokenizer tree; returns true when a ByteLevel step is present.
bool read_pre_tokenizer(const JsonAt& p, BpeSpec& spec, int depth = 0) {
  if (p.is_null()) return false;
  if (depth > 16) p.fail("pre_tokenizer Sequences nested too deeply");
  std::string type = p.str_or("type", "");
  if (type == "Sequence") {
    bool byte_level = false;
    p.get("pretokenizers").each([&](const JsonAt& sub) { byte_level |= read_pre_tokenizer(sub, spec, depth + 1); });
    return byte_level;
  }
  if (type == "ByteLevel") {
    if (p.bool_or("use_regex", true)) spec.patterns.push_back(kGpt2Pattern);
    spec.add_prefix_space = p.bool_or("add_prefix_space", false);
    return true;
  }
  if (type == "Split") {
    std::string behavior = p.str_or("behavior", "Isolated");
    if (behavior != "Isolated" || p.bool_or("invert", false))
      p.fail("unsupported Split pre-tokenizer behaviour '" + behavior + "'", "only Isolated, invert false is supported");
    JsonAt pat = p.get("pattern");
    if (auto r = pat.find("Regex")) spec.patterns.push_back(r->str());
    else if (auto st = pat.find("String")) spec.patterns.push_back(regex_escape(st->str()));
    else pat.fail("Split pre-tokenizer without a Regex or String pattern");
    return false;
  }
  if (type == "Digits") {
    spec.patterns.push_back(p.bool_or("individual_digits", false) ? R"(\p{N})" : R"(\p{N}+)");
    return false;
  }
  p.fail("unsupported pre_tokenizer type '" + type + "'", "supported: ByteLevel, Split, Digits, Sequence");
}

void read_normalizer(const JsonAt& n, BpeSpec& spec, int depth = 0) {
  if (n.is_null()) return;
  if (depth > 16) n.fail("normalizer Sequences nested too deeply");
  std::string type = n.str_or("type", "");
  if (type == "NFC") spec.nfc = true;
  else if (type == "Sequence")
    n.get("normalizers").each([&](const JsonAt& sub) { read_normalizer(sub, spec, depth + 1); });
  else
    n.fail("unsupported normalizer type '" + type + "' for a BPE tokenizer", "supported: null, NFC");
}

using IdOf = std::function<std::optional<TokenId>(const std::string&)>;

// An id written in the post_processor: it must name a token of the vocabulary.
TokenId known_id(const JsonAt& v, const BpeSpec& spec) {
  auto id = v.integer(0, kMaxId);
  if (static_cast<std::size_t>(id) >= spec.id_present.size() || !spec.id_present[id])
    v.fail("token id " + std::to_string(id) + " is not in the vocabulary");
  return static_cast<TokenId>(id);
}

void read_post_processor(const JsonAt& p, const IdOf& id_of, const BpeSpec& spec, std::vector<TokenId>& prefix,
                         std::vector<TokenId>& suffix, int depth = 0) {
  if (p.is_null()) return;
  if (depth > 16) p.fail("post_processor Sequences nested too deeply");
  std::string type = p.str_or("type", "");
  if (type == "Sequence") {
    p.get("processors").each([&](const JsonAt& sub) { read_post_processor(sub, id_of, spec, prefix, suffix, depth + 1); });
    return;
  }
  if (type == "ByteLevel") return;
  if (type == "BertProcessing" || type == "RobertaProcessing") {
    prefix = {known_id(p.get("cls").at(1), spec)};
    suffix = {known_id(p.get("sep").at(1), spec)};
    return;
  }
  if (type == "TemplateProcessing") {
    bool after = false;
    prefix.clear();
    suffix.clear();
    std::optional<JsonAt> special_tokens = p.find("special_tokens");
    if (special_tokens) special_tokens->require_object();
    p.get("single").each([&](const JsonAt& item) {
      item.require_object();
      if (item.has("Sequence")) {
        after = true;
        return;
      }
      auto st_item = item.find("SpecialToken");
      if (!st_item) return;
      std::string name = st_item->get("id").str();
      std::vector<TokenId> ids;
      if (special_tokens && special_tokens->has(name)) {
        special_tokens->get(name).get("ids").each([&](const JsonAt& v) { ids.push_back(known_id(v, spec)); });
      } else if (auto id = id_of(name)) {
        ids.push_back(*id);
      } else {
        st_item->fail("post_processor names unknown special token '" + name + "'");
      }
      auto& side = after ? suffix : prefix;
      side.insert(side.end(), ids.begin(), ids.end());
    });
    return;
  }
  p.fail("unsupported post_processor type '" + type + "'",
         "supported: TemplateProcessing, BertProcessing, RobertaProcessing, ByteLevel, Sequence");
}

// tokenizer_config.json "bos_token": "<s>" or {"content": "<s>", ...}.
std::optional<std::string> config_token(const nlohmann::json& cfg, const char* key) {
  if (!cfg.is_object() || !cfg.contains(key)) return std::nullopt;
  const nlohmann::json& v = cfg[key];
  if (v.is_string()) return v.get<std::string>();
  if (v.is_object() && v.contains("content") && v["content"].is_string()) return v["content"].get<std::string>();
  return std::nullopt;
}

// id → entry table size for a vocabulary object {token: id}: max id + 1, ids checked for range and holes.
std::size_t vocab_table_size(const JsonAt& vocab, std::int64_t extra_entries) {
  std::int64_t n = 0;
  const std::int64_t cap = std::min<std::int64_t>(kMaxId, static_cast<std::int64_t>(vocab.size()) + extra_entries + kMaxHoles);
  vocab.each_member([&](const std::string&, const JsonAt& id) {
    n = std::max(n, id.integer(0, cap) + 1);
  });
  return static_cast<std::size_t>(n);
}

std::unique_ptr<Tokenizer> load_wordpiece_json(const JsonAt& root) {
  JsonAt model = root.get("model");
  WordPieceSpec spec;
  JsonAt vocab = model.get("vocab");
  spec.vocab.assign(vocab_table_size(vocab, 0), "");
  std::vector<std::uint8_t> taken(spec.vocab.size(), 0);
  vocab.each_member([&](const std::string& tok, const JsonAt& id) {
    auto i = static_cast<std::size_t>(id.json().get<std::int64_t>());  // range checked by vocab_table_size
    if (taken[i]) id.fail("id " + std::to_string(i) + " is already taken by '" + spec.vocab[i] + "'",
                          "every vocabulary id must be unique");
    taken[i] = 1;
    spec.vocab[i] = tok;
  });
  spec.unk_token = model.str_or("unk_token", "[UNK]");
  spec.continuing_prefix = model.str_or("continuing_subword_prefix", "##");
  spec.max_input_chars_per_word =
      static_cast<std::size_t>(model.integer_or("max_input_chars_per_word", 100, 1, 1'000'000));
  if (auto norm = root.find("normalizer")) {
    if (norm->str_or("type", "") != "BertNormalizer")
      norm->fail("unsupported normalizer '" + norm->str_or("type", "") + "' for WordPiece", "expected BertNormalizer");
    spec.clean_text = norm->bool_or("clean_text", true);
    spec.tokenize_chinese_chars = norm->bool_or("handle_chinese_chars", true);
    spec.lower_case = norm->bool_or("lowercase", true);
    spec.strip_accents = norm->bool_or("strip_accents", spec.lower_case);
  }
  try {
    return std::make_unique<WordPieceTokenizer>(std::move(spec));
  } catch (const Error& e) {
    throw Error(e.message(), root.source().name, e.hint());
  }
}

std::unique_ptr<Tokenizer> load_bpe_json(const JsonAt& root, const nlohmann::json& cfg) {
  JsonAt model = root.get("model");
  BpeSpec spec;
  spec.kind = "bpe-hf";
  spec.ignore_merges = model.bool_or("ignore_merges", false);
  JsonAt vocab = model.get("vocab");
  std::optional<JsonAt> added = root.find("added_tokens");
  if (added) added->require_array();
  const std::int64_t n_added = added ? static_cast<std::int64_t>(added->size()) : 0;
  std::size_t n = vocab_table_size(vocab, n_added);
  const std::int64_t cap = std::min<std::int64_t>(kMaxId, static_cast<std::int64_t>(vocab.size()) + n_added + kMaxHoles);
  if (added)
    added->each([&](const JsonAt& a) { n = std::max(n, static_cast<std::size_t>(a.get("id").integer(0, cap) + 1)); });
  spec.id_bytes.assign(n, "");
  spec.id_token.assign(n, "");
  spec.id_special.assign(n, 0);
  spec.id_present.assign(n, 0);

  bool byte_level = false;
  if (auto pre = root.find("pre_tokenizer")) byte_level = read_pre_tokenizer(*pre, spec);
  if (auto decoder = root.find("decoder"); decoder && decoder->str_or("type", "") == "ByteLevel") byte_level = true;
  if (!byte_level)
    root.fail("only byte-level BPE tokenizer.json files are supported (no ByteLevel pre-tokenizer or decoder)",
              "SentencePiece-style BPE (Llama 2) is not supported");
  if (auto norm = root.find("normalizer")) read_normalizer(*norm, spec);

  StringIdMap vocab_ids;
  vocab_ids.reserve(vocab.size());
  vocab.each_member([&](const std::string& tok, const JsonAt& idj) {
    auto id = static_cast<std::size_t>(idj.json().get<std::int64_t>());  // range checked by vocab_table_size
    if (spec.id_present[id])
      idj.fail("id " + std::to_string(id) + " is already taken by '" + spec.id_token[id] + "'",
               "every vocabulary id must be unique");
    auto bytes = gpt2_unicode_to_bytes(tok);
    spec.id_bytes[id] = bytes ? *bytes : tok;  // tokens outside the byte alphabet decode as written
    spec.id_token[id] = tok;
    spec.id_present[id] = 1;
    vocab_ids.emplace(tok, static_cast<TokenId>(id));
  });
  if (added)
    added->each([&](const JsonAt& a) {
      auto id = static_cast<TokenId>(a.get("id").integer(0, cap));
      const std::string& content = a.get("content").str();
      bool special = a.bool_or("special", false);
      spec.id_bytes[id] = content;
      spec.id_token[id] = content;
      spec.id_special[id] = special ? 1 : 0;
      spec.id_present[id] = 1;
      spec.added.push_back({content, id, special});
    });
  if (auto merges = model.find("merges")) {
    merges->each([&](const JsonAt& m) {
      std::string a, b;
      if (m.is_string()) {
        const std::string& s = m.str();
        auto sp = s.find(' ');
        if (sp == std::string::npos) m.fail("merge '" + s + "' has no space", "merges are \"a b\" or [\"a\", \"b\"]");
        a = s.substr(0, sp);
        b = s.substr(sp + 1);
      } else if (m.is_array() && m.size() == 2) {
        a = m.at(0).str();
        b = m.at(1).str();
      } else {
        m.fail("a merge is neither \"a b\" nor [\"a\", \"b\"]");
      }
      auto ia = vocab_ids.find(a), ib = vocab_ids.find(b);
      if (ia == vocab_ids.end() || ib == vocab_ids.end())
        m.fail("merge uses a token not in the vocabulary ('" + a + "' '" + b + "')");
      spec.merges.emplace_back(ia->second, ib->second);
    });
  }
  if (auto unk = model.find("unk_token"); unk && unk->is_string()) {
    auto it = vocab_ids.find(unk->str());
    if (it != vocab_ids.end()) spec.unk = it->second;
  }

  IdOf id_of = [&](const std::string& name) -> std::optional<TokenId> {
    for (const auto& a : spec.added)
      if (a.content == name) return a.id;
    auto it = vocab_ids.find(name);
    if (it != vocab_ids.end()) return it->second;
    return std::nullopt;
  };
  if (auto post = root.find("post_processor")) read_post_processor(*post, id_of, spec, spec.prefix_ids, spec.suffix_ids);

  // Special ids: tokenizer_config.json beside the file first, then well-known names.
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
  try {
    return std::make_unique<BpeTokenizer>(std::move(spec));
  } catch (const Error& e) {
    throw Error(e.message(), root.source().name, e.hint());
  }
}

}  // namespace

std::unique_ptr<Tokenizer> parse_hf_tokenizer_json(std::string_view text, const std::string& source,
                                                   const nlohmann::json& config) {
  const JsonSource src{source, "compare with a tokenizer.json written by Hugging Face tokenizers"};
  const nlohmann::json j = parse_json_text(text, source, src.hint);
  const JsonAt root(j, src);
  try {
    if (!j.is_object() || !j.contains("model")) root.fail("not a tokenizer.json (no 'model' object)");
    std::string type = root.get("model").str_or("type", "BPE");
    if (type == "WordPiece") return load_wordpiece_json(root);
    if (type != "BPE") root.get("model").get("type").fail("unsupported tokenizer model type '" + type + "'",
                                                          "supported: BPE, WordPiece");
    return load_bpe_json(root, config);
  } catch (const nlohmann::json::exception& e) {
    throw_json_error(e, source, src.hint);  // a path this reader does not check yet
  }
}

std::unique_ptr<Tokenizer> load_hf_tokenizer_json(const fs::path& file) {
  nlohmann::json cfg = nullptr;
  fs::path cfg_path = file.parent_path() / "tokenizer_config.json";
  if (fs::exists(cfg_path)) cfg = read_json_file(cfg_path);
  return parse_hf_tokenizer_json(read_file(file), file.string(), cfg);
}

}  // namespace ecpo::tok
