// Dataset reading and tokenisation (see dataset.h). Row shapes follow training-reference.md §15 (TRL
// dataset_formats.md; LLaMA-Factory data/README.md); masks follow §1–§2.
#include "train/dataset.h"

#include <algorithm>
#include <fstream>

#include <nlohmann/json.hpp>

#include "util/error.h"
#include "util/jsonl.h"
#include "util/log.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace ecpo::train {

std::int64_t TokenSeq::completion_tokens() const {
  std::int64_t n = 0;
  for (auto m : mask) n += m;
  return n;
}

std::string data_kind_name(DataKind k) {
  switch (k) {
    case DataKind::sft: return "sft";
    case DataKind::pair: return "pair";
    case DataKind::kto: return "kto";
  }
  return "?";
}

std::size_t Dataset::size() const {
  switch (kind) {
    case DataKind::sft: return sft.size();
    case DataKind::pair: return pairs.size();
    case DataKind::kto: return kto.size();
  }
  return 0;
}

TokenSeq render_completion(const tok::ChatTemplate& tmpl, const tok::Tokenizer& tokenizer,
                           const std::vector<llm::Message>& prompt, const std::string& completion,
                           std::int64_t* prompt_tokens) {
  tok::ChatTokens p = tmpl.render_ids(tokenizer, prompt, /*add_generation_prompt=*/true);
  std::vector<llm::Message> full = prompt;
  full.push_back({"assistant", completion});
  tok::ChatTokens f = tmpl.render_ids(tokenizer, full, false);
  if (f.ids.size() < p.ids.size() || !std::equal(p.ids.begin(), p.ids.end(), f.ids.begin()))
    throw Error("the prompt's token ids are not a prefix of prompt + completion", "chat template " + tmpl.name(),
                "report this: the template encodes every segment on its own, so this should not happen");
  TokenSeq s;
  s.ids.assign(f.ids.begin(), f.ids.end());
  s.mask.assign(f.mask.begin(), f.mask.end());
  std::fill(s.mask.begin(), s.mask.begin() + static_cast<std::ptrdiff_t>(p.ids.size()), 0);
  if (prompt_tokens) *prompt_tokens = static_cast<std::int64_t>(p.ids.size());
  return s;
}

