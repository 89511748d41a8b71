// llm/chat-server + openai-wire: the OpenAI-compatible HTTP layer over a scripted ChatModel, exercised over
// loopback with an httplib::Client (free port, bounded timeouts): request parsing, reply shape, error JSON and
// status codes (a malformed request is a 400 naming the field, never a 500), SSE, /v1/models and /health,
// auth, concurrent calls reaching the model at once. No model weights are involved.
#include "llm/chat-server.h"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <future>
#include <mutex>
#include <thread>

#include <httplib.h>

#include "llm/openai-client.h"
#include "llm/sse-client.h"
#include "test-support.h"
#include "util/error.h"

namespace {

using nlohmann::json;
using ecpo::llm::ChatParams;
using ecpo::llm::ChatResult;
using ecpo::llm::Message;
using ecpo::test::content_of;
using ecpo::test::SseReply;
using ecpo::test::stream_post;

// Echoes the last user message reversed, records what it was asked, honours max_tokens as a "length" cut.
class ScriptedChatModel : public ecpo::llm::ChatModel {
 public:
  ChatResult chat(const std::vector<Message>& messages, const ChatParams& params) override {
    std::lock_guard lock(mu_);
    last_messages = messages;
    last_params = params;
    ++calls;
    if (!messages.empty() && messages.back().content == "please fail")
      throw ecpo::llm::ChatError(ecpo::llm::FailureKind::other, "scripted failure");
    ChatResult r;
    if (messages.back().content == "cut utf8") {  // a reply cut inside a multi-byte character
      r.text = "caf\xC3";
      r.finish_reason = "length";
      return r;
    }
    std::string text(messages.back().content.rbegin(), messages.back().content.rend());
    r.finish_reason = "stop";
    if (static_cast<int>(text.size()) > params.max_tokens) {
      text.resize(params.max_tokens);
      r.finish_reason = "length";
    }
    r.text = text;
    r.usage.prompt_tokens = static_cast<std::int64_t>(messages.size()) * 10;
    r.usage.completion_tokens = static_cast<std::int64_t>(r.text.size());
    return r;
  }
  std::string model_name() const override { return "scripted"; }

  std::mutex mu_;
  std::vector<Message> last_messages;
  ChatParams last_params;
  int calls = 0;
};

// Streams "tok0 tok1 …" until on_delta answers false (or a cap), then reports how it ended.
// "fail" fails before any text; "fail later" fails after two pieces.
class EndlessModel : public ecpo::llm::ChatModel {
 public:
  ChatResult chat(const std::vector<Message>& messages, const ChatParams& params) override {
    const std::string& q = messages.back().content;
    if (q == "fail") throw ecpo::llm::ChatError(ecpo::llm::FailureKind::other, "scripted failure");
    ChatResult r;
    r.finish_reason = "length";
    for (int i = 0; i < 100000; ++i) {
      if (q == "fail later" && i == 2) throw ecpo::llm::ChatError(ecpo::llm::FailureKind::other, "broke midway");
      std::string piece = "tok" + std::to_string(i) + " ";
      r.text += piece;
      ++r.usage.completion_tokens;
      if (params.on_delta && !params.on_delta(piece)) {
        r.finish_reason = "cancelled";
        break;
      }
      std::this_thread::sleep_for(std::chrono::microseconds(200));  // pace only; nothing asserts on time
    }
    finished.set_value(r);
    return r;
  }
  std::string model_name() const override { return "endless"; }
  std::promise<ChatResult> finished;
};

std::unique_ptr<ecpo::llm::ChatServer> serve(ecpo::llm::ChatModel& m, ecpo::llm::ServeOptions o = {}) {
  o.port = 0;
  o.keep_alive_timeout_s = 1;
  auto s = std::make_unique<ecpo::llm::ChatServer>(m, o);
  s->start();
  return s;
}

class ServeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ecpo::llm::ServeOptions o;
    o.port = 0;
    o.model_id = "tiny-test";
    o.keep_alive_timeout_s = 1;  // stop() waits for idle keep-alive connections (the llm client keeps one)
    server = std::make_unique<ecpo::llm::ChatServer>(model, o);
    server->start();
    client = std::make_unique<httplib::Client>("127.0.0.1", server->port());
    client->set_connection_timeout(5, 0);
    client->set_read_timeout(10, 0);
  }
  void TearDown() override { server->stop(); }

  httplib::Result post(const json& body) { return client->Post("/v1/chat/completions", body.dump(), "application/json"); }

  ScriptedChatModel model;
  std::unique_ptr<ecpo::llm::ChatServer> server;
  std::unique_ptr<httplib::Client> client;
};

