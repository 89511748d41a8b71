// llm/roles, llm-check, prompts-dir: the shipped roles.yaml parses with the paper's models; merging
// order; bad entries give located errors; keys in the file are refused; check_roles against fake servers.
#include "llm/roles.h"

#include <cstdlib>

#include "llm/fake-server.h"
#include "llm/llm-check.h"
#include "llm/prompts-dir.h"
#include "test-support.h"
#include "util/error.h"
#include "util/fs.h"

using namespace ecpo::llm;

namespace {
std::filesystem::path source_dir() { return ECPO_SOURCE_DIR; }

RolesConfig parse(const std::string& yaml) {
  return roles_from_config(ecpo::Config::parse(yaml, "roles.yaml"), "roles.yaml", source_dir() / "configs");
}

std::string error_of(const std::string& yaml) {
  try {
    parse(yaml);
  } catch (const ecpo::Error& e) {
    return e.what();
  }
  return "";
}
}  // namespace

TEST(Roles, ShippedFileMirrorsThePaper) {
  auto cfg = load_roles(source_dir() / "configs" / "roles.yaml");
  for (const char* r : {"agent", "user_sim", "ec_rater", "rewriter", "judge", "persona"})
    ASSERT_TRUE(cfg.roles.count(r)) << r;
  EXPECT_EQ(cfg.roles["user_sim"].http.model, "gpt-4o-mini-2024-07-18");
  EXPECT_EQ(cfg.roles["rewriter"].http.model, "gpt-4o-mini-2024-07-18");
  EXPECT_EQ(cfg.roles["judge"].http.model, "gpt-4o");
  EXPECT_EQ(cfg.roles["persona"].http.model, "gpt-4o");
  EXPECT_EQ(cfg.roles["agent"].params.temperature, 0.0);
  EXPECT_EQ(cfg.roles["agent"].http.api_key_env, "OPENAI_API_KEY");
  EXPECT_EQ(cfg.roles["agent"].http.base_urls, std::vector<std::string>{"https://api.openai.com/v1"});
  EXPECT_EQ(cfg.roles["agent"].http.max_concurrency, 32);  // endpoint overrides defaults
  EXPECT_EQ(cfg.roles["agent"].http.retry.max_attempts, 6);
  // prices.yaml is loaded relative to the roles file
  EXPECT_NEAR(*cfg.prices->cost("gpt-4o-2024-11-20", {1000000, 0}), 2.5, 1e-12);
  // overrides reach the parsed result
  auto over = load_roles(source_dir() / "configs" / "roles.yaml", {"roles.judge.model=gpt-4o-mini"});
  EXPECT_EQ(over.roles["judge"].http.model, "gpt-4o-mini");
}

TEST(Roles, MergeOrderDefaultsEndpointRole) {
  auto cfg = parse(
      "defaults: {timeout_ms: 100, max_concurrency: 2, retry: {max_attempts: 2, base_ms: 1}}\n"
      "endpoints:\n  fleet: {base_urls: ['http://a:1/v1/', 'http://b:2/v1'], max_concurrency: 8,"
      " structured: guided_json}\n"
      "roles:\n  agent: {endpoint: fleet, model: m, retry: {max_attempts: 3}, params: {temperature: 0.5, seed: 7}}\n");
  const auto& a = cfg.roles["agent"];
  EXPECT_EQ(a.http.base_urls, (std::vector<std::string>{"http://a:1/v1", "http://b:2/v1"}));
  EXPECT_EQ(a.http.max_concurrency, 8);
  EXPECT_EQ(a.http.timeout_ms, 100);
  EXPECT_EQ(a.http.retry.max_attempts, 3);
  EXPECT_EQ(a.http.retry.base_ms, 1);  // deep merge keeps the default's other retry keys
  EXPECT_EQ(a.http.structured, StructuredMode::guided_json);
  EXPECT_EQ(a.params.temperature, 0.5);
  EXPECT_EQ(*a.params.seed, 7u);
  EXPECT_EQ(cfg.prices->size(), 0u);
}