namespace {

// ---- row shapes ------------------------------------------------------------------------------------------

enum class Shape {
  tokenized_sft,    // input_ids (+ completion_mask | labels)
  tokenized_pair,   // prompt_input_ids, chosen_input_ids, rejected_input_ids
  tokenized_kto,    // prompt_input_ids, completion_input_ids, label
  messages_sft,     // messages                                  (ecpo, TRL conversational LM)
  messages_kto,     // messages + kto_tag                        (LLaMA-Factory KTO, OpenAI style)
  sharegpt_sft,     // conversations
  sharegpt_pair,    // conversations + chosen + rejected
  sharegpt_kto,     // conversations + kto_tag
  alpaca_sft,       // instruction, input, output
  alpaca_pair,      // instruction, input, chosen, rejected
  alpaca_kto,       // instruction, input, output, kto_tag
  pair,             // prompt, chosen, rejected                  (ecpo / TRL)
  implicit_pair,    // chosen, rejected as message lists         (TRL implicit prompt)
  prompt_completion,// prompt, completion                        (TRL)
  unpaired,         // prompt, completion, label                 (ecpo / TRL KTO)
  text,             // text                                      (TRL language modelling)
  unknown,
};

Shape detect_shape(const json& r) {
  if (!r.is_object()) return Shape::unknown;
  auto has = [&](const char* k) { return r.contains(k); };
  if (has("input_ids")) return Shape::tokenized_sft;
  if (has("prompt_input_ids")) {
    if (has("chosen_input_ids") && has("rejected_input_ids")) return Shape::tokenized_pair;
    if (has("completion_input_ids")) return Shape::tokenized_kto;
    return Shape::unknown;
  }
  if (has("conversations")) {
    if (has("chosen") && has("rejected")) return Shape::sharegpt_pair;
    if (has("kto_tag")) return Shape::sharegpt_kto;
    return Shape::sharegpt_sft;
  }
  if (has("instruction")) {
    if (has("chosen") && has("rejected")) return Shape::alpaca_pair;
    if (has("kto_tag")) return Shape::alpaca_kto;
    if (has("output")) return Shape::alpaca_sft;
    return Shape::unknown;
  }
  if (has("messages")) return has("kto_tag") ? Shape::messages_kto : Shape::messages_sft;
  if (has("chosen") && has("rejected")) return has("prompt") ? Shape::pair : Shape::implicit_pair;
  if (has("prompt") && has("completion")) return has("label") ? Shape::unpaired : Shape::prompt_completion;
  if (has("text")) return Shape::text;
  return Shape::unknown;
}

const char* shape_name(Shape s) {
  switch (s) {
    case Shape::tokenized_sft: return "tokenized SFT (input_ids)";
    case Shape::tokenized_pair: return "tokenized preference (prompt_input_ids, chosen_input_ids, rejected_input_ids)";
    case Shape::tokenized_kto: return "tokenized KTO (prompt_input_ids, completion_input_ids, label)";
    case Shape::messages_sft: return "conversation (messages)";
    case Shape::messages_kto: return "KTO conversation (messages, kto_tag)";
    case Shape::sharegpt_sft: return "sharegpt (conversations)";
    case Shape::sharegpt_pair: return "sharegpt preference (conversations, chosen, rejected)";
    case Shape::sharegpt_kto: return "sharegpt KTO (conversations, kto_tag)";
    case Shape::alpaca_sft: return "alpaca (instruction, input, output)";
    case Shape::alpaca_pair: return "alpaca preference (instruction, input, chosen, rejected)";
    case Shape::alpaca_kto: return "alpaca KTO (instruction, input, output, kto_tag)";
    case Shape::pair: return "preference (prompt, chosen, rejected)";
    case Shape::implicit_pair: return "implicit-prompt preference (chosen, rejected)";
    case Shape::prompt_completion: return "prompt-completion (prompt, completion)";
    case Shape::unpaired: return "unpaired preference (prompt, completion, label)";
    case Shape::text: return "language modelling (text)";
    case Shape::unknown: return "unknown";
  }
  return "unknown";
}

DataKind shape_kind(Shape s) {
  switch (s) {
    case Shape::tokenized_pair:
    case Shape::sharegpt_pair:
    case Shape::alpaca_pair:
    case Shape::pair:
    case Shape::implicit_pair:
      return DataKind::pair;
    case Shape::tokenized_kto:
    case Shape::messages_kto:
    case Shape::sharegpt_kto:
    case Shape::alpaca_kto:
    case Shape::unpaired:
      return DataKind::kto;
    default:
      return DataKind::sft;
  }
}

// Format family of a row (ecpo rows are TRL's conversational forms with string completions).
std::string shape_family(Shape s, const json& r) {
  switch (s) {
    case Shape::tokenized_sft:
    case Shape::tokenized_pair:
    case Shape::tokenized_kto:
      return "tokenized";
    case Shape::sharegpt_sft:
    case Shape::sharegpt_pair:
    case Shape::sharegpt_kto:
    case Shape::messages_kto:
      return "sharegpt";
    case Shape::alpaca_sft:
    case Shape::alpaca_pair:
    case Shape::alpaca_kto:
      return "alpaca";
    case Shape::messages_sft:
      return "ecpo";
    case Shape::pair:
    case Shape::unpaired: {
      const json& p = r["prompt"];
      const json& c = s == Shape::pair ? r["chosen"] : r["completion"];
      return (!p.is_string() && c.is_string()) ? "ecpo" : "trl";
    }
    default:
      return "trl";
  }
}

bool family_accepts(const std::string& wanted, const std::string& family) {
  if (wanted == "auto" || wanted == family) return true;
  // ecpo rows are a subset of TRL's conversational rows; LLaMA-Factory's OpenAI-style sharegpt uses messages.
  if (wanted == "trl" && family == "ecpo") return true;
  if (wanted == "ecpo" && family == "trl") return true;
  if (wanted == "sharegpt" && family == "ecpo") return true;
  return false;
}

// ---- row readers -----------------------------------------------------------------------------------------

struct RowCtx {
  const json& row;
  const std::string& where;
};

[[noreturn]] void row_error(const RowCtx& c, const std::string& what, const std::string& hint = {}) {
  throw Error(what, c.where, hint);
}

const json& field(const RowCtx& c, const char* key) {
  if (!c.row.contains(key))
    row_error(c, std::string("missing key '") + key + "'",
              "every row of a file must have the keys of the first row's format");
  return c.row[key];
}

std::string text_of(const RowCtx& c, const json& v, const std::string& what) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_array()) {  // OpenAI content parts [{type: text, text}]
    std::string out;
    for (const auto& part : v) {
      if (part.is_object() && part.value("type", "") == "text" && part.contains("text") && part["text"].is_string())
        out += part["text"].get<std::string>();
      else
        row_error(c, what + " holds a non-text content part", "only text content is supported");
    }
    return out;
  }
  if (v.is_null()) return "";
  row_error(c, what + " must be a string", "give the text as a JSON string");
}

