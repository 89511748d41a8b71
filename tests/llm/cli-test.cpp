// The llm verbs through the real binary: `llm check` (good and bad key, model, URL: one line naming role
// and endpoint, exit 1), `llm ask` with cache replay and a call log, `fake-server`, and a scan of every
// output and file written for the API key (it must appear nowhere).
#include <fstream>
#include <sstream>

#include "llm/fake-server.h"
#include "test-support.h"
#include "util/fs.h"

using ecpo::test::run_ecpo;

namespace {
const char* kKey = "sk-cli-SECRET-7f3a9c";
const char* kWrongKey = "sk-cli-WRONG-51b2e0";

std::string roles_yaml(const std::string& url, const std::string& key_env, const std::string& model,
                       const std::string& cache) {
  return "defaults: {timeout_ms: 3000, retry: {max_attempts: 2, base_ms: 1, max_ms: 5}}\n"
         "endpoints:\n  local: {base_url: '" + url + "', api_key_env: " + key_env + "}\n"
         "roles:\n"
         "  agent: {endpoint: local, model: " + model + ", params: {temperature: 0}}\n"
         "  judge: {endpoint: local, model: " + model + ", params: {temperature: 0}}\n"
         "cache: {path: '" + cache + "'}\n"
         "prices: {fake-model: {input: 1.0, output: 2.0}}\n";
}

std::string slurp(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::size_t count_lines_with(const std::string& text, const std::string& needle) {
  std::size_t n = 0;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) n += line.find(needle) != std::string::npos;
  return n;
}
}  // namespace

