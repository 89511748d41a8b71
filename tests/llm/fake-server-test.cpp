// llm/fake-server scripts end to end over loopback: sequence, then rules, then default; a scripted bad
// reply repaired by structured output (the re-ask recorded as a repair); a dead endpoint next to a live
// one costs a retry, not a failure.
#include "llm/fake-server.h"

#include "llm/accounted-model.h"
#include "llm/call-log.h"
#include "llm/openai-client.h"
#include "llm/structured-output.h"
#include "llm-test-util.h"
#include "test-support.h"
#include "util/error.h"
#include "util/fs.h"

using namespace ecpo::llm;

TEST(FakeServer, ScriptSequenceRulesDefault) {
  ecpo::test::TempDir dir;
  ecpo::write_file_atomic(dir / "script.yaml",
                          "sequence:\n  - first\n  - {reason: ok, rating: 4}\n"
                          "rules:\n  - {match: Recommend, reply: 'Recommend[The Hobbit]'}\n"
                          "default: I see.\n");
  FakeServerOptions so;
  so.script = load_fake_script(dir / "script.yaml");
  FakeServer srv(so);
  srv.start();
  OpenAiClient c(test::fast_options({&srv}));
  EXPECT_EQ(c.chat({{"user", "please recommend"}}, {}).text, "first");
  EXPECT_EQ(c.chat({{"user", "x"}}, {}).text, R"({"rating":4,"reason":"ok"})");
  EXPECT_EQ(c.chat({{"user", "Please RECOMMEND a book"}}, {}).text, "Recommend[The Hobbit]");
  EXPECT_EQ(c.chat({{"user", "hello"}}, {}).text, "I see.");
  ecpo::write_file_atomic(dir / "bad.yaml", "rules:\n  - {reply: x}\n");
  EXPECT_THROW(load_fake_script(dir / "bad.yaml"), ecpo::Error);
  ecpo::write_file_atomic(dir / "bad2.yaml", "replies: [a]\n");
  EXPECT_THROW(load_fake_script(dir / "bad2.yaml"), ecpo::Error);
}

TEST(FakeServer, StructuredRepairOverHttpIsRecorded) {
  FakeServerOptions so;
  so.script.sequence = {"I think it is good.", R"({"rating": 3})"};
  FakeServer srv(so);
  srv.start();
  auto sink = std::make_shared<MemoryCallSink>();
  AccountedChatModel m(std::make_shared<OpenAiClient>(test::fast_options({&srv})), "ec_rater", sink);
  ChatParams p;
  p.json_schema = {{"type", "object"}, {"properties", {{"rating", {{"type", "integer"}}}}}, {"required", {"rating"}}};
  StructuredStats st;
  auto r = chat_json(m, {{"user", "rate it"}}, p, &st);
  EXPECT_TRUE(r.repaired);
  EXPECT_EQ(r.value["rating"], 3);
  auto recs = sink->records();
  ASSERT_EQ(recs.size(), 2u);
  EXPECT_FALSE(recs[0].repair);
  EXPECT_TRUE(recs[1].repair);
  EXPECT_EQ(st.repaired.load(), 1u);
}

TEST(FakeServer, DeadEndpointBesideALiveOneCostsARetryNotAFailure) {
  FakeServer srv({});
  srv.start();
  auto o = test::fast_options({&srv});
  o.base_urls = {"http://127.0.0.1:9/v1", srv.base_url()};
  OpenAiClient c(o);
  int retries = 0;
  for (int i = 0; i < 10; ++i) {
    auto r = c.chat({{"user", "q"}}, {});
    EXPECT_EQ(r.endpoint, srv.base_url());
    retries += r.retries;
  }
  EXPECT_EQ(srv.stats().chat_requests, 10u);
  EXPECT_GE(retries, 1);  // the dead one was tried at least once
  EXPECT_LE(retries, 10);
}