TEST_F(ServeTest, ChatCompletionShapeAndParams) {
  json body = {{"model", "tiny-test"},
               {"messages", {{{"role", "system"}, {"content", "be brief"}}, {{"role", "user"}, {"content", "hello"}}}},
               {"temperature", 0.7},
               {"top_p", 0.9},
               {"max_tokens", 64},
               {"stop", "\n"},
               {"seed", 42}};
  auto r = post(body);
  ASSERT_TRUE(r) << httplib::to_string(r.error());
  ASSERT_EQ(r->status, 200) << r->body;
  json j = json::parse(r->body);
  EXPECT_EQ(j["object"], "chat.completion");
  EXPECT_EQ(j["model"], "tiny-test");
  EXPECT_TRUE(j["id"].get<std::string>().rfind("chatcmpl-", 0) == 0);
  EXPECT_GT(j["created"].get<std::int64_t>(), 1'600'000'000);
  ASSERT_EQ(j["choices"].size(), 1u);
  EXPECT_EQ(j["choices"][0]["index"], 0);
  EXPECT_EQ(j["choices"][0]["message"]["role"], "assistant");
  EXPECT_EQ(j["choices"][0]["message"]["content"], "olleh");
  EXPECT_EQ(j["choices"][0]["finish_reason"], "stop");
  EXPECT_EQ(j["usage"]["prompt_tokens"], 20);
  EXPECT_EQ(j["usage"]["completion_tokens"], 5);
  EXPECT_EQ(j["usage"]["total_tokens"], 25);

  ASSERT_EQ(model.last_messages.size(), 2u);
  EXPECT_EQ(model.last_messages[0].role, "system");
  EXPECT_EQ(model.last_messages[0].content, "be brief");
  EXPECT_DOUBLE_EQ(model.last_params.temperature, 0.7);
  EXPECT_DOUBLE_EQ(model.last_params.top_p, 0.9);
  EXPECT_EQ(model.last_params.max_tokens, 64);
  EXPECT_EQ(model.last_params.stop, std::vector<std::string>{"\n"});
  ASSERT_TRUE(model.last_params.seed.has_value());
  EXPECT_EQ(*model.last_params.seed, 42u);
}

TEST_F(ServeTest, StopListContentPartsAndLengthFinish) {
  json body = {{"messages", {{{"role", "user"}, {"content", {{{"type", "text"}, {"text", "abc"}}, {{"type", "text"}, {"text", "def"}}}}}}},
               {"stop", {"x", "y"}},
               {"max_completion_tokens", 4}};
  auto r = post(body);
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  json j = json::parse(r->body);
  EXPECT_EQ(j["model"], "tiny-test");  // absent model → the served one
  EXPECT_EQ(j["choices"][0]["message"]["content"], "fedc");
  EXPECT_EQ(j["choices"][0]["finish_reason"], "length");
  EXPECT_EQ(model.last_messages[0].content, "abcdef");
  EXPECT_EQ(model.last_params.stop, (std::vector<std::string>{"x", "y"}));
  EXPECT_EQ(model.last_params.max_tokens, 4);
}

TEST_F(ServeTest, JsonSchemaIsPassedThrough) {
  json schema = {{"type", "object"}, {"properties", {{"a", {{"type", "string"}}}}}};
  json body = {{"messages", {{{"role", "user"}, {"content", "q"}}}},
               {"response_format", {{"type", "json_schema"}, {"json_schema", {{"name", "act"}, {"schema", schema}}}}}};
  auto r = post(body);
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  EXPECT_EQ(model.last_params.json_schema, schema);
  EXPECT_EQ(model.last_params.schema_name, "act");
}

void expect_error(const httplib::Result& r, int status, const std::string& message_part) {
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, status) << r->body;
  json j = json::parse(r->body);
  ASSERT_TRUE(j.contains("error")) << r->body;
  EXPECT_TRUE(j["error"]["message"].is_string());
  EXPECT_TRUE(j["error"]["type"].is_string());
  EXPECT_TRUE(j["error"].contains("code"));
  EXPECT_NE(j["error"]["message"].get<std::string>().find(message_part), std::string::npos) << r->body;
}

