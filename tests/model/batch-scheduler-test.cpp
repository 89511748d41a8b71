// BatchScheduler (model/batch-scheduler.h) on the tiny Llama and Qwen2 models, f32 and bf16: sixteen concurrent
// requests of mixed prompt lengths, arrival times, max_tokens, stop ids and stop strings give exactly the ids, text
// and finish reason each gets alone from CausalLM::generate (greedy and seeded sampling), also with tiny prefill
// chunks and with a KV cap that lets only a few run at once (the rest wait, none fails); streaming deltas join to
// the text and a cancelling callback ends only its own request; a later prompt that extends an earlier one reuses
// its keys/values (counted) without changing the output.
#include "model/batch-scheduler.h"

#include <atomic>
#include <chrono>
#include <filesystem>
#include <random>
#include <thread>

#include "model/llama.h"
#include "test-support.h"
#include "tokenizer/tokenizer.h"
#include "util/error.h"

using namespace ecpo::model;

namespace {

const std::filesystem::path kAssets = std::filesystem::path(ECPO_TEST_ASSETS) / "model";

struct Job {
  std::vector<int> prompt;
  GenerateParams params;
  int delay_ms = 0;  // arrival after the start
};

// Sixteen requests: prompt lengths 1..~60 (some sharing a prefix), max_tokens 1..40, some with extra stop ids,
// some with stop strings, arrivals staggered over ~30 ms — plus, first, a long request (480 tokens) that keeps the
// batch running while the others arrive, so they really share steps even on a tiny, fast model.
std::vector<Job> mixed_jobs(int vocab, bool sampled, std::uint32_t seed) {
  std::mt19937 g(seed);
  std::vector<Job> jobs;
  {
    Job keeper;
    keeper.prompt = {1, 2, 3};
    keeper.params.max_tokens = 480;
    keeper.params.stop_at_eos = false;
    jobs.push_back(std::move(keeper));
  }
  const std::vector<int> shared = {5, 17, 99, 3, 250, 41, 7, 7, 300, 12, 64, 128, 201, 33, 90, 11, 2, 480};
  for (int i = 0; i < 16; ++i) {
    Job j;
    const int len = i == 0 ? 1 : std::uniform_int_distribution<int>(2, 60)(g);
    if (i % 4 == 1) j.prompt = shared;  // a common system-prompt-like prefix
    while (static_cast<int>(j.prompt.size()) < len) j.prompt.push_back(std::uniform_int_distribution<int>(0, vocab - 1)(g));
    j.params.max_tokens = i == 2 ? 1 : std::uniform_int_distribution<int>(2, 40)(g);
    j.params.stop_at_eos = i % 3 != 0;
    if (i % 5 == 2) j.params.stop_ids = {std::uniform_int_distribution<int>(0, vocab - 1)(g)};
    if (i % 4 == 3) j.params.stop_strings = {"e", "ab"};
    if (sampled) {
      j.params.temperature = 0.9;
      j.params.top_p = 0.95;
      j.params.seed = 1000 + i;
    }
    j.delay_ms = std::uniform_int_distribution<int>(1, 30)(g);
    jobs.push_back(std::move(j));
  }
  return jobs;
}

// Runs every job on the scheduler from its own thread (after its delay); returns the results in job order.
std::vector<GenerateResult> run_concurrently(BatchScheduler& s, const std::vector<Job>& jobs, const TokenDecoder& dec,
                                             std::vector<RequestStats>* stats = nullptr) {
  std::vector<GenerateResult> out(jobs.size());
  std::vector<RequestStats> st(jobs.size());
  std::vector<std::exception_ptr> errors(jobs.size());
  std::vector<std::thread> ts;
  for (std::size_t i = 0; i < jobs.size(); ++i)
    ts.emplace_back([&, i] {
      std::this_thread::sleep_for(std::chrono::milliseconds(jobs[i].delay_ms));
      try {
        out[i] = s.generate(jobs[i].prompt, jobs[i].params, dec, &st[i]);
      } catch (...) {
        errors[i] = std::current_exception();
      }
    });
  for (auto& t : ts) t.join();
  for (auto& e : errors)
    if (e) std::rethrow_exception(e);
  if (stats) *stats = st;
  return out;
}

void expect_same(const GenerateResult& got, const GenerateResult& want, const std::string& what) {
  EXPECT_EQ(got.ids, want.ids) << what;
  EXPECT_EQ(got.text, want.text) << what;
  EXPECT_EQ(got.finish_reason, want.finish_reason) << what;
  EXPECT_EQ(got.prompt_tokens, want.prompt_tokens) << what;
}

}  // namespace

