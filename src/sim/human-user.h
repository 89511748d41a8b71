// A person as the user (`ecpo chat`): reads utterances from a stream, and after each agent reply may give
// an EC score 0–5 with a reason (rater "human"; the three dimensions are left null). "/end" or end of input
// ends the conversation. Same UserSimulator interface, so a chat is stored like a simulated episode.
#pragma once
#include <istream>
#include <memory>
#include <ostream>

#include "sim/user-sim.h"

namespace ecpo::sim {

// `ask_scores`: prompt for a score after every agent reply (Enter skips).
std::unique_ptr<UserSimulator> make_human_user(std::istream& in, std::ostream& out, bool ask_scores);

}  // namespace ecpo::sim