TEST_F(ServeTest, BadRequestsGiveOpenAIErrors) {
  expect_error(client->Post("/v1/chat/completions", "{not json", "application/json"), 400, "not valid JSON");
  expect_error(post(json{{"model", "tiny-test"}}), 400, "messages");
  expect_error(post(json{{"messages", json::array()}}), 400, "messages");
  expect_error(post(json{{"messages", {{{"role", "tool"}, {"content", "x"}}}}}), 400, "role");
  expect_error(post(json{{"messages", {{{"role", "user"}, {"content", "x"}}}}, {"temperature", "hot"}}), 400,
               "temperature");
  expect_error(post(json{{"messages", {{{"role", "user"}, {"content", "x"}}}}, {"temperature", 3.0}}), 400,
               "temperature");
  expect_error(post(json{{"messages", {{{"role", "user"}, {"content", "x"}}}}, {"max_tokens", 0}}), 400,
               "max_tokens");
  expect_error(post(json{{"messages", {{{"role", "user"}, {"content", "x"}}}}, {"stop", 5}}), 400, "stop");
  expect_error(post(json{{"messages", {{{"role", "user"}, {"content", "x"}}}}, {"n", 2}}), 400, "n = 1");
  auto r = post(json{{"model", "gpt-9"}, {"messages", {{{"role", "user"}, {"content", "x"}}}}});
  expect_error(r, 404, "gpt-9");
  EXPECT_EQ(json::parse(r->body)["error"]["code"], "model_not_found");
  expect_error(client->Get("/v1/nothing"), 404, "unknown path");
  EXPECT_EQ(model.calls, 0);  // none of those reached the model
}

TEST_F(ServeTest, ModelFailureIs500) {
  expect_error(post(json{{"messages", {{{"role", "user"}, {"content", "please fail"}}}}}), 500, "scripted failure");
}

TEST_F(ServeTest, InvalidUtf8FromTheModelIsReplaced) {
  auto r = post(json{{"messages", {{{"role", "user"}, {"content", "cut utf8"}}}}});
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  EXPECT_EQ(json::parse(r->body)["choices"][0]["message"]["content"], "caf\xEF\xBF\xBD");
  auto s = post(json{{"messages", {{{"role", "user"}, {"content", "cut utf8"}}}}, {"stream", true}});
  ASSERT_TRUE(s);
  EXPECT_EQ(s->status, 200);
  EXPECT_NE(s->body.find("caf\xEF\xBF\xBD"), std::string::npos) << s->body;
}

TEST_F(ServeTest, ModelsAndHealth) {
  auto r = client->Get("/v1/models");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200);
  json j = json::parse(r->body);
  EXPECT_EQ(j["object"], "list");
  ASSERT_EQ(j["data"].size(), 1u);
  EXPECT_EQ(j["data"][0]["id"], "tiny-test");
  EXPECT_EQ(j["data"][0]["object"], "model");
  auto one = client->Get("/v1/models/tiny-test");
  ASSERT_TRUE(one);
  EXPECT_EQ(one->status, 200);
  expect_error(client->Get("/v1/models/other"), 404, "other");
  auto h = client->Get("/health");
  ASSERT_TRUE(h);
  EXPECT_EQ(h->status, 200);
  EXPECT_EQ(json::parse(h->body)["status"], "ok");
}