class Batching : public ::testing::TestWithParam<std::tuple<std::string, std::string>> {};

TEST_P(Batching, MixedConcurrentRequestsEqualEachRunAlone) {
  const auto& [model, dtype] = GetParam();
  auto tk = ecpo::tok::load_tokenizer(kAssets / model);
  TokenDecoder dec = [&](const std::vector<int>& ids) {
    return tk->decode(std::vector<ecpo::tok::TokenId>(ids.begin(), ids.end()), true);
  };
  auto lm = CausalLM::load(kAssets / model, {dtype, 2, {}});
  const int V = static_cast<int>(lm->config().vocab_size);
  for (bool sampled : {false, true}) {
    const auto jobs = mixed_jobs(V, sampled, sampled ? 2 : 1);
    std::vector<GenerateResult> alone;
    for (const Job& j : jobs) alone.push_back(lm->generate(j.prompt, j.params, dec));
    int stopped = 0, lengths = 0;
    for (const auto& r : alone) (r.finish_reason == "stop" ? stopped : lengths) += 1;
    ASSERT_GT(stopped, 0) << "the jobs should exercise stops";
    ASSERT_GT(lengths, 0);
    // (max_batch, prefill_chunk, kv_cache_mb): a batch of 16; tiny prefill chunks; the defaults with prefix reuse off
    for (auto [batch, chunk, prefix] : {std::tuple{16, 256, true}, std::tuple{16, 5, true}, std::tuple{16, 64, false}}) {
      BatchScheduler s(*lm, {batch, 64, chunk, prefix});
      const auto got = run_concurrently(s, jobs, dec);
      for (std::size_t i = 0; i < jobs.size(); ++i)
        expect_same(got[i], alone[i],
                    model + " " + dtype + (sampled ? " sampled" : " greedy") + " chunk " + std::to_string(chunk) +
                        " job " + std::to_string(i));
      const SchedulerMetrics m = s.metrics();
      EXPECT_EQ(m.requests, 17);
      EXPECT_GT(m.max_active, 1) << "requests should have shared steps";
      EXPECT_LT(m.steps, m.decode_tokens) << "a step should have decoded several sequences";
    }
  }
}

INSTANTIATE_TEST_SUITE_P(TinyModels, Batching,
                         ::testing::Combine(::testing::Values("tiny-llama", "tiny-qwen2"),
                                            ::testing::Values("float32", "bfloat16")));

// A 1 MiB KV cap holds ~4 of these reservations (prompt + 400 tokens × 512 bytes per position): the others wait
// for room and still finish with their solo output.
TEST(BatchingLimits, RequestsThatDoNotFitWaitAndFinish) {
  auto lm = CausalLM::load(kAssets / "tiny-llama", {"float32", 2, {}});
  auto jobs = mixed_jobs(512, false, 3);
  for (Job& j : jobs) {
    j.params.max_tokens = 400;
    j.params.stop_at_eos = true;
    j.params.stop_ids = {};
    j.params.stop_strings = {};
    j.delay_ms = 0;
  }
  std::vector<GenerateResult> alone;
  for (const Job& j : jobs) alone.push_back(lm->generate(j.prompt, j.params));
  BatchScheduler s(*lm, {16, 1, 256, true});
  std::vector<RequestStats> stats;
  const auto got = run_concurrently(s, jobs, {}, &stats);
  for (std::size_t i = 0; i < jobs.size(); ++i) expect_same(got[i], alone[i], "job " + std::to_string(i));
  const SchedulerMetrics m = s.metrics();
  EXPECT_LE(m.max_active, 5);
  EXPECT_GE(m.max_active, 2);
  double waited = 0;
  for (const auto& st : stats) waited = std::max(waited, st.queue_ms);
  EXPECT_GT(waited, 0.0);
}