TEST(LlmCli, CheckAskCacheAndNoKeyAnywhere) {
  ecpo::llm::FakeServerOptions so;
  so.api_key = kKey;
  ecpo::llm::FakeServer srv(so);
  srv.start();
  ::setenv("ECPO_TEST_CLI_KEY", kKey, 1);
  ::setenv("ECPO_TEST_CLI_WRONG", kWrongKey, 1);
  ecpo::test::TempDir dir;
  const std::string url = srv.base_url();
  const std::string cache = (dir / "cache" / "llm.sqlite").string();
  auto write_roles = [&](const std::string& name, const std::string& base, const std::string& env,
                         const std::string& model) {
    auto p = dir / name;
    ecpo::write_file_atomic(p, roles_yaml(base, env, model, cache));
    return p.string();
  };
  std::string good = write_roles("good.yaml", url, "ECPO_TEST_CLI_KEY", "fake-model");
  std::string all_output;

  auto ok = run_ecpo("llm check --config " + good);
  all_output += ok.out;
  EXPECT_EQ(ok.exit_code, 0) << ok.out;
  EXPECT_EQ(count_lines_with(ok.out, " ok"), 2u) << ok.out;

  // ask twice: the second call replays from the cache (temperature 0), same text, no cost.
  std::string calls = (dir / "calls.jsonl").string();
  auto a1 = run_ecpo("llm ask --config " + good + " --role agent --calls " + calls + " 'suggest a book'");
  auto a2 = run_ecpo("llm ask --config " + good + " --role agent --calls " + calls + " 'suggest a book'");
  all_output += a1.out + a2.out;
  EXPECT_EQ(a1.exit_code, 0) << a1.out;
  EXPECT_NE(a1.out.find("Fake reply to: suggest a book"), std::string::npos) << a1.out;
  EXPECT_NE(a1.out.find("cache_hit=no"), std::string::npos);
  EXPECT_NE(a2.out.find("Fake reply to: suggest a book"), std::string::npos);
  EXPECT_NE(a2.out.find("cache_hit=yes"), std::string::npos) << a2.out;
  EXPECT_NE(a2.out.find("cost_usd=0.000000"), std::string::npos);
  // prompt "suggest a book" = 3 words, reply 6 words: (3·1 + 6·2)/1e6 USD
  EXPECT_NE(a1.out.find("cost_usd=0.000015"), std::string::npos) << a1.out;
  EXPECT_EQ(srv.stats().chat_requests, 2u);  // check's probe + the first ask
  auto a3 = run_ecpo("llm ask --no-cache --config " + good + " --role agent 'suggest a book'");
  EXPECT_NE(a3.out.find("cache_hit=no"), std::string::npos);
  all_output += a3.out;

  // A schema-constrained ask.
  ecpo::write_file_atomic(dir / "schema.json",
                          R"({"type":"object","properties":{"rating":{"type":"integer"}},"required":["rating"]})");
  auto a4 = run_ecpo("llm ask --config " + good + " --role judge --schema " + (dir / "schema.json").string() + " rate");
  all_output += a4.out;
  EXPECT_EQ(a4.exit_code, 0) << a4.out;
  EXPECT_NE(a4.out.find("{\"rating\":0}"), std::string::npos) << a4.out;

  // Wrong key, wrong model, wrong URL: exit 1 and a line naming the role and the endpoint.
  struct Bad {
    std::string file, needle;
  };
  for (const auto& b : {Bad{write_roles("key.yaml", url, "ECPO_TEST_CLI_WRONG", "fake-model"), "ECPO_TEST_CLI_WRONG"},
                        Bad{write_roles("model.yaml", url, "ECPO_TEST_CLI_KEY", "gpt-9"), "model 'gpt-9' is not served"},
                        Bad{write_roles("url.yaml", "http://127.0.0.1:9/v1", "ECPO_TEST_CLI_KEY", "fake-model"),
                            "cannot reach"}}) {
    auto r = run_ecpo("llm check --config " + b.file);
    all_output += r.out;
    EXPECT_EQ(r.exit_code, 1) << r.out;
    EXPECT_GE(count_lines_with(r.out, "role agent: endpoint "), 1u) << r.out;
    EXPECT_GE(count_lines_with(r.out, b.needle), 1u) << r.out;
    EXPECT_EQ(r.out.find("terminate"), std::string::npos) << r.out;
    auto ask = run_ecpo("llm ask --config " + b.file + " --role agent hello");
    all_output += ask.out;
    EXPECT_EQ(ask.exit_code, 1) << ask.out;
    EXPECT_EQ(count_lines_with(ask.out, "error: role agent: endpoint "), 1u) << ask.out;
  }

  // The key must be nowhere: outputs, call log, cache (and its WAL), roles files.
  for (const char* k : {kKey, kWrongKey}) {
    EXPECT_EQ(all_output.find(k), std::string::npos) << k;
    for (const auto& e : std::filesystem::recursive_directory_iterator(dir.path())) {
      if (!e.is_regular_file()) continue;
      EXPECT_EQ(slurp(e.path()).find(k), std::string::npos) << e.path();
    }
  }
  EXPECT_TRUE(std::filesystem::exists(cache));
  // Totals from the call log: two asks of the agent, one a cache hit; 3 + 6 words each time.
  auto totals = run_ecpo("llm calls --log " + calls + " --by role");
  EXPECT_EQ(totals.exit_code, 0) << totals.out;
  EXPECT_NE(totals.out.find("| agent "), std::string::npos) << totals.out;
  EXPECT_NE(totals.out.find("|     2 |          1 |        0 |"), std::string::npos) << totals.out;
  EXPECT_NE(totals.out.find("0.0000"), std::string::npos) << totals.out;
  EXPECT_EQ(run_ecpo("llm calls --log " + calls + " --by week").exit_code, 1);
  EXPECT_NE(slurp(calls).find("\"role\":\"agent\""), std::string::npos);
}

TEST(LlmCli, FakeServerVerb) {
  auto r = run_ecpo("fake-server --port 0 --latency-ms 1 --exit-after-ms 200");
  EXPECT_EQ(r.exit_code, 0) << r.out;
  EXPECT_NE(r.out.find("fake server listening on http://127.0.0.1:"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("fake server stopped"), std::string::npos) << r.out;
  auto bad = run_ecpo("fake-server --faults sometimes --exit-after-ms 10");
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_EQ(count_lines_with(bad.out, "error:"), 1u) << bad.out;
  auto missing = run_ecpo("llm check --config /nonexistent/roles.yaml");
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_NE(missing.out.find("/nonexistent/roles.yaml"), std::string::npos) << missing.out;
}