std::string map_role(const RowCtx& c, const std::string& r, std::size_t i) {
  if (r == "user" || r == "human") return "user";
  if (r == "assistant" || r == "gpt" || r == "function_call" || r == "model") return "assistant";
  if (r == "system") return "system";
  if (r == "tool" || r == "observation" || r == "function" || r == "ipython") return "tool";
  row_error(c, "message " + std::to_string(i) + " has unknown role '" + r + "'",
            "roles are system, user, assistant, tool (sharegpt: human, gpt, observation, function_call)");
}

llm::Message message_of(const RowCtx& c, const json& m, std::size_t i) {
  if (!m.is_object()) row_error(c, "message " + std::to_string(i) + " is not an object", "messages are {role, content}");
  const char* rk = m.contains("role") ? "role" : m.contains("from") ? "from" : nullptr;
  const char* ck = m.contains("content") ? "content" : m.contains("value") ? "value" : nullptr;
  if (!rk || !ck || !m[rk].is_string())
    row_error(c, "message " + std::to_string(i) + " lacks role/content (or from/value)",
              "messages are {\"role\": ..., \"content\": ...} or sharegpt {\"from\": ..., \"value\": ...}");
  return {map_role(c, m[rk].get<std::string>(), i), text_of(c, m[ck], "message " + std::to_string(i) + " content")};
}

std::vector<llm::Message> messages_of(const RowCtx& c, const json& v, const char* key) {
  const json* arr = &v;
  if (v.is_object() && v.contains("messages")) arr = &v["messages"];  // ecpo pair records: prompt{messages[]}
  if (!arr->is_array()) row_error(c, std::string("'") + key + "' must be a list of messages");
  std::vector<llm::Message> out;
  for (std::size_t i = 0; i < arr->size(); ++i) out.push_back(message_of(c, (*arr)[i], i));
  return out;
}

// A completion given as a string, one message object, or a list holding one assistant message.
std::string completion_of(const RowCtx& c, const json& v, const char* key) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_object()) return message_of(c, v, 0).content;
  if (v.is_array()) {
    if (v.size() != 1)
      row_error(c, std::string("'") + key + "' holds " + std::to_string(v.size()) + " messages",
                "a completion is one assistant message");
    llm::Message m = message_of(c, v[0], 0);
    if (m.role != "assistant") row_error(c, std::string("'") + key + "' is not an assistant message");
    return m.content;
  }
  row_error(c, std::string("'") + key + "' must be a string or an assistant message");
}

bool label_of(const RowCtx& c, const char* key) {
  const json& v = field(c, key);
  if (v.is_boolean()) return v.get<bool>();
  if (v.is_number_integer() && (v.get<int>() == 0 || v.get<int>() == 1)) return v.get<int>() == 1;
  row_error(c, std::string("'") + key + "' must be true or false", "KTO labels mark desirable (true) completions");
}

std::vector<std::int32_t> ids_of(const RowCtx& c, const char* key, const tok::Tokenizer* t) {
  const json& v = field(c, key);
  if (!v.is_array()) row_error(c, std::string("'") + key + "' must be a list of token ids");
  std::vector<std::int32_t> out;
  out.reserve(v.size());
  for (const auto& x : v) {
    if (!x.is_number_integer() || x.get<std::int64_t>() < 0 ||
        (t && x.get<std::int64_t>() >= static_cast<std::int64_t>(t->vocab_size())))
      row_error(c, std::string("'") + key + "' holds " + x.dump() + ", not a token id of this model");
    out.push_back(x.get<std::int32_t>());
  }
  return out;
}

