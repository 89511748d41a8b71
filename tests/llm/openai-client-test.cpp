// llm/openai-client against the fake server over loopback: replies and usage, request dialects, retries
// on each injected fault, Retry-After, typed failures, load balancing, concurrency caps, and a 20%-fault
// run in which every call ends as a success or a recorded failure.
#include "llm/openai-client.h"

#include <chrono>
#include <thread>

#include "llm/accounted-model.h"
#include "llm/call-log.h"
#include "llm/fake-server.h"
#include "llm/openai-wire.h"
#include "llm-test-util.h"
#include "test-support.h"
#include "util/thread-pool.h"

using namespace ecpo::llm;
using nlohmann::json;

namespace {
double ms_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}
FakeServerOptions faults_only(FakeFault f, double rate = 1.0) {
  FakeServerOptions o;
  o.fault_rate = rate;
  o.faults = {f};
  o.stall_ms = 2000;
  o.retry_after_ms = 5;
  return o;
}
}  // namespace

TEST(OpenAiClient, ReplyUsageAndFinishReason) {
  FakeServer srv({});
  srv.start();
  OpenAiClient c(test::fast_options({&srv}));
  auto r = c.chat({{"system", "be brief"}, {"user", "find me a fantasy novel"}}, {});
  EXPECT_EQ(r.text, "Fake reply to: find me a fantasy novel");
  EXPECT_EQ(r.finish_reason, "stop");
  EXPECT_EQ(r.usage.prompt_tokens, 2 + 5);      // words in the two messages
  EXPECT_EQ(r.usage.completion_tokens, 3 + 5);  // "Fake reply to:" + the five echoed words
  EXPECT_EQ(r.retries, 0);
  EXPECT_EQ(r.endpoint, srv.base_url());
  EXPECT_GT(r.latency_ms, 0);
  ChatParams p;
  p.max_tokens = 3;
  auto cut = c.chat({{"user", "one two three four five"}}, p);
  EXPECT_EQ(cut.text, "Fake reply to:");
  EXPECT_EQ(cut.finish_reason, "length");
  p = {};
  p.stop = {" to"};
  EXPECT_EQ(c.chat({{"user", "x"}}, p).text, "Fake reply");
}

TEST(OpenAiClient, RequestBodyPerStructuredDialect) {
  FakeServer srv({});
  auto o = test::fast_options({&srv});
  o.base_urls = {"http://127.0.0.1:9/v1"};
  ChatParams p;
  p.seed = 42;
  p.json_schema = {{"type", "object"}};
  p.schema_name = "rating";
  o.structured = StructuredMode::json_schema;
  auto b = json::parse(OpenAiClient(o).request_body({{"user", "q"}}, p));
  EXPECT_EQ(b["seed"], 42);
  EXPECT_EQ(b["model"], "fake-model");
  EXPECT_EQ(b["response_format"]["type"], "json_schema");
  EXPECT_EQ(b["response_format"]["json_schema"]["name"], "rating");
  EXPECT_EQ(b["response_format"]["json_schema"]["schema"], p.json_schema);
  o.structured = StructuredMode::guided_json;
  b = json::parse(OpenAiClient(o).request_body({{"user", "q"}}, p));
  EXPECT_EQ(b["guided_json"], p.json_schema);
  EXPECT_FALSE(b.contains("response_format"));
  o.structured = StructuredMode::json_object;
  b = json::parse(OpenAiClient(o).request_body({{"user", "q"}}, p));
  EXPECT_EQ(b["response_format"], json({{"type", "json_object"}}));
  o.structured = StructuredMode::none;
  o.extra_body = {{"top_k", 20}};
  b = json::parse(OpenAiClient(o).request_body({{"user", "q"}}, p));
  EXPECT_FALSE(b.contains("response_format"));
  EXPECT_EQ(b["top_k"], 20);
}

