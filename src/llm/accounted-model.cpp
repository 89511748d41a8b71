// One CallRecord per call (see accounted-model.h).
#include "llm/accounted-model.h"

#include <chrono>

#include "llm/call-context.h"

namespace ecpo::llm {

AccountedChatModel::AccountedChatModel(std::shared_ptr<ChatModel> inner, std::string role,
                                       std::shared_ptr<CallSink> sink, std::shared_ptr<const PriceTable> prices)
    : inner_(std::move(inner)), role_(std::move(role)), sink_(std::move(sink)), prices_(std::move(prices)) {}

ChatResult AccountedChatModel::chat(const std::vector<Message>& messages, const ChatParams& params) {
  auto sink = sink_;
  if (!sink) return inner_->chat(messages, params);
  const auto& ctx = current_call_context();
  CallRecord rec;
  rec.ts_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                  std::chrono::system_clock::now().time_since_epoch())
                  .count();
  rec.role = role_;
  rec.model = inner_->model_name();
  rec.episode_id = ctx.episode_id;
  rec.turn = ctx.turn;
  rec.pair_id = ctx.pair_id;
  rec.repair = ctx.repair;
  auto t0 = std::chrono::steady_clock::now();
  try {
    ChatResult r = inner_->chat(messages, params);
    rec.endpoint = r.endpoint;
    rec.prompt_tokens = r.usage.prompt_tokens;
    rec.completion_tokens = r.usage.completion_tokens;
    rec.latency_ms = r.latency_ms;
    rec.retries = r.retries;
    rec.cache_hit = r.cache_hit;
    rec.http_status = r.cache_hit ? 0 : 200;
    if (!r.cache_hit && prices_)
      if (auto c = prices_->cost(rec.model, r.usage)) rec.cost_usd = *c;
    sink->record(rec);
    return r;
  } catch (const ChatError& e) {
    rec.endpoint = e.endpoint();
    rec.latency_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    rec.retries = std::max(0, e.attempts() - 1);
    rec.error = failure_kind_name(e.kind());
    rec.http_status = e.http_status();
    sink->record(rec);
    throw;
  } catch (const std::exception&) {
    rec.latency_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    rec.error = "other";
    sink->record(rec);
    throw;
  }
}

}  // namespace ecpo::llm
