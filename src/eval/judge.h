// The judge role (protocol §8): compares two conversations per criterion (flexibility, coherence, guidance,
// overall) or two candidate next steps of one conversation (better, information_fidelity, coherence), each
// verdict "1", "2" or "tie" for the item shown first / second. Two implementations behind one interface:
//   llm        the `judge` role; prompts/eval/<domain>/judge-system.txt + judge.txt / judge-pair.txt;
//              structured output; each attempt of a retry uses its own seed (a cached bad reply is not replayed)
//   heuristic  no model: every assistant reply re-rated with the offline EC rules (sim::rate_ec_heuristic),
//              means compared per criterion; step pairs by those rules plus word support (fidelity) and
//              overlap with the user's last message (coherence). Order-independent by construction.
// The drivers (wr.h) run both orders, retry failures and aggregate.
#pragma once
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "llm/chat-model.h"
#include "sim/dialogue.h"

namespace ecpo::eval {

// "flexibility", "coherence", "guidance", "overall".
const std::vector<std::string>& wr_criteria();
// "better", "information_fidelity", "coherence".
const std::vector<std::string>& pair_criteria();

// One judgement in one order: criterion → "1" | "2" | "tie".
struct Comparison {
  std::map<std::string, std::string> pick;
  std::string reason;
};

// Two candidate next steps of one conversation.
struct StepView {
  sim::Dialogue dialogue;  // what the user saw before the step
  std::string state;       // the agent's log (scratchpad) when it answered
  std::string first, second;
  std::string first_act, second_act;  // ask | recommend | response | search | reply (free text)
};

struct JudgeCall {
  std::string id;   // pair/task id for the call log
  int attempt = 0;  // 0 first, 1.. retries
};

class Judge {
 public:
  virtual ~Judge() = default;
  // nullopt (and `error` set) when no valid verdict came back. Thread-safe.
  virtual std::optional<Comparison> compare_dialogues(const sim::Dialogue& first, const sim::Dialogue& second,
                                                      const JudgeCall& call, std::string* error) = 0;
  virtual std::optional<Comparison> compare_steps(const StepView& v, const JudgeCall& call, std::string* error) = 0;
  virtual std::string label() const = 0;  // "llm:<model>" | "heuristic"
  virtual bool heuristic() const = 0;
};

// The reply schemas.
const nlohmann::json& judge_schema();
const nlohmann::json& judge_pair_schema();

// The rendered prompts (exposed for tests).
std::vector<llm::Message> judge_messages(const std::string& domain, const sim::Dialogue& first, const sim::Dialogue& second);
std::vector<llm::Message> judge_pair_messages(const std::string& domain, const StepView& v);

std::unique_ptr<Judge> make_llm_judge(std::shared_ptr<llm::ChatModel> model, llm::ChatParams params, std::string domain);
std::unique_ptr<Judge> make_heuristic_judge(std::string domain);

}  // namespace ecpo::eval
