// `ecpo llm check`: for every role and each of its endpoints, reach the server, confirm the model is
// listed by GET /models, make one structured-output call (prompts/llm/check-probe.txt) and time it, so a
// bad URL, key or model shows up before a long run. Roles that share endpoint and model are probed once.
// One attempt per probe (no retries), no cache, no accounting. Never prints or returns the key.
#pragma once
#include <string>
#include <vector>

#include "llm/roles.h"

namespace ecpo::llm {

struct CheckResult {
  std::string role, endpoint, model;
  bool ok = false;
  bool model_listed = false;   // false also when the server has no /models (see `note`)
  bool structured_ok = false;  // the probe reply parsed and matched its schema
  double models_ms = 0, chat_ms = 0;
  std::string message;  // one line: what failed and the hint, or "ok"
  std::string note;     // non-fatal remarks (e.g. "GET /models not supported")
};

// Checks `only` (all roles when empty). Never throws for a server problem: it is in the result.
std::vector<CheckResult> check_roles(RoleSet& roles, const std::vector<std::string>& only = {});

}  // namespace ecpo::llm
