// `ecpo persona build`: one persona per user of a task set (tasks DIR/users.jsonl, file order), by the
// persona LLM role or offline rules, `concurrency` users at a time. Resumable: each finished persona is
// appended (and flushed) to OUT.partial; a rerun reads it and builds only the rest; when every user is
// done the personas are written to OUT in user order (atomic) and the partial file is removed. A finished
// OUT that already covers the users makes a rerun do nothing.
#pragma once
#include <cstddef>
#include <filesystem>
#include <string>
#include <vector>

#include "llm/roles.h"

namespace ecpo::sim {

struct PersonaBuildOptions {
  std::filesystem::path tasks;   // users.jsonl + items.jsonl
  std::filesystem::path out;     // personas.jsonl
  std::size_t limit = 0;         // first N users; 0 = all
  std::size_t concurrency = 8;
  bool offline = false;          // rules instead of the persona role
  std::size_t token_budget = 3000;  // review history shown to the role
  std::string domain;            // "" = the item database's domain
};

struct PersonaBuildSummary {
  std::size_t users = 0, built = 0, kept = 0, failed = 0;
  std::vector<std::string> failures;  // "user_id: reason"
  bool complete = false;              // OUT written
};

// `roles` is needed unless options.offline (may be null then). Throws ecpo::Error on bad input.
PersonaBuildSummary build_personas(const PersonaBuildOptions& options, llm::RoleSet* roles);

}  // namespace ecpo::sim
