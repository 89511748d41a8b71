// Caller tags for accounting: which episode, turn and preference pair an LLM call belongs to.
// Set by the caller with a CallContextScope on the thread that makes the calls (one episode runs on one
// thread); the accounting wrapper reads it. It carries no behaviour: it never changes what a model answers
// and is not part of the cache key.
#pragma once
#include <string>

namespace ecpo::llm {

struct CallContext {
  std::string episode_id;
  int turn = -1;        // -1: not inside a turn
  std::string pair_id;  // preference-pair id (rewriter / judge calls), "" otherwise
  bool repair = false;  // set by structured output for its one re-ask
};

// The context of the calling thread (empty when no scope is active).
const CallContext& current_call_context();

// RAII: installs `ctx` for this thread and restores the previous one on destruction (scopes nest).
class CallContextScope {
 public:
  explicit CallContextScope(CallContext ctx);
  ~CallContextScope();
  CallContextScope(const CallContextScope&) = delete;
  CallContextScope& operator=(const CallContextScope&) = delete;

 private:
  CallContext saved_;
};

}  // namespace ecpo::llm
