// parse_chat_reply (SAX) against the same fields read from the full nlohmann tree — the way the client read
// replies before — over real-shaped replies and hostile ones: duplicate keys, wrong types, choices in other
// positions, nested arrays, null content, non-object roots, malformed JSON.
#include "llm/chat-reply.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

using ecpo::llm::ChatReplyFields;
using ecpo::llm::parse_chat_reply;

namespace {

// The reference: read the tree (nlohmann keeps the last of duplicate keys).
ChatReplyFields from_tree(const std::string& body) {
  ChatReplyFields f;
  auto j = nlohmann::json::parse(body, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return f;
  f.json_ok = true;
  const nlohmann::json* choice = nullptr;
  if (j.contains("choices") && j["choices"].is_array() && !j["choices"].empty() && j["choices"][0].is_object())
    choice = &j["choices"][0];
  const nlohmann::json* msg = choice && choice->contains("message") ? &(*choice)["message"] : nullptr;
  if (msg && msg->is_object() && msg->contains("content") &&
      ((*msg)["content"].is_string() || (*msg)["content"].is_null())) {
    f.has_content = true;
    if ((*msg)["content"].is_string()) f.content = (*msg)["content"];
  }
  if (choice && choice->contains("finish_reason") && (*choice)["finish_reason"].is_string())
    f.finish_reason = (*choice)["finish_reason"];
  if (j.contains("usage") && j["usage"].is_object()) {
    const auto& u = j["usage"];
    // Counts are clamped to [0, 2^63): a negative or overflowing count must not become a negative cost.
    auto count = [](const nlohmann::json& v) -> std::int64_t {
      if (v.is_number_unsigned()) return v.get<std::uint64_t>() > INT64_MAX ? INT64_MAX : v.get<std::int64_t>();
      return std::max<std::int64_t>(0, v.get<std::int64_t>());
    };
    if (u.contains("prompt_tokens") && u["prompt_tokens"].is_number_integer()) f.prompt_tokens = count(u["prompt_tokens"]);
    if (u.contains("completion_tokens") && u["completion_tokens"].is_number_integer())
      f.completion_tokens = count(u["completion_tokens"]);
  }
  return f;
}

}  // namespace

TEST(ChatReply, SaxFieldsEqualTheTreeOnEveryCase) {
  const std::vector<std::string> bodies = {
      // OpenAI-shaped, vLLM-shaped, llama.cpp-shaped
      R"({"id":"chatcmpl-1","object":"chat.completion","created":1,"model":"gpt-4o-mini","choices":[{"index":0,"message":{"role":"assistant","content":"Try \"Dune\"\nnext.","refusal":null},"logprobs":null,"finish_reason":"stop"}],"usage":{"prompt_tokens":19,"completion_tokens":10,"total_tokens":29,"prompt_tokens_details":{"cached_tokens":0}},"system_fingerprint":"fp"})",
      R"({"choices":[{"finish_reason":"length","index":0,"message":{"content":"é 本 📚","role":"assistant","tool_calls":[]},"stop_reason":null}],"usage":{"completion_tokens":7,"prompt_tokens":3}})",
      R"({"usage":{"prompt_tokens":5},"choices":[{"message":{"content":null,"tool_calls":[{"id":"x","function":{"name":"f","arguments":"{}"}}]},"finish_reason":"tool_calls"}]})",
      // several choices: only the first counts
      R"({"choices":[{"message":{"content":"first"},"finish_reason":"stop"},{"message":{"content":"second"},"finish_reason":"length"}]})",
      R"({"choices":[[{"message":{"content":"nested"}}],{"message":{"content":"second"}}]})",
      R"({"choices":[1,{"message":{"content":"second"}}]})",
      // duplicates: the last one wins
      R"({"choices":[{"message":{"content":"a"}}],"choices":[{"message":{"content":"b"},"finish_reason":"stop"}]})",
      R"({"choices":[{"message":{"content":"a"},"finish_reason":"stop"}],"choices":[{"message":{"role":"x"}}]})",
      R"({"choices":[{"message":{"content":"a","content":null}}]})",
      R"({"choices":[{"message":{"content":"a","content":5}}]})",
      R"({"choices":[{"message":{"content":"a"},"message":{"role":"assistant"}}]})",
      R"({"choices":[{"finish_reason":"stop","finish_reason":7,"message":{"content":"a"}}]})",
      R"({"usage":{"prompt_tokens":1,"prompt_tokens":2.5,"completion_tokens":3},"choices":[{"message":{"content":""}}]})",
      R"({"usage":{"prompt_tokens":1},"usage":{"completion_tokens":4},"choices":[{"message":{"content":"x"}}]})",
      // wrong types
      R"({"choices":{"message":{"content":"not an array"}}})",
      R"({"choices":[{"message":"text"}]})",
      R"({"choices":[{"message":["a"]}]})",
      R"({"choices":[{"message":{"content":{"text":"obj"}}}]})",
      R"({"choices":[{"message":{"content":["part"]}}],"usage":[1,2]})",
      R"({"choices":[],"usage":{"prompt_tokens":-3,"completion_tokens":18446744073709551615}})",
      R"({"choices":[{"message":{"content":"x"},"finish_reason":null}],"usage":{"prompt_tokens":"9"}})",
      R"({"choices":[{"message":{"content":"x"}}],"usage":"none"})",
      // the wanted keys in unwanted places
      R"({"data":{"choices":[{"message":{"content":"deep"}}],"usage":{"prompt_tokens":1}},"choices":[{"message":{"content":"top"}}]})",
      R"({"choices":[{"delta":{"content":"stream chunk"},"message":{"other":{"content":"no"}}}]})",
      // not an object, or not JSON
      R"([{"choices":[{"message":{"content":"array root"}}]}])", R"("just a string")", R"(42)", R"(null)",
      R"({"choices":[{"message":{"content":"truncated")", R"({"choices":[{"message":{"content":"x"}}]} trailing)", "",
      R"({"choices":[{"message":{"content":"x"}}],})"};
  for (const auto& b : bodies) {
    const ChatReplyFields want = from_tree(b), got = parse_chat_reply(b);
    EXPECT_EQ(got.json_ok, want.json_ok) << b;
    EXPECT_EQ(got.has_content, want.has_content) << b;
    EXPECT_EQ(got.content, want.content) << b;
    EXPECT_EQ(got.finish_reason, want.finish_reason) << b;
    EXPECT_EQ(got.prompt_tokens, want.prompt_tokens) << b;
    EXPECT_EQ(got.completion_tokens, want.completion_tokens) << b;
  }
  // a plain case with hand-checked values, so the reference itself is pinned
  auto f = parse_chat_reply(bodies[0]);
  EXPECT_EQ(f.content, "Try \"Dune\"\nnext.");
  EXPECT_EQ(f.finish_reason, "stop");
  EXPECT_EQ(f.prompt_tokens, 19);
  EXPECT_EQ(f.completion_tokens, 10);
}
