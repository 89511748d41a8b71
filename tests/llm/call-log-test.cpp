// llm/call-log, accounted-model, price-table, call-summary: records carry tags and cost; sinks round-trip;
// failures are recorded and rethrown; totals per episode/turn/pair match hand sums.
#include "llm/accounted-model.h"
#include "llm/call-context.h"
#include "llm/call-log.h"
#include "llm/call-summary.h"
#include "llm/price-table.h"

#include "llm-test-util.h"
#include "test-support.h"
#include "util/error.h"

using namespace ecpo::llm;

namespace {
class FailingModel : public ChatModel {
 public:
  ChatResult chat(const std::vector<Message>&, const ChatParams&) override {
    throw ChatError(FailureKind::rate_limited, "role x: endpoint http://h/v1: HTTP 429", 429, 4, "http://h/v1");
  }
  std::string model_name() const override { return "gpt-4o"; }
};
}  // namespace

TEST(PriceTable, ExactThenLongestPrefix) {
  auto t = PriceTable::from_json({{"gpt-4o", {{"input", 2.5}, {"output", 10}}},
                                  {"gpt-4o-mini", {{"input", 0.15}, {"output", 0.6}}}},
                                 "prices.yaml");
  // 1000 prompt + 500 completion tokens on gpt-4o-mini-2024-07-18: (1000·0.15 + 500·0.6)/1e6 = 0.00045
  EXPECT_NEAR(*t.cost("gpt-4o-mini-2024-07-18", {1000, 500}), 0.00045, 1e-12);
  EXPECT_NEAR(*t.cost("gpt-4o", {1000, 500}), 0.0075, 1e-12);  // 0.0025 + 0.005
  EXPECT_FALSE(t.cost("llama-3-8b", {1, 1}).has_value());
  EXPECT_THROW(PriceTable::from_json({{"x", {{"input", 1}}}}, "p"), ecpo::Error);
}

TEST(Accounting, RecordsTagsCostAndFailures) {
  auto sink = std::make_shared<MemoryCallSink>();
  auto prices = std::make_shared<PriceTable>();
  prices->set("scripted", {1.0, 2.0});
  AccountedChatModel ok(std::make_shared<test::ScriptedModel>(std::vector<std::string>{"hi"}), "agent", sink, prices);
  AccountedChatModel bad(std::make_shared<FailingModel>(), "judge", sink, prices);
  {
    CallContextScope s({"ep-1", 2, "", false});
    ok.chat({{"user", "q"}}, {});
    {
      CallContextScope inner({"ep-1", 2, "pair-9", false});
      EXPECT_THROW(bad.chat({{"user", "q"}}, {}), ChatError);
    }
  }
  ok.chat({{"user", "q"}}, {});  // untagged
  auto recs = sink->records();
  ASSERT_EQ(recs.size(), 3u);
  EXPECT_EQ(recs[0].role, "agent");
  EXPECT_EQ(recs[0].episode_id, "ep-1");
  EXPECT_EQ(recs[0].turn, 2);
  EXPECT_EQ(recs[0].prompt_tokens, 10);
  EXPECT_EQ(recs[0].completion_tokens, 5);
  EXPECT_NEAR(recs[0].cost_usd, (10 * 1.0 + 5 * 2.0) / 1e6, 1e-15);
  EXPECT_EQ(recs[0].endpoint, "mem://scripted");
  EXPECT_EQ(recs[1].role, "judge");
  EXPECT_EQ(recs[1].pair_id, "pair-9");
  EXPECT_EQ(recs[1].error, "rate_limited");
  EXPECT_EQ(recs[1].http_status, 429);
  EXPECT_EQ(recs[1].retries, 3);
  EXPECT_EQ(recs[1].endpoint, "http://h/v1");
  EXPECT_EQ(recs[2].episode_id, "");
  EXPECT_EQ(recs[2].turn, -1);
}

