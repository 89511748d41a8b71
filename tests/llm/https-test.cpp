// HTTPS end to end over loopback: the fake server with a test-only self-signed certificate
// (tests/assets/llm/tls), the real client through libcurl. Trusting the certificate via ca_file works;
// an untrusted or wrong CA fails at once (not retried) with a hint naming ca_file and the endpoint, and never
// the key; tls_verify: false skips verification; roles YAML resolves ca_file against the config's directory.
#include <algorithm>
#include <filesystem>

#include "llm/fake-server.h"
#include "llm/openai-client.h"
#include "llm/roles.h"
#include "test-support.h"
#include "util/config.h"
#include "util/error.h"

using namespace ecpo::llm;

namespace {

const std::filesystem::path kTls = std::filesystem::path(ECPO_TEST_ASSETS) / "llm" / "tls";

struct TlsServer {
  FakeServer server;
  explicit TlsServer(FakeServerOptions o = {}) : server([&] {
    o.tls_cert = (kTls / "cert.pem").string();
    o.tls_key = (kTls / "key.pem").string();
    return o;
  }()) {
    server.start();
  }
};

OpenAiOptions client_for(const FakeServer& s) {
  OpenAiOptions o;
  o.label = "agent";
  o.base_urls = {s.base_url()};
  o.model = "fake-model";
  o.timeout_ms = 5000;
  o.retry.max_attempts = 3;
  o.retry.base_ms = 1;
  o.retry.max_ms = 2;
  return o;
}

}  // namespace

TEST(Https, TrustedByCaFile) {
  TlsServer t;
  ASSERT_EQ(t.server.base_url().rfind("https://127.0.0.1:", 0), 0u) << t.server.base_url();
  auto o = client_for(t.server);
  o.ca_file = (kTls / "cert.pem").string();
  OpenAiClient c(o);
  auto r = c.chat({{"user", "hello over tls"}}, {});
  EXPECT_FALSE(r.text.empty());
  EXPECT_EQ(r.endpoint, t.server.base_url());
  EXPECT_EQ(r.retries, 0);
  auto models = c.list_models(0);
  EXPECT_NE(std::find(models.begin(), models.end(), "fake-model"), models.end());
  EXPECT_EQ(t.server.stats().chat_requests, 1u);
}

TEST(Https, UntrustedCertificateFailsOnceWithAHintAndNoKey) {
  TlsServer t;
  ::setenv("ECPO_TEST_TLS_KEY", "sk-tls-secret-123", 1);
  for (const std::string& ca : {std::string(), (kTls / "other-cert.pem").string()}) {
    auto o = client_for(t.server);
    o.ca_file = ca;
    o.api_key_env = "ECPO_TEST_TLS_KEY";
    OpenAiClient c(o);
    try {
      c.chat({{"user", "hi"}}, {});
      FAIL() << "an untrusted certificate was accepted (ca_file '" << ca << "')";
    } catch (const ChatError& e) {
      const std::string m = e.what();
      EXPECT_EQ(e.kind(), FailureKind::transport) << m;
      EXPECT_EQ(e.attempts(), 1) << "a certificate problem is not retried: " << m;
      EXPECT_NE(m.find("role agent"), std::string::npos) << m;
      EXPECT_NE(m.find(t.server.base_url()), std::string::npos) << m;
      EXPECT_NE(m.find(ca.empty() ? "set ca_file:" : "does not vouch"), std::string::npos) << m;
      EXPECT_EQ(m.find("sk-tls-secret-123"), std::string::npos) << m;
    }
  }
  ::unsetenv("ECPO_TEST_TLS_KEY");
  EXPECT_EQ(t.server.stats().chat_requests, 0u);  // the TLS handshake stopped every request
}

TEST(Https, VerificationCanBeSwitchedOff) {
  TlsServer t;
  auto o = client_for(t.server);
  o.verify_tls = false;
  OpenAiClient c(o);
  EXPECT_FALSE(c.chat({{"user", "hi"}}, {}).text.empty());
}

TEST(Https, RolesResolveCaFileAndTlsVerify) {
  ecpo::test::TempDir dir;
  std::filesystem::create_directories(dir.path() / "certs");
  std::filesystem::copy_file(kTls / "cert.pem", dir.path() / "certs" / "ca.pem");
  const std::string yaml = R"(
endpoints:
  secure: {base_url: "https://127.0.0.1:9/v1", ca_file: certs/ca.pem}
roles:
  agent: {endpoint: secure, model: m}
  judge: {base_url: "https://127.0.0.1:9/v1", model: m, tls_verify: false}
)";
  auto rc = roles_from_config(ecpo::Config::parse(yaml, "roles.yaml"), "roles.yaml", dir.path());
  EXPECT_EQ(rc.roles.at("agent").http.ca_file, (dir.path() / "certs" / "ca.pem").string());
  EXPECT_TRUE(rc.roles.at("agent").http.verify_tls);
  EXPECT_FALSE(rc.roles.at("judge").http.verify_tls);
  EXPECT_TRUE(rc.roles.at("judge").http.ca_file.empty());
  const std::string bad = R"(
roles:
  agent: {base_url: "https://127.0.0.1:9/v1", model: m, ca_file: nowhere.pem}
)";
  try {
    roles_from_config(ecpo::Config::parse(bad, "roles.yaml"), "roles.yaml", dir.path());
    FAIL();
  } catch (const ecpo::Error& e) {
    EXPECT_NE(std::string(e.what()).find("nowhere.pem"), std::string::npos) << e.what();
  }
}

TEST(Https, FakeServerRefusesAHalfOrBadKeyPair) {
  FakeServerOptions o;
  o.tls_cert = (kTls / "cert.pem").string();
  EXPECT_THROW(FakeServer{o}, ecpo::Error);
  o.tls_key = (kTls / "other-cert.pem").string();  // not a key
  EXPECT_THROW(FakeServer{o}, ecpo::Error);
}