void require_nonempty(const RowCtx& c, const std::string& text, const char* what) {
  if (tok::strip_whitespace(text).empty())
    row_error(c, std::string("empty ") + what, "remove the row or give it a non-empty response");
}

// Alpaca user turn: instruction + "\n" + input (input optional); system and history optional.
std::vector<llm::Message> alpaca_prompt(const RowCtx& c) {
  std::vector<llm::Message> msgs;
  if (c.row.contains("system") && !c.row["system"].is_null()) {
    std::string sys = text_of(c, c.row["system"], "'system'");
    if (!sys.empty()) msgs.push_back({"system", sys});
  }
  if (c.row.contains("history") && !c.row["history"].is_null()) {
    const json& h = c.row["history"];
    if (!h.is_array()) row_error(c, "'history' must be a list of [query, response] pairs");
    for (const auto& turn : h) {
      if (!turn.is_array() || turn.size() != 2 || !turn[0].is_string() || !turn[1].is_string())
        row_error(c, "'history' must be a list of [query, response] string pairs");
      msgs.push_back({"user", turn[0].get<std::string>()});
      msgs.push_back({"assistant", turn[1].get<std::string>()});
    }
  }
  std::string user = text_of(c, field(c, "instruction"), "'instruction'");
  if (c.row.contains("input") && !c.row["input"].is_null()) {
    std::string in = text_of(c, c.row["input"], "'input'");
    if (!in.empty()) user += "\n" + in;
  }
  msgs.push_back({"user", user});
  return msgs;
}

// sharegpt "conversations" (+ optional "system" key), roles mapped.
std::vector<llm::Message> sharegpt_messages(const RowCtx& c) {
  std::vector<llm::Message> msgs;
  if (c.row.contains("system") && c.row["system"].is_string() && !c.row["system"].get<std::string>().empty())
    msgs.push_back({"system", c.row["system"].get<std::string>()});
  auto conv = messages_of(c, field(c, "conversations"), "conversations");
  msgs.insert(msgs.end(), conv.begin(), conv.end());
  return msgs;
}

// ---- reader ----------------------------------------------------------------------------------------------

struct Loader {
  Loader(DataKind w, const tok::Tokenizer* t, const DataOptions& o) : want(w), tk(t), opt(o) {}
  DataKind want;
  const tok::Tokenizer* tk;
  const DataOptions& opt;
  tok::ChatTemplate tmpl = tok::ChatTemplate::named("llama3");
  Dataset ds;
  bool first = true;
  Shape shape = Shape::unknown;
  std::vector<KtoExample> kto_neg;  // undesirable halves of pairs read for KTO (appended after the chosen)

  const tok::Tokenizer& tokenizer(const RowCtx& c) {
    if (!tk)
      row_error(c, "this row needs the model's tokenizer", "the model directory needs tokenizer.json");
    return *tk;
  }

  // Drops an over-long example (counted); refuses a prompt that alone reaches cutoff_len.
  bool keep(const RowCtx& c, std::int64_t prompt_tokens, std::int64_t total_tokens) {
    if (opt.cutoff_len <= 0) return true;
    if (prompt_tokens >= opt.cutoff_len && !opt.skip_long_prompts)
      row_error(c, "the prompt alone has " + std::to_string(prompt_tokens) + " tokens, cutoff_len is " +
                       std::to_string(opt.cutoff_len),
                "raise cutoff_len, shorten the prompt, or set skip_long_prompts=true to drop such rows");
    if (total_tokens > opt.cutoff_len) {
      ++ds.dropped_long;
      if (ds.dropped_where.size() < 5) ds.dropped_where.push_back(c.where);
      return false;
    }
    return true;
  }

  TokenSeq text_seq(const RowCtx& c, const std::string& prompt, const std::string& completion,
                    std::int64_t* prompt_tokens) {
    const tok::Tokenizer& t = tokenizer(c);
    tok::EncodeOptions eo;
    eo.add_special = true;  // BOS for Llama-3, nothing for Qwen2
    TokenSeq s;
    auto p = t.encode(prompt, eo);
    s.ids.assign(p.begin(), p.end());
    s.mask.assign(s.ids.size(), 0);
    auto q = t.encode(completion);
    s.ids.insert(s.ids.end(), q.begin(), q.end());
    if (t.special().eos && (s.ids.empty() || s.ids.back() != *t.special().eos)) s.ids.push_back(*t.special().eos);
    s.mask.resize(s.ids.size(), 1);
    if (!s.mask.empty()) s.mask[0] = 0;
    *prompt_tokens = static_cast<std::int64_t>(p.size());
    return s;
  }

