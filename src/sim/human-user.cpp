// The human user of `ecpo chat` (see human-user.h). Terminal wording is plain text here: it is UI, not a
// prompt any model reads.
#include "sim/human-user.h"

#include <string>

#include "util/error.h"
#include "util/text.h"

namespace ecpo::sim {

namespace {

class HumanUser : public UserSimulator {
 public:
  HumanUser(std::istream& in, std::ostream& out, bool ask_scores) : in_(in), out_(out), ask_scores_(ask_scores) {}
  std::string kind() const override { return "human"; }

  UserStep open() override {
    UserStep s;
    s.policy = kPolicyAskForRecommendation;
    if (!read("you> ", s.utterance) || s.utterance == "/end")
      throw Error("the conversation ended before it began", "stdin", "type a first message to the agent");
    return s;
  }

  UserStep respond(const Dialogue& dialogue, int turn) override {
    UserStep s;
    s.ec = rate(dialogue, turn);
    std::string line;
    if (!read("you> ", line) || starts_with(line, "/end")) {
      s.policy = kPolicyEnd;
      s.end = true;
      s.utterance = trim(line.size() > 4 ? line.substr(4) : "");
      return s;
    }
    const std::string& act = dialogue.back().act;
    s.policy = act == "recommend" ? kPolicyFeedback : act == "ask" ? kPolicyClarify : kPolicyAskForRecommendation;
    s.utterance = line;
    return s;
  }

  std::optional<EcScore> rate(const Dialogue& dialogue, int turn) override {
    if (!ask_scores_) return std::nullopt;
    for (;;) {
      std::string line;
      if (!read("score 0-5 (Enter skips)> ", line) || line.empty()) return std::nullopt;
      if (line.size() == 1 && line[0] >= '0' && line[0] <= '5') {
        EcScore e;
        e.flexibility = e.coherence = e.guidance = -1;
        e.score = line[0] - '0';
        e.rater = "human";
        read("reason> ", e.reason);
        return e;
      }
      out_ << "a score is one digit from 0 to 5\n";
    }
  }

 private:
  bool read(const char* prompt, std::string& line) {
    out_ << prompt << std::flush;
    if (!std::getline(in_, line)) return false;
    line = trim(line);
    return true;
  }

  std::istream& in_;
  std::ostream& out_;
  bool ask_scores_;
};

}  // namespace

std::unique_ptr<UserSimulator> make_human_user(std::istream& in, std::ostream& out, bool ask_scores) {
  return std::make_unique<HumanUser>(in, out, ask_scores);
}

}  // namespace ecpo::sim