// The request body is written directly (no JSON tree): it must parse to exactly the tree nlohmann would build,
// whatever the text holds (quotes, backslashes, every control character, non-ASCII, emoji) — and invalid UTF-8
// becomes U+FFFD instead of an exception.
TEST(OpenAiClient, DirectRequestBodyEqualsTheJsonTree) {
  OpenAiOptions o;
  o.base_urls = {"http://127.0.0.1:9/v1"};
  o.model = "m\"odel/é";
  std::string controls;
  for (int c = 0; c < 0x20; ++c) controls.push_back(static_cast<char>(c));
  const std::vector<Message> msgs = {{"system", "say \"hi\" \\ back\n\ttab"},
                                     {"user", controls + "\x7f end"},
                                     {"assistant", "Ünïcödé — 本 📚"},
                                     {"user", ""}};
  for (int variant = 0; variant < 4; ++variant) {
    ChatParams p;
    p.temperature = variant == 0 ? 0.0 : 0.7;
    p.top_p = variant == 1 ? 0.95 : 1.0;
    p.max_tokens = 100 + variant;
    if (variant >= 2) p.stop = {"\n\n", "END\"", "</s>"};
    if (variant == 3) p.seed = 18446744073709551615ull;
    if (variant == 2) p.json_schema = {{"type", "object"}, {"properties", {{"a", {{"type", "string"}}}}}};
    json want = {{"model", o.model}, {"messages", json::array()}, {"temperature", p.temperature},
                 {"top_p", p.top_p},  {"max_tokens", p.max_tokens}};
    for (const auto& m : msgs) want["messages"].push_back({{"role", m.role}, {"content", m.content}});
    if (!p.stop.empty()) want["stop"] = p.stop;
    if (p.seed) want["seed"] = *p.seed;
    if (!p.json_schema.is_null())
      want["response_format"] = {{"type", "json_schema"},
                                 {"json_schema", {{"name", "reply"}, {"schema", p.json_schema}, {"strict", false}}}};
    const std::string body = OpenAiClient(o).request_body(msgs, p);
    EXPECT_EQ(json::parse(body), want) << body;
  }
  auto b = json::parse(OpenAiClient(o).request_body({{"user", std::string("bad \xff\xfe utf8")}}, {}));
  EXPECT_EQ(b["messages"][0]["content"], "bad \xEF\xBF\xBD\xEF\xBF\xBD utf8");
}

// The client's request body read back by the server's parser (llm/openai-wire.h, what `ecpo serve` and the
// fake server use): every field the client sends arrives as the same ChatParams, in every structured dialect.
TEST(OpenAiClient, RequestBodyRoundTripsThroughTheServerCodec) {
  OpenAiOptions o;
  o.base_urls = {"http://127.0.0.1:9/v1"};
  o.model = "m";
  const std::vector<Message> msgs = {{"system", "s"}, {"user", "q \"quoted\" é"}, {"assistant", "a"}};
  ChatParams p;
  p.temperature = 0.3;
  p.top_p = 0.8;
  p.max_tokens = 77;
  p.stop = {"\n\n", "END"};
  p.seed = 12345;
  p.json_schema = {{"type", "object"}, {"properties", {{"x", {{"type", "integer"}}}}}};
  p.schema_name = "probe";
  for (auto mode : {StructuredMode::json_schema, StructuredMode::guided_json, StructuredMode::json_object,
                    StructuredMode::none}) {
    o.structured = mode;
    for (bool extra : {false, true}) {
      o.extra_body = extra ? json{{"top_k", 5}} : json(nullptr);
      ChatRequest r = parse_chat_request(std::string_view(OpenAiClient(o).request_body(msgs, p)));
      EXPECT_EQ(r.model, "m");
      ASSERT_EQ(r.messages.size(), msgs.size());
      for (std::size_t i = 0; i < msgs.size(); ++i) {
        EXPECT_EQ(r.messages[i].role, msgs[i].role);
        EXPECT_EQ(r.messages[i].content, msgs[i].content);
      }
      EXPECT_EQ(r.params.temperature, p.temperature);
      EXPECT_EQ(r.params.top_p, p.top_p);
      EXPECT_EQ(r.params.max_tokens, p.max_tokens);
      EXPECT_EQ(r.params.stop, p.stop);
      EXPECT_EQ(r.params.seed, p.seed);
      const json want = mode == StructuredMode::json_object ? json{{"type", "object"}}
                        : mode == StructuredMode::none      ? json(nullptr)
                                                            : p.json_schema;
      EXPECT_EQ(r.params.json_schema, want) << structured_mode_name(mode);
      if (mode == StructuredMode::json_schema) {
        EXPECT_EQ(r.params.schema_name, "probe");
      }
      EXPECT_FALSE(r.stream);
    }
  }
}

TEST(OpenAiClient, SchemaRequestGetsAValidObject) {
  FakeServer srv({});
  srv.start();
  OpenAiClient c(test::fast_options({&srv}));
  ChatParams p;
  p.json_schema = {{"type", "object"},
                   {"properties", {{"reason", {{"type", "string"}}}, {"rating", {{"type", "integer"}, {"minimum", 1}}}}},
                   {"required", {"reason", "rating"}}};
  EXPECT_EQ(json::parse(c.chat({{"user", "rate"}}, p).text), json({{"reason", "fake"}, {"rating", 1}}));
}