TEST_F(ServeTest, StreamingReplaysAsSse) {
  json body = {{"messages", {{{"role", "user"}, {"content", "stream me"}}}},
               {"stream", true},
               {"stream_options", {{"include_usage", true}}}};
  auto r = post(body);
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  EXPECT_NE(r->get_header_value("Content-Type").find("text/event-stream"), std::string::npos);
  // Split "data: ...\n\n" events.
  std::vector<std::string> events;
  std::size_t pos = 0;
  while (pos < r->body.size()) {
    std::size_t end = r->body.find("\n\n", pos);
    ASSERT_NE(end, std::string::npos) << r->body;
    std::string ev = r->body.substr(pos, end - pos);
    ASSERT_EQ(ev.rfind("data: ", 0), 0u) << ev;
    events.push_back(ev.substr(6));
    pos = end + 2;
  }
  ASSERT_GE(events.size(), 4u);
  EXPECT_EQ(events.back(), "[DONE]");
  std::string content, finish;
  std::string id;
  bool saw_usage = false;
  for (std::size_t i = 0; i + 1 < events.size(); ++i) {
    json c = json::parse(events[i]);
    EXPECT_EQ(c["object"], "chat.completion.chunk");
    if (id.empty()) id = c["id"];
    EXPECT_EQ(c["id"], id);
    if (c.contains("usage")) {
      saw_usage = true;
      EXPECT_EQ(c["usage"]["completion_tokens"], 9);
      continue;
    }
    const json& ch = c["choices"][0];
    if (ch["delta"].contains("content")) content += ch["delta"]["content"].get<std::string>();
    if (!ch["finish_reason"].is_null()) finish = ch["finish_reason"];
  }
  EXPECT_EQ(content, "em maerts");
  EXPECT_EQ(finish, "stop");
  EXPECT_TRUE(saw_usage);
}

TEST_F(ServeTest, ConcurrentRequests) {
  std::vector<std::thread> ts;
  std::atomic<int> ok{0};
  for (int t = 0; t < 4; ++t) {
    ts.emplace_back([&, t] {
      httplib::Client c("127.0.0.1", server->port());
      c.set_read_timeout(10, 0);
      for (int i = 0; i < 5; ++i) {
        std::string msg = "m" + std::to_string(t) + "-" + std::to_string(i);
        auto r = c.Post("/v1/chat/completions", json{{"messages", {{{"role", "user"}, {"content", msg}}}}}.dump(),
                        "application/json");
        if (r && r->status == 200 &&
            json::parse(r->body)["choices"][0]["message"]["content"] == std::string(msg.rbegin(), msg.rend()))
          ++ok;
      }
    });
  }
  for (auto& t : ts) t.join();
  EXPECT_EQ(ok.load(), 20);
}

// The project's own OpenAI client (llm/) talks to the server like to any OpenAI-compatible endpoint.
TEST_F(ServeTest, ProjectOpenAiClientRoundTrip) {
  ecpo::llm::OpenAiOptions o;
  o.base_urls = {"http://127.0.0.1:" + std::to_string(server->port()) + "/v1"};
  o.model = "tiny-test";
  o.timeout_ms = 10000;
  ecpo::llm::OpenAiClient c(o);
  EXPECT_EQ(c.list_models(0), std::vector<std::string>{"tiny-test"});
  ChatParams p;
  p.max_tokens = 100;
  p.stop = {"zz"};
  p.seed = 5;
  auto r = c.chat({{"system", "s"}, {"user", "round trip"}}, p);
  EXPECT_EQ(r.text, "pirt dnuor");
  EXPECT_EQ(r.finish_reason, "stop");
  EXPECT_EQ(r.usage.prompt_tokens, 20);
  EXPECT_EQ(r.usage.completion_tokens, 10);
  EXPECT_EQ(model.last_params.stop, std::vector<std::string>{"zz"});
  EXPECT_EQ(model.last_params.max_tokens, 100);
  ASSERT_TRUE(model.last_params.seed.has_value());
  EXPECT_EQ(*model.last_params.seed, 5u);
}

