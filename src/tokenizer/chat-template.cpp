// Llama 3 and ChatML chat templates (see chat-template.h). Template text follows
// /work/shared/docs/training-reference.md §13 (meta-llama ChatFormat, LLaMA-Factory llama3 / qwen).
#include "tokenizer/chat-template.h"

#include "util/error.h"

namespace ecpo::tok {

namespace {

bool py_space(std::uint32_t cp) {
  if (cp == ' ' || (cp >= 0x09 && cp <= 0x0D) || (cp >= 0x1C && cp <= 0x1F)) return true;
  return cp == 0x85 || cp == 0xA0 || cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 ||
         cp == 0x2029 || cp == 0x202F || cp == 0x205F || cp == 0x3000;
}

// Byte length of the whitespace code point starting at s[i] (0 when it is not whitespace).
std::size_t space_at(std::string_view s, std::size_t i) {
  auto b = static_cast<unsigned char>(s[i]);
  if (b < 0x80) return py_space(b) ? 1 : 0;
  std::size_t n = (b >> 5) == 6 ? 2 : (b >> 4) == 14 ? 3 : 0;
  if (n == 0 || i + n > s.size()) return 0;
  std::uint32_t cp = n == 2 ? (b & 0x1F) : (b & 0x0F);
  for (std::size_t k = 1; k < n; ++k) cp = (cp << 6) | (static_cast<unsigned char>(s[i + k]) & 0x3F);
  return py_space(cp) ? n : 0;
}

// Byte length of the whitespace code point ending just before s[end] (0 when none).
std::size_t space_before(std::string_view s, std::size_t end) {
  for (std::size_t n = 1; n <= 3 && n <= end; ++n) {
    auto b = static_cast<unsigned char>(s[end - n]);
    if ((b & 0xC0) == 0x80) continue;  // continuation byte: keep looking back
    return space_at(s, end - n) == n ? n : 0;
  }
  return 0;
}

void check_role(const llm::Message& m, std::size_t index) {
  static const char* kRoles[] = {"system", "user", "assistant", "tool", "ipython"};
  for (const char* r : kRoles)
    if (m.role == r) return;
  throw Error("unknown chat role '" + m.role + "'", "message " + std::to_string(index),
              "roles are system, user, assistant, tool, ipython");
}

}  // namespace

std::string strip_whitespace(std::string_view s) {
  std::size_t b = 0, e = s.size(), n;
  while (b < e && (n = space_at(s, b)) > 0) b += n;
  while (e > b && (n = space_before(s, e)) > 0) e -= n;
  return std::string(s.substr(b, e - b));
}

ChatTemplate ChatTemplate::named(std::string_view name) {
  ChatTemplate t;
  t.name_ = std::string(name);
  if (name == "llama3") {
    t.format_ = ChatFormat::llama3;
  } else if (name == "llama3.1") {
    t.format_ = ChatFormat::llama3;
    t.llama31_header_ = true;
  } else if (name == "chatml") {
    t.format_ = ChatFormat::chatml;
  } else if (name == "qwen2") {
    t.format_ = ChatFormat::chatml;
    t.default_system = "You are a helpful assistant.";
  } else if (name == "qwen2.5" || name == "qwen") {
    t.format_ = ChatFormat::chatml;
    t.default_system = "You are Qwen, created by Alibaba Cloud. You are a helpful assistant.";
  } else {
    throw Error("unknown chat template '" + std::string(name) + "'", "chat template",
                "known: llama3, llama3.1, chatml, qwen2, qwen2.5 (alias qwen)");
  }
  return t;
}

ChatTemplate ChatTemplate::for_tokenizer(const Tokenizer& tokenizer) {
  if (tokenizer.token_to_id("<|start_header_id|>")) return named("llama3");
  if (tokenizer.token_to_id("<|im_start|>")) return named("chatml");
  throw Error("cannot pick a chat template: the tokenizer has neither <|start_header_id|> nor <|im_start|>",
              "tokenizer " + tokenizer.kind(), "name the template explicitly (llama3, chatml, qwen2 …)");
}

std::vector<std::string> ChatTemplate::stop_tokens() const {
  if (format_ == ChatFormat::llama3) return {"<|eot_id|>", "<|eom_id|>", "<|end_of_text|>"};
  return {"<|im_end|>", "<|endoftext|>"};
}

std::vector<ChatTemplate::Segment> ChatTemplate::segments(const std::vector<llm::Message>& messages,
                                                          bool add_generation_prompt) const {
  std::vector<Segment> s;
  auto special = [&](const char* t, bool trained = false) { s.push_back({t, true, trained}); };
  auto text = [&](std::string t, bool trained = false) {
    if (!t.empty()) s.push_back({std::move(t), false, trained});
  };
  for (std::size_t i = 0; i < messages.size(); ++i) check_role(messages[i], i);

  if (format_ == ChatFormat::llama3) {
    special("<|begin_of_text|>");
    std::size_t first = 0;
    if (llama31_header_) {  // HF Llama 3.1 template: always a system block with the two date lines
      std::string sys;
      if (!messages.empty() && messages[0].role == "system") {
        sys = strip_whitespace(messages[0].content);
        first = 1;
      }
      special("<|start_header_id|>");
      text("system");
      special("<|end_header_id|>");
      text("\n\n");
      text("Cutting Knowledge Date: December 2023\nToday Date: " + today_date + "\n\n" + sys);
      special("<|eot_id|>");
    }
    for (std::size_t i = first; i < messages.size(); ++i) {
      const auto& m = messages[i];
      bool a = m.role == "assistant";
      special("<|start_header_id|>");
      text(m.role);
      special("<|end_header_id|>");
      text("\n\n");
      text(strip_whitespace(m.content), a);
      special("<|eot_id|>", a);
    }
    if (add_generation_prompt) {
      special("<|start_header_id|>");
      text("assistant");
      special("<|end_header_id|>");
      text("\n\n");
    }
    return s;
  }

  // ChatML
  if (!default_system.empty() && (messages.empty() || messages[0].role != "system")) {
    special("<|im_start|>");
    text("system\n");
    text(default_system);
    special("<|im_end|>");
    text("\n");
  }
  for (const auto& m : messages) {
    bool a = m.role == "assistant";
    special("<|im_start|>");
    text(m.role + "\n");
    text(m.content, a);
    special("<|im_end|>", a);
    text("\n", a);
  }
  if (add_generation_prompt) {
    special("<|im_start|>");
    text("assistant\n");
  }
  return s;
}

std::string ChatTemplate::render(const std::vector<llm::Message>& messages, bool add_generation_prompt) const {
  std::string out;
  for (const auto& seg : segments(messages, add_generation_prompt)) out += seg.text;
  return out;
}

ChatTokens ChatTemplate::render_ids(const Tokenizer& tokenizer, const std::vector<llm::Message>& messages,
                                    bool add_generation_prompt) const {
  ChatTokens out;
  for (const auto& seg : segments(messages, add_generation_prompt)) {
    std::vector<TokenId> ids;
    if (seg.special) {
      auto id = tokenizer.token_to_id(seg.text);
      if (!id)
        throw Error("tokenizer lacks the special token " + seg.text + " that chat template '" + name_ + "' needs",
                    "tokenizer " + tokenizer.kind(), "pick the template that matches the model");
      ids.push_back(*id);
    } else {
      ids = tokenizer.encode(seg.text);  // parse_special off: message text cannot inject control tokens
    }
    out.ids.insert(out.ids.end(), ids.begin(), ids.end());
    out.mask.insert(out.mask.end(), ids.size(), seg.trained ? 1 : 0);
  }
  return out;
}

}  // namespace ecpo::tok
