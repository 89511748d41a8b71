// The accounting decorator: wraps any ChatModel (usually the cached one) and sends one CallRecord per call
// — success, cache hit or failure — to a CallSink, tagged with the role and the caller's CallContext
// (episode, turn, pair), priced by a PriceTable (cache hits cost 0). It never changes a reply or swallows
// an error: failures are recorded, then rethrown.
#pragma once
#include <memory>
#include <string>

#include "llm/call-log.h"
#include "llm/chat-model.h"
#include "llm/price-table.h"

namespace ecpo::llm {

class AccountedChatModel : public ChatModel {
 public:
  // `sink` may be null (nothing recorded); `prices` may be null (cost 0).
  AccountedChatModel(std::shared_ptr<ChatModel> inner, std::string role, std::shared_ptr<CallSink> sink,
                     std::shared_ptr<const PriceTable> prices = nullptr);
  ChatResult chat(const std::vector<Message>& messages, const ChatParams& params) override;
  std::string model_name() const override { return inner_->model_name(); }
  const std::string& role() const { return role_; }
  void set_sink(std::shared_ptr<CallSink> sink) { sink_ = std::move(sink); }

 private:
  std::shared_ptr<ChatModel> inner_;
  std::string role_;
  std::shared_ptr<CallSink> sink_;
  std::shared_ptr<const PriceTable> prices_;
};

}  // namespace ecpo::llm