TEST(ServeParse, DefaultsAndRoles) {
  auto req = ecpo::llm::parse_chat_request(json{{"messages", {{{"role", "developer"}, {"content", "s"}}, {{"role", "user"}, {"content", nullptr}}}}});
  EXPECT_EQ(req.messages[0].role, "system");
  EXPECT_EQ(req.messages[1].content, "");
  EXPECT_DOUBLE_EQ(req.params.temperature, 1.0);  // OpenAI's default
  EXPECT_DOUBLE_EQ(req.params.top_p, 1.0);
  EXPECT_EQ(req.params.max_tokens, 512);
  EXPECT_FALSE(req.params.seed.has_value());
  EXPECT_FALSE(req.stream);
  EXPECT_TRUE(req.params.json_schema.is_null());
}

TEST(ServeServer, SecondBindOnSamePortFails) {
  ScriptedChatModel m;
  ecpo::llm::ServeOptions o;
  o.port = 0;
  ecpo::llm::ChatServer a(m, o);
  int port = a.bind();
  o.port = port;
  ecpo::llm::ChatServer b(m, o);
  EXPECT_THROW(b.bind(), ecpo::Error);
  EXPECT_EQ(b.model_id(), "scripted");
}

TEST(ServeStream, NonStreamingModelSendsItsReplyAsOneChunk) {
  class Whole : public ecpo::llm::ChatModel {
   public:
    ChatResult chat(const std::vector<Message>&, const ChatParams&) override {
      ChatResult r;
      r.text = "all at once";
      r.finish_reason = "stop";
      return r;
    }
    std::string model_name() const override { return "whole"; }
  } whole;
  auto server = serve(whole);
  SseReply r = stream_post(server->port(), json{{"messages", {{{"role", "user"}, {"content", "hi"}}}}, {"stream", true}});
  ASSERT_EQ(r.status, 200);
  ASSERT_EQ(r.events.size(), 4u);  // role, content, finish, [DONE] (no usage unless asked)
  EXPECT_EQ(content_of(r.events[1]), "all at once");
  EXPECT_EQ(json::parse(r.events[2])["choices"][0]["finish_reason"], "stop");
  EXPECT_EQ(r.events[3], "[DONE]");
  server->stop();
}

TEST(ServeStream, ClientDisconnectCancelsGeneration) {
  EndlessModel endless;
  auto finished = endless.finished.get_future();
  auto server = serve(endless);
  int contents = 0;
  SseReply r = stream_post(server->port(), json{{"messages", {{{"role", "user"}, {"content", "go"}}}}, {"stream", true}},
                           [&](const std::string& ev) { return content_of(ev).empty() || ++contents < 3; });
  EXPECT_FALSE(r.ok) << "the client dropped the connection";
  ASSERT_EQ(finished.wait_for(std::chrono::seconds(60)), std::future_status::ready) << "generation never ended";
  ChatResult end = finished.get();
  EXPECT_EQ(end.finish_reason, "cancelled");
  EXPECT_LT(end.usage.completion_tokens, 100000);
  server->stop();
}

TEST(ServeStream, ErrorsBeforeAndAfterTheFirstToken) {
  EndlessModel endless;
  auto server = serve(endless);
  // before any text: a plain HTTP error with OpenAI's error JSON
  SseReply before = stream_post(server->port(), json{{"messages", {{{"role", "user"}, {"content", "fail"}}}}, {"stream", true}});
  EXPECT_EQ(before.status, 500);
  ASSERT_FALSE(before.error_body.empty());
  EXPECT_EQ(json::parse(before.error_body)["error"]["message"], "scripted failure");
  // after two pieces: an in-band error event, then [DONE]
  SseReply after =
      stream_post(server->port(), json{{"messages", {{{"role", "user"}, {"content", "fail later"}}}}, {"stream", true}});
  ASSERT_EQ(after.status, 200);
  ASSERT_EQ(after.events.size(), 5u);  // role, tok0, tok1, error, [DONE]
  EXPECT_EQ(content_of(after.events[1]) + content_of(after.events[2]), "tok0 tok1 ");
  EXPECT_EQ(json::parse(after.events[3])["error"]["message"], "broke midway");
  EXPECT_EQ(after.events[4], "[DONE]");
  // bad request bodies are unchanged by streaming
  SseReply bad = stream_post(server->port(), json{{"messages", json::array()}, {"stream", true}});
  EXPECT_EQ(bad.status, 400);
  server->stop();
}