TEST(OpenAiClient, EachFaultKindIsRetriedThenGivesATypedFailure) {
  struct Case {
    FakeFault fault;
    FailureKind kind;
  };
  for (auto [fault, kind] : {Case{FakeFault::rate_limit, FailureKind::rate_limited},
                             Case{FakeFault::server_error, FailureKind::http_status},
                             Case{FakeFault::stall, FailureKind::timeout},
                             Case{FakeFault::truncated, FailureKind::transport},
                             Case{FakeFault::malformed, FailureKind::bad_response}}) {
    FakeServer srv(faults_only(fault));
    srv.start();
    auto o = test::fast_options({&srv});
    o.retry.max_attempts = 3;
    o.timeout_ms = 150;
    OpenAiClient c(o);
    try {
      c.chat({{"user", "q"}}, {});
      ADD_FAILURE() << "no failure for " << fake_fault_name(fault);
    } catch (const ChatError& e) {
      EXPECT_EQ(e.kind(), kind) << fake_fault_name(fault) << ": " << e.what();
      EXPECT_EQ(e.attempts(), 3) << fake_fault_name(fault);
      EXPECT_EQ(e.endpoint(), srv.base_url());
      EXPECT_NE(std::string(e.what()).find("role test: endpoint " + srv.base_url()), std::string::npos) << e.what();
    }
    EXPECT_EQ(srv.stats().chat_requests, 3u) << fake_fault_name(fault);
  }
}

TEST(OpenAiClient, RetryAfterIsHonoured) {
  auto so = faults_only(FakeFault::rate_limit);
  so.retry_after_ms = 120;
  FakeServer srv(so);
  srv.start();
  auto o = test::fast_options({&srv});
  o.retry.max_attempts = 2;
  o.retry.base_ms = 1;
  o.retry.max_ms = 1000;
  OpenAiClient c(o);
  auto t0 = std::chrono::steady_clock::now();
  EXPECT_THROW(c.chat({{"user", "q"}}, {}), ChatError);
  EXPECT_GE(ms_since(t0), 120.0);  // the 1 ms backoff was replaced by retry-after-ms: 120
}

TEST(OpenAiClient, RecoversWhenFaultsAreIntermittent) {
  auto so = faults_only(FakeFault::server_error, 0.5);
  so.seed = 3;
  FakeServer srv(so);
  srv.start();
  auto o = test::fast_options({&srv});
  o.retry.max_attempts = 20;
  OpenAiClient c(o);
  int retried = 0;
  for (int i = 0; i < 20; ++i) retried += c.chat({{"user", "q"}}, {}).retries;
  auto st = srv.stats();
  EXPECT_EQ(st.chat_requests, 20u + static_cast<unsigned>(retried));
  EXPECT_EQ(st.faults[static_cast<int>(FakeFault::server_error)], static_cast<unsigned>(retried));
  EXPECT_GT(retried, 0);
}