TEST(CallLog, JsonlAndSqliteRoundTrip) {
  ecpo::test::TempDir dir;
  CallRecord r;
  r.ts_ms = 1700000000123;
  r.role = "ec_rater";
  r.model = "gpt-4o-mini";
  r.endpoint = "http://127.0.0.1:1/v1";
  r.episode_id = "e7";
  r.turn = 3;
  r.pair_id = "p1";
  r.prompt_tokens = 120;
  r.completion_tokens = 30;
  r.latency_ms = 12.5;
  r.retries = 2;
  r.cache_hit = false;
  r.repair = true;
  r.error = "timeout";
  r.http_status = 0;
  r.cost_usd = 0.25;
  {
    JsonlCallSink j(dir / "calls.jsonl");
    j.record(r);
    j.record(r);
    SqliteCallSink s(dir / "run.db");
    s.record(r);
  }
  auto a = read_call_log_jsonl(dir / "calls.jsonl");
  auto b = read_llm_calls(dir / "run.db");
  ASSERT_EQ(a.size(), 2u);
  ASSERT_EQ(b.size(), 1u);
  for (const auto& x : {a[0], a[1], b[0]}) EXPECT_EQ(to_json(x), to_json(r));
}

TEST(CallSummary, TotalsPerEpisodeTurnAndPair) {
  // role, episode, turn, pair, prompt, completion, latency ms, retries, cache hit, repair, error, cost
  auto rec = [](std::string role, std::string ep, int turn, std::string pair, std::int64_t p, std::int64_t c,
                double ms, int retries, bool hit, bool repair, std::string err, double cost) {
    CallRecord r;
    r.role = role, r.episode_id = ep, r.turn = turn, r.pair_id = pair, r.prompt_tokens = p;
    r.completion_tokens = c, r.latency_ms = ms, r.retries = retries, r.cache_hit = hit, r.repair = repair;
    r.error = err, r.cost_usd = cost;
    return r;
  };
  std::vector<CallRecord> rs = {rec("agent", "e1", 0, "", 100, 10, 10, 0, false, false, "", 1),
                                rec("user_sim", "e1", 0, "", 50, 5, 30, 2, false, false, "", 0.5),
                                rec("agent", "e1", 1, "", 7, 3, 1, 0, true, false, "", 0),
                                rec("agent", "e2", 0, "", 0, 0, 5, 0, false, false, "timeout", 0),
                                rec("rewriter", "e1", 0, "p1", 40, 20, 4, 0, false, true, "", 0.25)};
  auto ep = summarize_calls(rs, CallGroup::episode);
  ASSERT_EQ(ep.size(), 2u);
  EXPECT_EQ(ep[0].key, "e1");
  EXPECT_EQ(ep[0].calls, 4u);
  EXPECT_EQ(ep[0].prompt_tokens, 197);
  EXPECT_EQ(ep[0].completion_tokens, 38);
  EXPECT_DOUBLE_EQ(ep[0].cost_usd, 1.75);
  EXPECT_EQ(ep[0].cache_hits, 1u);
  EXPECT_EQ(ep[0].retries, 2u);
  EXPECT_EQ(ep[0].repairs, 1u);
  EXPECT_DOUBLE_EQ(ep[0].mean_latency_ms(), 45.0 / 4);
  EXPECT_EQ(ep[1].failures, 1u);
  auto turns = summarize_calls(rs, CallGroup::turn);
  ASSERT_EQ(turns.size(), 3u);
  EXPECT_EQ(turns[0].key, "e1#0");
  EXPECT_EQ(turns[0].calls, 3u);
  auto pairs = summarize_calls(rs, CallGroup::pair);
  ASSERT_EQ(pairs.size(), 2u);
  EXPECT_EQ(pairs[1].key, "p1");
  EXPECT_DOUBLE_EQ(pairs[1].cost_usd, 0.25);
  auto table = call_totals_table(ep, "episode").str();
  EXPECT_NE(table.find("total"), std::string::npos);
  EXPECT_NE(table.find("1.7500"), std::string::npos);
  EXPECT_THROW(call_group_from_name("week", "x"), ecpo::Error);
}