// Every field of a request is type- and range-checked: a wrong type is a 400 naming the field (OpenAI's
// error.param), never a 500 from a JSON library exception, and the model is never called.
TEST_F(ServeTest, MalformedFieldsAre400NamingTheField) {
  const json msgs = {{{"role", "user"}, {"content", "x"}}};
  struct Case {
    json body;
    std::string param;
  };
  const std::vector<Case> cases = {
      {{{"messages", msgs}, {"response_format", {{"type", "json_schema"}, {"json_schema", {{"name", 5}, {"schema", json::object()}}}}}},
       "response_format.json_schema.name"},
      {{{"messages", msgs}, {"response_format", {{"type", "json_schema"}, {"json_schema", {{"schema", "x"}}}}}},
       "response_format.json_schema.schema"},
      {{{"messages", msgs}, {"response_format", {{"type", 3}}}}, "response_format.type"},
      {{{"messages", msgs}, {"stream_options", {{"include_usage", "yes"}}}}, "stream_options.include_usage"},
      {{{"messages", msgs}, {"stream", 1}}, "stream"},
      {{{"messages", {{{"role", 5}, {"content", "x"}}}}}, "messages[0].role"},
      {{{"messages", {{{"content", "x"}}}}}, "messages[0].role"},
      {{{"messages", {1}}}, "messages[0]"},
      {{{"messages", {{{"role", "user"}, {"content", {{{"type", "text"}, {"text", 5}}}}}}}}, "messages[0].content[0].text"},
      {{{"messages", {{{"role", "user"}, {"content", 7}}}}}, "messages[0].content"},
      {{{"messages", msgs}, {"seed", 1.5}}, "seed"},
      {{{"messages", msgs}, {"max_tokens", 1e300}}, "max_tokens"},
      {{{"messages", msgs}, {"max_tokens", 18446744073709551615ull}}, "max_tokens"},
      {{{"messages", msgs}, {"top_p", "high"}}, "top_p"},
      {{{"messages", msgs}, {"stop", {"a", 1}}}, "stop[1]"},
      {{{"messages", msgs}, {"n", "2"}}, "n"},
      {{{"messages", msgs}, {"model", 7}}, "model"},
      {{{"messages", msgs}, {"guided_json", "x"}}, "guided_json"},
  };
  for (const auto& c : cases) {
    auto r = post(c.body);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 400) << c.body.dump() << " → " << r->body;
    json e = json::parse(r->body);
    EXPECT_EQ(e["error"]["type"], "invalid_request_error") << r->body;
    EXPECT_EQ(e["error"]["param"], c.param) << c.body.dump() << " → " << r->body;
  }
  // Not JSON at all, JSON that is not an object, and (a fuzzer find, fuzz/README.md) a number beyond double's
  // range, which nlohmann reports as out_of_range rather than parse_error: it used to escape as a 500.
  for (const char* body : {"", "[1,2]", "\"text\"", "{\"messages\": [", "\xff\xfe",
                           "{\"messages\": [{\"role\": \"user\", \"content\": \"x\"}], \"temperature\": -1e3000}"}) {
    auto r = client->Post("/v1/chat/completions", body, "application/json");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 400) << body;
    EXPECT_NO_THROW(json::parse(r->body)) << "the error body itself must be valid JSON: " << r->body;
  }
  EXPECT_EQ(model.calls, 0);
  EXPECT_EQ(server->stats().bad_requests, cases.size() + 6);
}