TEST(OpenAiClient, NonRetryableFailuresAreImmediateAndClear) {
  FakeServerOptions so;
  so.api_key = "sk-fake-SECRET-0123456789";
  FakeServer srv(so);
  srv.start();
  ::setenv("ECPO_TEST_WRONG_KEY", "sk-wrong-KEY-9876543210", 1);
  ::setenv("ECPO_TEST_RIGHT_KEY", "sk-fake-SECRET-0123456789", 1);
  auto o = test::fast_options({&srv});
  o.api_key_env = "ECPO_TEST_WRONG_KEY";
  try {
    OpenAiClient(o).chat({{"user", "q"}}, {});
    FAIL();
  } catch (const ChatError& e) {
    std::string m = e.what();
    EXPECT_EQ(e.kind(), FailureKind::auth);
    EXPECT_EQ(e.attempts(), 1);
    EXPECT_NE(m.find("ECPO_TEST_WRONG_KEY"), std::string::npos) << m;
    EXPECT_EQ(m.find("sk-wrong"), std::string::npos) << m;
    EXPECT_EQ(m.find("SECRET"), std::string::npos) << m;
  }
  o.api_key_env = "ECPO_TEST_UNSET_KEY_VAR";
  try {
    OpenAiClient(o).chat({{"user", "q"}}, {});
    FAIL();
  } catch (const ChatError& e) {
    EXPECT_EQ(e.kind(), FailureKind::auth);
    EXPECT_NE(std::string(e.what()).find("ECPO_TEST_UNSET_KEY_VAR is not set"), std::string::npos);
  }
  o.api_key_env = "ECPO_TEST_RIGHT_KEY";
  o.model = "no-such-model";
  try {
    OpenAiClient(o).chat({{"user", "q"}}, {});
    FAIL();
  } catch (const ChatError& e) {
    EXPECT_EQ(e.kind(), FailureKind::not_found);
    EXPECT_NE(std::string(e.what()).find("no-such-model"), std::string::npos);
  }
  o.model = "fake-model";
  EXPECT_EQ(OpenAiClient(o).list_models(0).front(), "fake-model");
  // Nothing listens on port 9 of loopback: a connection refusal, retried, then a transport failure.
  auto bad = test::fast_options({&srv});
  bad.base_urls = {"http://127.0.0.1:9/v1"};
  try {
    OpenAiClient(bad).chat({{"user", "q"}}, {});
    FAIL();
  } catch (const ChatError& e) {
    EXPECT_EQ(e.kind(), FailureKind::transport);
    EXPECT_NE(std::string(e.what()).find("http://127.0.0.1:9/v1"), std::string::npos);
  }
}

TEST(OpenAiClient, LoadBalancesAndCapsConcurrency) {
  FakeServerOptions so;
  so.latency_ms = 20;
  FakeServer a(so), b(so);
  a.start();
  b.start();
  auto o = test::fast_options({&a, &b});
  o.max_concurrency = 3;
  OpenAiClient c(o);
  ecpo::ThreadPool pool(12);
  pool.parallel_for(60, [&](std::size_t) { c.chat({{"user", "q"}}, {}); });
  auto sa = a.stats(), sb = b.stats();
  EXPECT_EQ(sa.chat_requests + sb.chat_requests, 60u);
  EXPECT_GE(sa.chat_requests, 20u);  // least-loaded choice spreads the work
  EXPECT_GE(sb.chat_requests, 20u);
  EXPECT_LE(sa.max_in_flight, 3);
  EXPECT_LE(sb.max_in_flight, 3);
  EXPECT_GE(sa.max_in_flight, 2);  // 12 callers keep the capped slots busy
}

TEST(OpenAiClient, TwentyPercentFaultsNoCallLost) {
  FakeServerOptions so;
  so.fault_rate = 0.2;
  so.stall_ms = 1000;
  so.retry_after_ms = 3;
  so.seed = 11;
  FakeServer srv(so);
  srv.start();
  auto o = test::fast_options({&srv});
  o.timeout_ms = 150;
  o.retry.max_attempts = 3;
  o.retry.base_ms = 1;
  o.retry.max_ms = 5;
  auto sink = std::make_shared<MemoryCallSink>();
  AccountedChatModel m(std::make_shared<OpenAiClient>(o), "agent", sink);
  const int N = 300;
  std::atomic<int> ok{0}, failed{0};
  ecpo::ThreadPool pool(16);
  pool.parallel_for(N, [&](std::size_t i) {
    try {
      auto r = m.chat({{"user", "call " + std::to_string(i)}}, {});
      EXPECT_EQ(r.text, "Fake reply to: call " + std::to_string(i));
      ok++;
    } catch (const ChatError& e) {
      failed++;
    }
  });
  EXPECT_EQ(ok + failed, N);
  auto recs = sink->records();
  ASSERT_EQ(recs.size(), static_cast<std::size_t>(N));  // one record per call, none lost
  int rec_failed = 0, retries = 0;
  for (const auto& r : recs) {
    rec_failed += r.error.empty() ? 0 : 1;
    retries += r.retries;
  }
  EXPECT_EQ(rec_failed, failed.load());
  auto st = srv.stats();
  // Attempts the records count (N first tries + retries) bound what reached the server; a connect that
  // timed out under load is an attempt the server never saw, hence ≤ rather than =.
  EXPECT_LE(st.chat_requests, static_cast<std::uint64_t>(N + retries));
  EXPECT_GE(st.chat_requests, static_cast<std::uint64_t>(N));
  EXPECT_GT(st.fault_total(), 30u);  // ≈ 20% of ~370 attempts
  EXPECT_GT(ok.load(), N * 9 / 10);  // three tries at 20% faults: ≈ 0.8% fail
}
