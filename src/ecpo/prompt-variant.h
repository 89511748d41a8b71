// Re-rendering stored ActCRS / ReAct prompts in the template the fine-tuned agent is served with (protocol
// §9 [D], defect D13): a stored user message is matched against each variant's template
// (prompts/agent/<domain>/{actcrs,react}-<variant>.txt, text before and after {{scratchpad}}), the
// scratchpad between them is kept byte for byte, and the target variant's template is put around it.
// zero-shot ⇄ few-shot convert exactly; compact renders a different scratchpad, so it converts to nothing
// else. Prompts of agents without these templates (chatrec, macrs) pass through unchanged.
#pragma once
#include <string>
#include <vector>

#include "llm/chat-model.h"

namespace ecpo::pref {

class PromptConverter {
 public:
  // `target` is zero-shot | few-shot | compact | as-run (as-run: never convert).
  PromptConverter(std::string domain, std::string target);

  // The messages of one agent step of kind `step_kind` (action | thought_action | rule | ...) in the target
  // variant. `from` receives the variant they were in ("" when no template matched). Throws ecpo::Error
  // when the conversion is impossible (compact ⇄ other), naming `where`.
  std::vector<llm::Message> convert(const std::vector<llm::Message>& messages, const std::string& step_kind,
                                    const std::string& where, std::string* from = nullptr) const;

  const std::string& target() const { return target_; }

 private:
  std::string domain_, target_;
};

// "zero-shot", "few-shot", "compact", "as-run".
const std::vector<std::string>& prompt_targets();

}  // namespace ecpo::pref