TEST(ServeParse, GuidedJsonAndJsonObjectSetTheSchema) {
  auto g = ecpo::llm::parse_chat_request(json{{"messages", {{{"role", "user"}, {"content", "s"}}}},
                                              {"guided_json", {{"type", "array"}}}});
  EXPECT_EQ(g.params.json_schema, json({{"type", "array"}}));
  auto o = ecpo::llm::parse_chat_request(std::string_view(
      R"({"messages":[{"role":"user","content":"s"}],"response_format":{"type":"json_object"},"max_completion_tokens":7})"));
  EXPECT_EQ(o.params.json_schema, json({{"type", "object"}}));
  EXPECT_EQ(o.params.max_tokens, 7);
  try {
    ecpo::llm::parse_chat_request(std::string_view("{\"messages\": 1"));
    FAIL();
  } catch (const ecpo::llm::WireError& e) {
    EXPECT_EQ(e.status, 400);
    EXPECT_EQ(e.code, "invalid_json");
  }
}

TEST(ServeAuth, KeyRequiredOnV1ButNotOnHealth) {
  ScriptedChatModel m;
  ecpo::llm::ServeOptions o;
  o.api_key = "sesame";
  auto server = serve(m, o);
  httplib::Client c("127.0.0.1", server->port());
  const std::string body = json{{"messages", {{{"role", "user"}, {"content", "abc"}}}}}.dump();
  auto no = c.Post("/v1/chat/completions", body, "application/json");
  ASSERT_TRUE(no);
  EXPECT_EQ(no->status, 401);
  EXPECT_EQ(json::parse(no->body)["error"]["code"], "invalid_api_key");
  EXPECT_EQ(c.Get("/v1/models")->status, 401);
  EXPECT_EQ(c.Get("/health")->status, 200);
  httplib::Headers h = {{"Authorization", "Bearer sesame"}};
  auto yes = c.Post("/v1/chat/completions", h, body, "application/json");
  ASSERT_TRUE(yes);
  EXPECT_EQ(yes->status, 200);
  EXPECT_EQ(json::parse(yes->body)["choices"][0]["message"]["content"], "cba");
  EXPECT_EQ(server->stats().auth_failures, 2u);
  EXPECT_EQ(m.calls, 1);
  server->stop();
}

// The server calls chat() from its worker threads at the same time (a model with continuous batching relies
// on it): 4 requests meet inside chat() at once. A server that serialised calls would time out the barrier.
TEST(ServeConcurrency, ChatCallsReachTheModelAtOnce) {
  class Barrier : public ecpo::llm::ChatModel {
   public:
    ChatResult chat(const std::vector<Message>&, const ChatParams&) override {
      std::unique_lock lock(mu);
      ++inside;
      max_inside = std::max(max_inside, inside);
      cv.notify_all();
      met = cv.wait_for(lock, std::chrono::seconds(20), [&] { return max_inside >= 4; }) && met;
      --inside;
      ChatResult r;
      r.text = "met";
      return r;
    }
    std::string model_name() const override { return "barrier"; }
    std::mutex mu;
    std::condition_variable cv;
    int inside = 0, max_inside = 0;
    bool met = true;
  } m;
  auto server = serve(m);
  std::vector<std::thread> ts;
  std::atomic<int> ok{0};
  for (int t = 0; t < 4; ++t)
    ts.emplace_back([&] {
      httplib::Client c("127.0.0.1", server->port());
      c.set_read_timeout(30, 0);
      auto r = c.Post("/v1/chat/completions", json{{"messages", {{{"role", "user"}, {"content", "x"}}}}}.dump(),
                      "application/json");
      if (r && r->status == 200) ++ok;
    });
  for (auto& t : ts) t.join();
  EXPECT_EQ(ok.load(), 4);
  EXPECT_EQ(m.max_inside, 4);
  EXPECT_TRUE(m.met);
  EXPECT_EQ(server->stats().max_in_flight, 4);
  server->stop();
}

}  // namespace
