// Helpers for the llm tests: an in-process scripted ChatModel (no HTTP) and a client factory pointed at a
// FakeServer on loopback with small timeouts and backoff so fault tests stay fast.
#pragma once
#include <mutex>
#include <string>
#include <vector>

#include "llm/chat-model.h"
#include "llm/fake-server.h"
#include "llm/openai-client.h"

namespace ecpo::llm::test {

// Replies with `replies` in order (the last one repeats); records every request it saw.
class ScriptedModel : public ChatModel {
 public:
  explicit ScriptedModel(std::vector<std::string> replies, std::string name = "scripted")
      : replies_(std::move(replies)), name_(std::move(name)) {}
  ChatResult chat(const std::vector<Message>& messages, const ChatParams& params) override {
    std::lock_guard lk(mu_);
    seen_.push_back(messages);
    ChatResult r;
    r.text = replies_[std::min(calls_, replies_.size() - 1)];
    calls_++;
    r.finish_reason = "stop";
    r.usage = {10, 5};
    r.endpoint = "mem://scripted";
    return r;
  }
  std::string model_name() const override { return name_; }
  std::size_t calls() const {
    std::lock_guard lk(mu_);
    return calls_;
  }
  std::vector<std::vector<Message>> seen() const {
    std::lock_guard lk(mu_);
    return seen_;
  }

 private:
  std::vector<std::string> replies_;
  std::string name_;
  mutable std::mutex mu_;
  std::size_t calls_ = 0;
  std::vector<std::vector<Message>> seen_;
};

// Options for a client on `servers` with test-sized timeouts and backoff.
inline OpenAiOptions fast_options(const std::vector<const FakeServer*>& servers, const std::string& model = "fake-model") {
  OpenAiOptions o;
  o.label = "test";
  for (const auto* s : servers) o.base_urls.push_back(s->base_url());
  o.model = model;
  o.timeout_ms = 400;
  o.connect_timeout_ms = 400;
  o.max_concurrency = 32;
  o.retry.max_attempts = 4;
  o.retry.base_ms = 2;
  o.retry.max_ms = 50;
  return o;
}

}  // namespace ecpo::llm::test