  // A prompt (string or messages) + completion string.
  TokenSeq completion_seq(const RowCtx& c, const json& prompt, const std::string& completion, const char* what,
                          std::int64_t* prompt_tokens) {
    require_nonempty(c, completion, what);
    if (prompt.is_string()) return text_seq(c, prompt.get<std::string>(), completion, prompt_tokens);
    return render_completion(tmpl, tokenizer(c), messages_of(c, prompt, "prompt"), completion, prompt_tokens);
  }
  TokenSeq completion_seq(const RowCtx& c, const std::vector<llm::Message>& prompt, const std::string& completion,
                          const char* what, std::int64_t* prompt_tokens) {
    require_nonempty(c, completion, what);
    if (prompt.empty() || prompt.back().role == "assistant")
      row_error(c, "the prompt must end with a user (or tool) turn", "the completion answers the last user turn");
    return render_completion(tmpl, tokenizer(c), prompt, completion, prompt_tokens);
  }

  void add_sft_messages(const RowCtx& c, const std::vector<llm::Message>& msgs) {
    bool any = false;
    for (std::size_t i = 0; i < msgs.size(); ++i)
      if (msgs[i].role == "assistant") {
        any = true;
        require_nonempty(c, msgs[i].content, ("assistant turn (message " + std::to_string(i) + ")").c_str());
      }
    if (!any)
      row_error(c, "the conversation has no assistant turn",
                "SFT trains on assistant turns only; add the response as a message with role \"assistant\"");
    tok::ChatTokens ct = tmpl.render_ids(tokenizer(c), msgs, false);
    TokenSeq s;
    s.ids.assign(ct.ids.begin(), ct.ids.end());
    s.mask.assign(ct.mask.begin(), ct.mask.end());
    if (!s.mask.empty()) s.mask[0] = 0;
    std::int64_t prompt = 0;
    while (prompt < static_cast<std::int64_t>(s.mask.size()) && !s.mask[prompt]) ++prompt;
    add_sft(c, std::move(s), prompt);
  }

  void add_sft(const RowCtx& c, TokenSeq s, std::int64_t prompt_tokens) {
    if (s.completion_tokens() == 0)
      row_error(c, "the row has no trained token", "give it a non-empty response (or completion_mask with 1s)");
    if (!keep(c, prompt_tokens, static_cast<std::int64_t>(s.ids.size()))) return;
    ds.sft.push_back({std::move(s), c.where});
  }

  void add_pair(const RowCtx& c, TokenSeq ch, TokenSeq rj, std::int64_t prompt_tokens) {
    if (ch.completion_tokens() == 0 || rj.completion_tokens() == 0)
      row_error(c, "empty completion", "chosen and rejected must both be non-empty");
    const std::int64_t longest = static_cast<std::int64_t>(std::max(ch.ids.size(), rj.ids.size()));
    if (!keep(c, prompt_tokens, longest)) return;
    if (want == DataKind::kto) {  // unpaired: chosen → desirable, rejected → undesirable
      ds.kto.push_back({std::move(ch), {}, true, prompt_tokens, c.where});
      kto_neg.push_back({std::move(rj), {}, false, prompt_tokens, c.where});
      return;
    }
    ds.pairs.push_back({std::move(ch), std::move(rj), prompt_tokens, c.where});
  }

  void add_kto(const RowCtx& c, TokenSeq s, bool label, std::int64_t prompt_tokens) {
    if (s.completion_tokens() == 0) row_error(c, "empty completion", "remove the row or give it a completion");
    if (!keep(c, prompt_tokens, static_cast<std::int64_t>(s.ids.size()))) return;
    ds.kto.push_back({std::move(s), {}, label, prompt_tokens, c.where});
  }

