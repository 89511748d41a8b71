// Thread-local storage behind CallContextScope (see call-context.h).
#include "llm/call-context.h"

namespace ecpo::llm {
namespace {
thread_local CallContext tls_context;
}

const CallContext& current_call_context() { return tls_context; }

CallContextScope::CallContextScope(CallContext ctx) : saved_(std::move(tls_context)) { tls_context = std::move(ctx); }

CallContextScope::~CallContextScope() { tls_context = std::move(saved_); }

}  // namespace ecpo::llm
