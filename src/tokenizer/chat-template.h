// Chat templates rendered in code (no Jinja in Debian): Llama 3 (plain, as LLaMA-Factory's `llama3`
// template; optional Llama 3.1 date header) and ChatML (Qwen). render() gives the prompt text;
// render_ids() tokenises it segment by segment (special tokens inserted as ids, never parsed from user
// text) and returns a parallel mask that is 1 exactly on the tokens an assistant turn produces:
//   Llama 3: the assistant content tokens + its <|eot_id|>   (not the header, not the "\n\n");
//   ChatML:  the assistant content tokens + <|im_end|> + the "\n" after it (LLaMA-Factory's qwen
//            format_assistant "{{content}}<|im_end|>\n").
// Deliberately not here: tool calls, images, generic Jinja.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "llm/chat-model.h"
#include "tokenizer/tokenizer.h"

namespace ecpo::tok {

enum class ChatFormat { llama3, chatml };

struct ChatTokens {
  std::vector<TokenId> ids;
  std::vector<std::uint8_t> mask;  // same length as ids; 1 = produced by the assistant (trained)
};

class ChatTemplate {
 public:
  // Names: "llama3" (default Llama form, content stripped), "llama3.1" (adds the HF Llama 3.1 system
  // header "Cutting Knowledge Date: December 2023\nToday Date: 26 Jul 2024\n\n" and always a system
  // block), "chatml" (no default system), "qwen2" (default system "You are a helpful assistant."),
  // "qwen2.5" / "qwen" (LLaMA-Factory's "You are Qwen, created by Alibaba Cloud. You are a helpful
  // assistant."). Throws ecpo::Error listing the names for anything else.
  static ChatTemplate named(std::string_view name);
  // "llama3" when the tokenizer knows <|start_header_id|>, "chatml" when it knows <|im_start|>.
  static ChatTemplate for_tokenizer(const Tokenizer& tokenizer);

  // Prompt text. add_generation_prompt appends the assistant header (Llama 3) / "<|im_start|>assistant\n".
  // Roles: system, user, assistant, tool, ipython; anything else throws ecpo::Error.
  std::string render(const std::vector<llm::Message>& messages, bool add_generation_prompt) const;
  // Token ids of render(): each text segment is encoded on its own and the ids concatenated, so the
  // prompt/response boundary is exact by construction (training-reference.md §1).
  ChatTokens render_ids(const Tokenizer& tokenizer, const std::vector<llm::Message>& messages,
                        bool add_generation_prompt) const;

  const std::string& name() const { return name_; }
  ChatFormat format() const { return format_; }
  // Stop strings for generation: "<|eot_id|>", "<|eom_id|>", "<|end_of_text|>" or "<|im_end|>", "<|endoftext|>".
  std::vector<std::string> stop_tokens() const;

  std::string today_date = "26 Jul 2024";  // Llama 3.1 header only
  std::string default_system;              // ChatML: used when the first message is not a system one

 private:
  struct Segment {
    std::string text;
    bool special;
    bool trained;
  };
  std::vector<Segment> segments(const std::vector<llm::Message>& messages, bool add_generation_prompt) const;

  std::string name_ = "llama3";
  ChatFormat format_ = ChatFormat::llama3;
  bool llama31_header_ = false;
};

// Python str.strip() over Unicode whitespace (the Llama 3 templates trim message content).
std::string strip_whitespace(std::string_view s);

}  // namespace ecpo::tok