TEST(BatchingStreams, DeltasJoinAndCancellationEndsOnlyItsRequest) {
  auto tk = ecpo::tok::load_tokenizer(kAssets / "tiny-llama");
  TokenDecoder dec = [&](const std::vector<int>& ids) {
    return tk->decode(std::vector<ecpo::tok::TokenId>(ids.begin(), ids.end()), true);
  };
  auto lm = CausalLM::load(kAssets / "tiny-llama", {"float32", 2, {}});
  auto jobs = mixed_jobs(512, false, 4);
  for (std::size_t i = 0; i < jobs.size(); ++i) {
    jobs[i].params.max_tokens = 30;
    jobs[i].params.stop_at_eos = false;
    if (i % 3 == 0) {  // the cancelling ones must reach their 4th token
      jobs[i].params.stop_ids.clear();
      jobs[i].params.stop_strings.clear();
    }
  }
  std::vector<GenerateResult> alone;
  for (const Job& j : jobs) alone.push_back(lm->generate(j.prompt, j.params, dec));
  BatchScheduler s(*lm, {16, 64, 16, true});
  std::vector<std::string> streamed(jobs.size());
  std::vector<int> finals(jobs.size(), 0);
  std::vector<std::thread::id> cb_thread(jobs.size());
  std::vector<std::thread::id> caller(jobs.size());
  std::vector<GenerateResult> got(jobs.size());
  std::vector<std::thread> ts;
  for (std::size_t i = 0; i < jobs.size(); ++i)
    ts.emplace_back([&, i] {
      caller[i] = std::this_thread::get_id();
      GenerateParams p = jobs[i].params;
      const bool cancels = i % 3 == 0;
      p.on_token = [&, i, cancels](const TokenEvent& ev) {
        cb_thread[i] = std::this_thread::get_id();
        streamed[i] += std::string(ev.delta);
        if (ev.id < 0) ++finals[i];
        return !(cancels && ev.index == 3);
      };
      got[i] = s.generate(jobs[i].prompt, p, dec);
    });
  for (auto& t : ts) t.join();
  for (std::size_t i = 0; i < jobs.size(); ++i) {
    EXPECT_EQ(cb_thread[i], caller[i]) << "callbacks run on the calling thread";
    EXPECT_EQ(streamed[i], got[i].text) << i;
    if (i % 3 == 0) {
      EXPECT_EQ(got[i].finish_reason, "cancelled") << i;
      EXPECT_EQ(got[i].ids, std::vector<int>(alone[i].ids.begin(), alone[i].ids.begin() + 4)) << i;
      EXPECT_EQ(finals[i], 0) << "no final event after a cancel";
    } else {
      expect_same(got[i], alone[i], "job " + std::to_string(i));
      EXPECT_EQ(finals[i], 1);
    }
  }
}

// Multi-turn replay: each turn's prompt is the previous turn's prompt + its reply + a new message. The scheduler
// finds the previous turn's keys/values (all but the new part), prefills only the rest, and the reply is the same
// as without reuse.
TEST(BatchingPrefix, LaterTurnsReuseEarlierKeysAndValues) {
  auto lm = CausalLM::load(kAssets / "tiny-qwen2", {"float32", 2, {}});
  BatchScheduler with(*lm, {4, 64, 256, true});
  GenerateParams p;
  p.max_tokens = 12;
  p.stop_at_eos = false;
  std::vector<int> convo = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21};
  std::int64_t saved = 0;
  for (int turn = 0; turn < 5; ++turn) {
    RequestStats st;
    const GenerateResult r = with.generate(convo, p, {}, &st);
    EXPECT_EQ(r.ids, lm->generate(convo, p).ids) << "turn " << turn;  // (lm alone: the scheduler is idle now)
    if (turn == 0) {
      EXPECT_EQ(st.cached_tokens, 0);
    } else {
      // everything but the new message and the reply's last id (never fed) is cached
      EXPECT_EQ(st.cached_tokens, static_cast<std::int64_t>(convo.size()) - 6) << "turn " << turn;
    }
    saved += st.cached_tokens;
    convo.insert(convo.end(), r.ids.begin(), r.ids.end());
    for (int k = 0; k < 5; ++k) convo.push_back(100 + turn * 5 + k);  // the next "user message"
  }
  const SchedulerMetrics m = with.metrics();
  EXPECT_EQ(m.prefix_hits, 4);
  EXPECT_EQ(m.prefill_tokens_saved, saved);
  EXPECT_EQ(m.prefix_entries, 1) << "each turn's entry replaces the one it extends";
}

TEST(BatchingErrors, BadRequestsThrowAndDoNotDisturbOthers) {
  auto lm = CausalLM::load(kAssets / "tiny-llama", {"float32", 1, {}});
  BatchScheduler s(*lm);
  GenerateParams p;
  p.max_tokens = 4;
  EXPECT_THROW(s.generate({1, 2, 9999}, p), ecpo::Error);   // id outside the vocabulary
  EXPECT_THROW(s.generate({}, p), ecpo::Error);             // empty prompt
  EXPECT_THROW(s.generate(std::vector<int>(600, 3), p), ecpo::Error);  // longer than the 512-token context
  GenerateParams stops = p;
  stops.stop_strings = {"x"};
  EXPECT_THROW(s.generate({1, 2}, stops), ecpo::Error);     // stop strings without a decoder
  EXPECT_EQ(s.generate({1, 2, 3}, p).ids, lm->generate({1, 2, 3}, p).ids);
}