TEST(Roles, BadEntriesAreLocated) {
  EXPECT_NE(error_of("roles:\n  agent: {base_url: 'http://a/v1'}\n").find("has no model"), std::string::npos);
  EXPECT_NE(error_of("roles:\n  agent: {model: m}\n").find("no base_url"), std::string::npos);
  EXPECT_NE(error_of("roles:\n  agent: {model: m, base_url: 'ftp://x'}\n").find("http://"), std::string::npos);
  EXPECT_NE(error_of("roles:\n  agent: {model: m, endpoint: nope}\n").find("endpoint 'nope'"), std::string::npos);
  // The file and line of the role, the key path and the allowed range.
  const std::string temp_err =
      error_of("roles:\n  agent: {model: m, base_url: 'http://a/v1', params: {temperature: 3}}\n");
  EXPECT_EQ(temp_err.rfind("roles.yaml:2: roles.agent.params.temperature: 3 is out of range [0, 2]", 0), 0u) << temp_err;
  // Types nlohmann would convert silently (or with undefined behaviour) are refused with their path.
  EXPECT_NE(error_of("roles:\n  agent: {model: m, base_url: 'http://a/v1', params: {max_tokens: 1e300}}\n")
                .find("roles.agent.params.max_tokens: expected an integer, got a number"),
            std::string::npos);
  EXPECT_NE(error_of("roles:\n  agent: {model: m, base_url: 'http://a/v1', max_concurrency: [1]}\n")
                .find("roles.agent.max_concurrency: expected an integer, got an array"),
            std::string::npos);
  EXPECT_NE(error_of("roles:\n  agent: {model: m, base_url: 'http://a/v1', retry: {max_attempts: 2.5}}\n")
                .find("retry.max_attempts: expected an integer"),
            std::string::npos);
  EXPECT_NE(error_of("defaults: 3\nroles:\n  agent: {model: m, base_url: 'http://a/v1'}\n")
                .find("defaults: expected an object, got an integer"),
            std::string::npos);
  EXPECT_NE(error_of("roles:\n  agent: {model: m, base_url: 'http://a/v1', structured: xml}\n").find("xml"),
            std::string::npos);
  std::string key_err = error_of("roles:\n  agent: {model: m, base_url: 'http://a/v1', api_key: sk-abc123}\n");
  EXPECT_NE(key_err.find("api_key_env"), std::string::npos);
  EXPECT_EQ(key_err.find("sk-abc123"), std::string::npos);
  EXPECT_NE(error_of("nothing: 1\n").find("roles:"), std::string::npos);
  EXPECT_NE(error_of("roles:\n  agent: {modle: m, model: m, base_url: 'http://a/v1'}\n").find("roles.agent.modle: unknown setting"),
            std::string::npos);
}

TEST(Roles, CheckFindsBadKeyModelAndUrl) {
  FakeServerOptions so;
  so.api_key = "sk-check-SECRET-42";
  FakeServer srv(so);
  srv.start();
  ::setenv("ECPO_TEST_CHECK_KEY", "sk-check-SECRET-42", 1);
  ::setenv("ECPO_TEST_CHECK_BAD", "sk-check-WRONG-42", 1);
  std::string url = srv.base_url();
  auto cfg = parse("defaults: {timeout_ms: 2000, retry: {max_attempts: 1}}\n"
                   "roles:\n"
                   "  agent: {base_url: '" + url + "', model: fake-model, api_key_env: ECPO_TEST_CHECK_KEY}\n"
                   "  judge: {base_url: '" + url + "', model: fake-model, api_key_env: ECPO_TEST_CHECK_KEY}\n"
                   "  rewriter: {base_url: '" + url + "', model: gpt-5-nano, api_key_env: ECPO_TEST_CHECK_KEY}\n"
                   "  persona: {base_url: '" + url + "', model: fake-model, api_key_env: ECPO_TEST_CHECK_BAD}\n"
                   "  user_sim: {base_url: 'http://127.0.0.1:9/v1', model: fake-model}\n");
  RoleSetOptions rso;
  rso.no_cache = true;
  RoleSet roles(cfg, rso);
  auto res = check_roles(roles);
  ASSERT_EQ(res.size(), 5u);
  std::map<std::string, CheckResult> by;
  for (auto& r : res) by[r.role] = r;
  EXPECT_TRUE(by["agent"].ok) << by["agent"].message;
  EXPECT_TRUE(by["agent"].model_listed);
  EXPECT_TRUE(by["agent"].structured_ok);
  EXPECT_TRUE(by["judge"].ok);  // same endpoint and model: probed once
  EXPECT_EQ(srv.stats().chat_requests, 1u + 0u);  // rewriter never reached chat: its model is not listed
  EXPECT_FALSE(by["rewriter"].ok);
  EXPECT_NE(by["rewriter"].message.find("model 'gpt-5-nano' is not served"), std::string::npos);
  EXPECT_FALSE(by["persona"].ok);
  EXPECT_NE(by["persona"].message.find("role persona: endpoint " + url), std::string::npos) << by["persona"].message;
  EXPECT_NE(by["persona"].message.find("ECPO_TEST_CHECK_BAD"), std::string::npos);
  EXPECT_FALSE(by["user_sim"].ok);
  EXPECT_NE(by["user_sim"].message.find("role user_sim: endpoint http://127.0.0.1:9/v1"), std::string::npos);
  for (auto& r : res) {
    EXPECT_EQ(r.message.find("SECRET"), std::string::npos) << r.message;
    EXPECT_EQ(r.message.find("WRONG"), std::string::npos) << r.message;
  }
}

TEST(PromptsDir, EnvOverrideAndSourceTree) {
  EXPECT_TRUE(std::filesystem::exists(prompts_dir() / "llm" / "check-probe.txt"));
  ecpo::test::TempDir dir;
  std::filesystem::create_directories(dir / "llm");
  ecpo::write_file_atomic(dir / "llm" / "check-probe.txt", "custom");
  ::setenv("ECPO_PROMPTS_DIR", dir.path().c_str(), 1);
  EXPECT_EQ(load_prompt("llm/check-probe.txt"), "custom");
  ::setenv("ECPO_PROMPTS_DIR", (dir / "missing").c_str(), 1);
  EXPECT_THROW(prompts_dir(), ecpo::Error);
  ::unsetenv("ECPO_PROMPTS_DIR");
  EXPECT_THROW(load_prompt("llm/no-such-prompt.txt"), ecpo::Error);
}