  // Conversation rows for KTO (sharegpt/messages + kto_tag): the last turn is the completion.
  void add_kto_conversation(const RowCtx& c, std::vector<llm::Message> msgs) {
    if (msgs.empty() || msgs.back().role != "assistant")
      row_error(c, "the conversation does not end with an assistant turn", "KTO scores the last assistant turn");
    std::string completion = msgs.back().content;
    msgs.pop_back();
    std::int64_t p = 0;
    TokenSeq s = completion_seq(c, msgs, completion, "completion", &p);
    add_kto(c, std::move(s), label_of(c, "kto_tag"), p);
  }

  void row(const json& r, const std::string& where) {
    RowCtx c{r, where};
    ++ds.rows;
    Shape s = detect_shape(r);
    if (s == Shape::unknown)
      row_error(c, "unrecognised row " + std::string(r.is_object() ? "keys" : "value"),
                "expected ecpo/TRL rows (messages | prompt+chosen+rejected | prompt+completion[+label] | text), "
                "LLaMA-Factory alpaca (instruction, input, output | chosen, rejected) or sharegpt (conversations)");
    if (first) {
      first = false;
      shape = s;
      ds.format = shape_family(s, r);
      if (!family_accepts(opt.format, ds.format))
        row_error(c, "data_format is '" + opt.format + "' but the first row is " + ds.format + " " + shape_name(s),
                  "use data_format=auto, or the format the file holds");
      const DataKind k = shape_kind(s);
      const bool ok = k == want || (want == DataKind::kto && k == DataKind::pair);
      if (!ok)
        row_error(c, "the file holds " + data_kind_name(k) + " rows (" + shape_name(s) + "), the objective needs " +
                         data_kind_name(want) + " rows",
                  want == DataKind::sft ? "SFT reads {\"messages\": [...]} (or prompt/completion, alpaca, sharegpt) rows"
                  : want == DataKind::pair ? "DPO/SimPO read {\"prompt\": [...], \"chosen\": ..., \"rejected\": ...} rows"
                                           : "KTO reads {\"prompt\", \"completion\", \"label\"} or preference rows");
    } else if (s != shape) {
      row_error(c, std::string("row is ") + shape_name(s) + " but the file's first row is " + shape_name(shape),
                "keep one format per file");
    }
    std::int64_t p = 0;
    switch (s) {
      case Shape::tokenized_sft: {
        TokenSeq t;
        t.ids = ids_of(c, "input_ids", tk);
        if (r.contains("completion_mask") || r.contains("assistant_masks")) {
          const char* key = r.contains("completion_mask") ? "completion_mask" : "assistant_masks";
          auto m = ids_of(c, key, nullptr);
          if (m.size() != t.ids.size()) row_error(c, std::string("'") + key + "' and 'input_ids' differ in length");
          for (auto v : m) t.mask.push_back(v ? 1 : 0);
        } else if (r.contains("labels")) {
          const json& l = r["labels"];
          if (!l.is_array() || l.size() != t.ids.size())
            row_error(c, "'labels' must be a list as long as 'input_ids'", "-100 marks ignored positions");
          for (const auto& v : l) t.mask.push_back(v.is_number_integer() && v.get<std::int64_t>() != -100 ? 1 : 0);
        } else {
          t.mask.assign(t.ids.size(), 1);
        }
        if (!t.mask.empty()) t.mask[0] = 0;
        while (p < static_cast<std::int64_t>(t.mask.size()) && !t.mask[p]) ++p;
        add_sft(c, std::move(t), p);
        break;
      }
      case Shape::tokenized_pair:
      case Shape::tokenized_kto: {
        auto prompt = ids_of(c, "prompt_input_ids", tk);
        if (prompt.empty()) row_error(c, "'prompt_input_ids' is empty", "the prompt needs at least one token");
        auto make = [&](const char* key) {
          auto comp = ids_of(c, key, tk);
          if (comp.empty()) row_error(c, std::string("empty completion ('") + key + "')", "remove the row");
          TokenSeq t;
          t.ids = prompt;
          t.ids.insert(t.ids.end(), comp.begin(), comp.end());
          t.mask.assign(prompt.size(), 0);
          t.mask.resize(t.ids.size(), 1);
          return t;
        };
        p = static_cast<std::int64_t>(prompt.size());
        if (s == Shape::tokenized_pair) add_pair(c, make("chosen_input_ids"), make("rejected_input_ids"), p);
        else add_kto(c, make("completion_input_ids"), label_of(c, "label"), p);
        break;
      }
      case Shape::messages_sft:
        add_sft_messages(c, messages_of(c, r["messages"], "messages"));
        break;
      case Shape::messages_kto:
        add_kto_conversation(c, messages_of(c, r["messages"], "messages"));
        break;
      case Shape::sharegpt_sft:
        add_sft_messages(c, sharegpt_messages(c));
        break;
      case Shape::sharegpt_kto:
        add_kto_conversation(c, sharegpt_messages(c));
        break;
      case Shape::sharegpt_pair: {
        auto prompt = sharegpt_messages(c);
        TokenSeq ch = completion_seq(c, prompt, completion_of(c, r["chosen"], "chosen"), "chosen completion", &p);
        TokenSeq rj = completion_seq(c, prompt, completion_of(c, r["rejected"], "rejected"), "rejected completion", &p);
        add_pair(c, std::move(ch), std::move(rj), p);
        break;
      }
      case Shape::alpaca_sft: {
        auto msgs = alpaca_prompt(c);
        std::string out = text_of(c, field(c, "output"), "'output'");
        require_nonempty(c, out, "'output'");
        msgs.push_back({"assistant", out});
        add_sft_messages(c, msgs);
        break;
      }
      case Shape::alpaca_kto: {
        auto msgs = alpaca_prompt(c);
        msgs.push_back({"assistant", text_of(c, field(c, "output"), "'output'")});
        add_kto_conversation(c, msgs);
        break;
      }
      case Shape::alpaca_pair: {
        auto prompt = alpaca_prompt(c);
        TokenSeq ch = completion_seq(c, prompt, text_of(c, r["chosen"], "'chosen'"), "chosen completion", &p);
        TokenSeq rj = completion_seq(c, prompt, text_of(c, r["rejected"], "'rejected'"), "rejected completion", &p);
        add_pair(c, std::move(ch), std::move(rj), p);
        break;
      }
      case Shape::pair: {
        const json& prompt = r["prompt"];
        TokenSeq ch = completion_seq(c, prompt, completion_of(c, r["chosen"], "chosen"), "chosen completion", &p);
        TokenSeq rj = completion_seq(c, prompt, completion_of(c, r["rejected"], "rejected"), "rejected completion", &p);
        add_pair(c, std::move(ch), std::move(rj), p);
        break;
      }
      case Shape::implicit_pair: {  // shared prefix = everything but the last (assistant) message of each
        auto ch_msgs = messages_of(c, r["chosen"], "chosen");
        auto rj_msgs = messages_of(c, r["rejected"], "rejected");
        if (ch_msgs.empty() || rj_msgs.empty() || ch_msgs.back().role != "assistant" ||
            rj_msgs.back().role != "assistant")
          row_error(c, "'chosen' and 'rejected' must end with an assistant message");
        std::vector<llm::Message> prompt(ch_msgs.begin(), ch_msgs.end() - 1);
        std::vector<llm::Message> prompt_r(rj_msgs.begin(), rj_msgs.end() - 1);
        bool same = prompt.size() == prompt_r.size();
        for (std::size_t i = 0; same && i < prompt.size(); ++i)
          same = prompt[i].role == prompt_r[i].role && prompt[i].content == prompt_r[i].content;
        if (!same) row_error(c, "'chosen' and 'rejected' do not share the same prompt messages");
        TokenSeq ch = completion_seq(c, prompt, ch_msgs.back().content, "chosen completion", &p);
        TokenSeq rj = completion_seq(c, prompt, rj_msgs.back().content, "rejected completion", &p);
        add_pair(c, std::move(ch), std::move(rj), p);
        break;
      }
      case Shape::prompt_completion: {
        TokenSeq t = completion_seq(c, r["prompt"], completion_of(c, r["completion"], "completion"), "completion", &p);
        add_sft(c, std::move(t), p);
        break;
      }
      case Shape::unpaired: {
        TokenSeq t = completion_seq(c, r["prompt"], completion_of(c, r["completion"], "completion"), "completion", &p);
        add_kto(c, std::move(t), label_of(c, "label"), p);
        break;
      }
      case Shape::text: {
        std::string text = text_of(c, r["text"], "'text'");
        require_nonempty(c, text, "'text'");
        const tok::Tokenizer& t = tokenizer(c);
        tok::EncodeOptions eo;
        eo.add_special = true;
        TokenSeq s;
        auto ids = t.encode(text, eo);
        s.ids.assign(ids.begin(), ids.end());
        if (t.special().eos) s.ids.push_back(*t.special().eos);
        s.mask.assign(s.ids.size(), 1);
        s.mask[0] = 0;
        add_sft(c, std::move(s), 1);
        break;
      }
      case Shape::unknown:
        break;
    }
  }
};

}  // namespace

