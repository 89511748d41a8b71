// Prompt variant conversion (see prompt-variant.h).
#include "ecpo/prompt-variant.h"

#include <algorithm>

#include "agent/actcrs-prompt.h"
#include "sim/prompt-template.h"
#include "util/error.h"
#include "util/text.h"

namespace ecpo::pref {

namespace {

struct Frame {
  std::string prefix, suffix;
};

Frame frame_of(const std::string& domain, const std::string& base, const std::string& variant) {
  const std::string& t = sim::domain_prompt("agent", domain, base + "-" + variant);
  const std::string ph = "{{scratchpad}}";
  auto p = t.find(ph);
  if (p == std::string::npos)
    throw Error("prompt template has no {{scratchpad}}", "prompts/agent/" + domain + "/" + base + "-" + variant + ".txt");
  return {t.substr(0, p), t.substr(p + ph.size())};
}

}  // namespace

const std::vector<std::string>& prompt_targets() {
  static const std::vector<std::string> v = {"zero-shot", "few-shot", "compact", "as-run"};
  return v;
}

PromptConverter::PromptConverter(std::string domain, std::string target) : domain_(std::move(domain)), target_(std::move(target)) {
  const auto& v = prompt_targets();
  if (std::find(v.begin(), v.end(), target_) == v.end())
    throw Error("unknown prompt variant '" + target_ + "'", "--prompt", "use zero-shot, few-shot, compact or as-run");
}

std::vector<llm::Message> PromptConverter::convert(const std::vector<llm::Message>& msgs, const std::string& kind,
                                                   const std::string& where, std::string* from) const {
  if (from) from->clear();
  std::string base;
  if (kind == "action" || kind == "rule") base = "actcrs";
  else if (kind == "thought_action") base = "react";
  if (base.empty() || msgs.size() != 2 || msgs[0].role != "system" || msgs[1].role != "user") return msgs;
  const std::string& user = msgs[1].content;
  std::string found, scratchpad;
  // Longest prefix first: few-shot's prefix extends zero-shot's.
  std::vector<std::pair<std::string, Frame>> frames;
  for (const auto& v : agent::actcrs_prompt_variants()) frames.emplace_back(v, frame_of(domain_, base, v));
  std::sort(frames.begin(), frames.end(), [](const auto& a, const auto& b) { return a.second.prefix.size() > b.second.prefix.size(); });
  for (const auto& [name, f] : frames)
    if (starts_with(user, f.prefix) && ends_with(user, f.suffix) && user.size() >= f.prefix.size() + f.suffix.size()) {
      found = name;
      scratchpad = user.substr(f.prefix.size(), user.size() - f.prefix.size() - f.suffix.size());
      break;
    }
  if (from) *from = found;
  if (found.empty() || target_ == "as-run" || found == target_) return msgs;
  if (found == "compact" || target_ == "compact")
    throw Error("cannot re-render a " + found + " prompt as " + target_ +
                    " (the compact scratchpad lists older results by title only)",
                where, "pass --prompt " + found + " (and serve the trained agent with agent.prompt=" + found + ")");
  Frame t = frame_of(domain_, base, target_);
  std::vector<llm::Message> out = msgs;
  out[0].content = sim::domain_prompt("agent", domain_, base + "-system");
  out[1].content = t.prefix + scratchpad + t.suffix;
  return out;
}

}  // namespace ecpo::pref