Dataset load_dataset(const fs::path& path, DataKind want, const tok::Tokenizer* tokenizer, const DataOptions& opt) {
  static const char* kFormats[] = {"auto", "ecpo", "trl", "alpaca", "sharegpt", "tokenized"};
  if (std::find_if(std::begin(kFormats), std::end(kFormats), [&](const char* f) { return opt.format == f; }) ==
      std::end(kFormats))
    throw Error("unknown data_format '" + opt.format + "'", "data_format",
                "use auto, ecpo, trl, alpaca, sharegpt or tokenized");
  if (!fs::exists(path)) throw Error("dataset file not found", path.string(), "pass --data FILE (.jsonl or .json)");
  Loader L(want, tokenizer, opt);
  if (!opt.chat_template.empty()) L.tmpl = tok::ChatTemplate::named(opt.chat_template);
  else if (tokenizer) L.tmpl = tok::ChatTemplate::for_tokenizer(*tokenizer);
  L.ds.kind = want;

  // A JSON array (LLaMA-Factory's .json files) or JSON lines.
  bool array = false;
  {
    std::ifstream f(path, std::ios::binary);
    char ch = 0;
    while (f.get(ch) && std::isspace(static_cast<unsigned char>(ch))) {
    }
    array = ch == '[';
  }
  if (array) {
    json all = read_json_file(path);
    for (std::size_t i = 0; i < all.size(); ++i) L.row(all[i], path.string() + " row " + std::to_string(i + 1));
  } else {
    JsonlReader reader(path);
    json r;
    while (reader.next(r)) L.row(r, reader.where());
  }
  Dataset ds = std::move(L.ds);
  for (auto& k : L.kto_neg) ds.kto.push_back(std::move(k));
  if (ds.rows == 0) throw Error("the dataset is empty", path.string(), "the file holds no rows");
  bool uses_template = ds.format != "tokenized";
  ds.chat_template = uses_template ? L.tmpl.name() : "";
  if (ds.dropped_long > 0) {
    std::string first;
    for (const auto& w : ds.dropped_where) first += (first.empty() ? "" : ", ") + w;
    spdlog::warn("{}: dropped {} of {} rows longer than cutoff_len {} (first: {})", path.string(), ds.dropped_long,
             ds.rows, opt.cutoff_len, first);
  }
  if (ds.size() == 0)
    throw Error("no example is left after dropping rows longer than cutoff_len " + std::to_string(opt.cutoff_len),
                path.string(), "raise cutoff_len");
  return ds;
}

void kto_pair_kl(Dataset& data, std::int64_t batch_size) {
  auto& ex = data.kto;
  const std::size_t n = ex.size(), b = static_cast<std::size_t>(std::max<std::int64_t>(1, batch_size));
  for (std::size_t start = 0; start < n; start += b) {
    const std::size_t end = std::min(n, start + b);
    for (std::size_t i = start; i < end; ++i) {
      const std::size_t j = i == start ? end - 1 : i - 1;
      const KtoExample& a = ex[i];
      const KtoExample& o = ex[j];
      TokenSeq kl;
      kl.ids.assign(a.seq.ids.begin(), a.seq.ids.begin() + a.prompt_tokens);
      kl.ids.insert(kl.ids.end(), o.seq.ids.begin() + o.prompt_tokens, o.seq.ids.end());
      kl.mask.assign(static_cast<std::size_t>(a.prompt_tokens), 0);
      kl.mask.insert(kl.mask.end(), o.seq.mask.begin() + o.prompt_tokens, o.seq.mask.end());
      ex[i].kl_seq = std::move(kl);
    }
  }
}

}  // namespace ecpo::train
