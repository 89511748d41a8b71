// model/local-chat-model end to end on the engine's random `tiny` preset (written into a temp dir with
// model_init): template choice per architecture, greedy determinism, seeded sampling, max_tokens and stop
// strings, usage counts, serialised concurrent calls, adapter loading and its error, and the OpenAI server over it.
// Also the `ecpo embed` / `ecpo serve` verbs' output and error paths.
#include "model/local-chat-model.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <regex>
#include <thread>

#include <httplib.h>
#include <nlohmann/json.hpp>

#include "llm/chat-server.h"
#include "test-support.h"
#include "tiny-models.h"
#include "util/error.h"
#include "util/jsonl.h"

namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using ecpo::llm::ChatParams;
using ecpo::llm::Message;
using ecpo::model::LocalChatModel;
using ecpo::model::LocalModelOptions;
using ecpo::test::TinyModels;

std::unique_ptr<LocalChatModel> load(const std::string& arch) {
  LocalModelOptions o;
  o.model_dir = TinyModels::dir(arch);
  o.threads = 1;
  return LocalChatModel::load(o);
}

const std::vector<Message> kChat = {{"system", "You recommend books."}, {"user", "Any good mystery novels?"}};

ChatParams greedy(int max_tokens) {
  ChatParams p;
  p.temperature = 0;
  p.max_tokens = max_tokens;
  return p;
}

TEST(LocalChatModel, TemplateFollowsTheTokenizer) {
  EXPECT_EQ(load("llama")->template_name(), "llama3");
  EXPECT_EQ(load("qwen2")->template_name(), "chatml");
  EXPECT_EQ(load("llama")->model_name(), "llama");
  LocalModelOptions o;
  o.model_dir = TinyModels::dir("qwen2");
  o.threads = 1;
  o.model_name = "my-model";
  o.chat_template = "qwen2";
  auto m = LocalChatModel::load(o);
  EXPECT_EQ(m->model_name(), "my-model");
  EXPECT_EQ(m->template_name(), "qwen2");
}

TEST(LocalChatModel, GreedyIsDeterministicAndCountsTokens) {
  for (const char* arch : {"llama", "qwen2"}) {
    auto m = load(arch);
    auto a = m->chat(kChat, greedy(12));
    auto b = m->chat(kChat, greedy(12));
    EXPECT_EQ(a.text, b.text) << arch;
    EXPECT_EQ(a.usage.completion_tokens, b.usage.completion_tokens);
    EXPECT_EQ(a.usage.prompt_tokens, static_cast<std::int64_t>(m->count_prompt_tokens(kChat)));
    EXPECT_GT(a.usage.prompt_tokens, 10);
    EXPECT_GE(a.usage.completion_tokens, 1);
    EXPECT_LE(a.usage.completion_tokens, 12);
    EXPECT_TRUE(a.finish_reason == "stop" || a.finish_reason == "length") << a.finish_reason;
    if (a.usage.completion_tokens < 12) {
      EXPECT_EQ(a.finish_reason, "stop");
    }
    EXPECT_GT(a.latency_ms, 0);
  }
}

TEST(LocalChatModel, MaxTokensCutsWithLength) {
  auto m = load("llama");
  auto full = m->chat(kChat, greedy(12));
  if (full.usage.completion_tokens < 3) GTEST_SKIP() << "tiny model stopped after " << full.usage.completion_tokens;
  auto r = m->chat(kChat, greedy(2));
  EXPECT_EQ(r.usage.completion_tokens, 2);
  EXPECT_EQ(r.finish_reason, "length");
  EXPECT_EQ(full.text.rfind(r.text, 0), 0u) << "a shorter greedy run is a prefix of the longer one";
}

TEST(LocalChatModel, StopStringCutsTheText) {
  auto m = load("llama");
  auto full = m->chat(kChat, greedy(16));
  if (full.text.size() < 6) GTEST_SKIP() << "tiny model text too short: '" << full.text << "'";
  std::string stop = full.text.substr(full.text.size() / 2, 2);
  ChatParams p = greedy(16);
  p.stop = {stop};
  auto r = m->chat(kChat, p);
  EXPECT_EQ(r.text, full.text.substr(0, full.text.find(stop)));
  EXPECT_EQ(r.finish_reason, "stop");
}

TEST(LocalChatModel, SeededSamplingRepeats) {
  auto m = load("qwen2");
  ChatParams p;
  p.temperature = 1.0;
  p.top_p = 0.95;
  p.max_tokens = 10;
  p.seed = 1234;
  auto a = m->chat(kChat, p);
  auto b = m->chat(kChat, p);
  EXPECT_EQ(a.text, b.text);
  EXPECT_EQ(a.usage.completion_tokens, b.usage.completion_tokens);
}

// Concurrent calls are batched by the engine's scheduler and still give the solo reply; a repeated prompt reuses
// the cached prefix (all but its last token) and says so in usage.cached_tokens; two models loaded with the same
// settings share one engine (one scheduler, one prefix cache).
TEST(LocalChatModel, ConcurrentCallsAreBatchedAndCorrect) {
  auto m = load("llama");
  auto first = m->chat(kChat, greedy(8));
  EXPECT_EQ(first.usage.cached_tokens, 0);
  const auto before = m->scheduler_metrics();
  std::vector<ecpo::llm::ChatResult> got(6);
  std::vector<std::thread> ts;
  for (int i = 0; i < 6; ++i) ts.emplace_back([&, i] { got[i] = m->chat(kChat, greedy(8)); });
  for (auto& t : ts) t.join();
  for (const auto& g : got) {
    EXPECT_EQ(g.text, first.text);
    EXPECT_EQ(g.usage.cached_tokens, first.usage.prompt_tokens - 1) << "the prompt minus the token fed for logits";
  }
  const auto after = m->scheduler_metrics();
  EXPECT_EQ(after.requests - before.requests, 6);
  EXPECT_EQ(after.prefix_hits - before.prefix_hits, 6);
  auto twin = load("llama");
  EXPECT_EQ(twin->chat(kChat, greedy(8)).usage.cached_tokens, first.usage.prompt_tokens - 1) << "shared engine";
}

TEST(LocalChatModel, AdapterAndBadInputs) {
  LocalModelOptions o;
  o.model_dir = TinyModels::dir("llama");
  o.adapter_dir = TinyModels::root() / "adapter";  // absent: a clear error naming the adapter directory
  try {
    LocalChatModel::load(o);
    FAIL() << "expected ecpo::Error";
  } catch (const ecpo::Error& e) {
    EXPECT_NE(std::string(e.what()).find("adapter directory not found"), std::string::npos) << e.what();
  }
  // A PEFT LoRA adapter for the tiny shapes loads (merged into the weights; see tests/model/lora-test.cpp).
  o.adapter_dir = std::filesystem::path(ECPO_TEST_ASSETS) / "model" / "tiny-llama-lora";
  o.threads = 1;
  EXPECT_NO_THROW(LocalChatModel::load(o)->chat(kChat, greedy(2)));
  o.adapter_dir.clear();
  o.model_dir = TinyModels::root() / "absent";
  EXPECT_THROW(LocalChatModel::load(o), ecpo::Error);
  auto m = load("llama");
  EXPECT_THROW(m->chat({{"wizard", "hi"}}, greedy(4)), ecpo::llm::ChatError);
  std::string huge;
  for (int i = 0; i < 3000; ++i) huge += "mystery novel ";
  EXPECT_THROW(m->chat({{"user", huge}}, greedy(4)), ecpo::llm::ChatError);
}

TEST(LocalChatModel, ServedOverHttpMatchesDirectCall) {
  auto m = load("llama");
  auto direct = m->chat(kChat, greedy(8));
  ecpo::llm::ServeOptions so;
  so.port = 0;
  ecpo::llm::ChatServer server(*m, so);
  server.start();
  httplib::Client c("127.0.0.1", server.port());
  c.set_read_timeout(60, 0);
  json body = {{"model", "llama"},
               {"messages", ecpo::llm::to_json(kChat)},
               {"temperature", 0},
               {"max_tokens", 8}};
  auto r = c.Post("/v1/chat/completions", body.dump(), "application/json");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  json j = json::parse(r->body);
  EXPECT_EQ(j["choices"][0]["message"]["content"], direct.text);
  EXPECT_EQ(j["choices"][0]["finish_reason"], direct.finish_reason);
  EXPECT_EQ(j["usage"]["prompt_tokens"], direct.usage.prompt_tokens);
  EXPECT_EQ(j["usage"]["completion_tokens"], direct.usage.completion_tokens);
  auto models = c.Get("/v1/models");
  ASSERT_TRUE(models);
  EXPECT_EQ(json::parse(models->body)["data"][0]["id"], "llama");
  server.stop();
}

// ---- CLI ----

TEST(EncoderCli, EmbedPrintsGoldenVectors) {
  const fs::path assets = fs::path(ECPO_TEST_ASSETS) / "model" / "encoder";
  json golden = ecpo::read_json_file(assets / "golden.json");
  const std::string text = golden["cases"][0]["text"];
  auto r = ecpo::test::run_ecpo("embed --threads 1 --model " + (assets / "tiny-bert").string() + " --text '" + text +
                                "' --json");
  ASSERT_EQ(r.exit_code, 0) << r.out;
  json j = json::parse(r.out.substr(r.out.find('{')));
  EXPECT_EQ(j["dim"], 32);
  auto v = j["embeddings"][0]["embedding"].get<std::vector<float>>();
  auto g = golden["cases"][0]["embedding"].get<std::vector<float>>();
  ASSERT_EQ(v.size(), g.size());
  for (std::size_t i = 0; i < v.size(); ++i) EXPECT_NEAR(v[i], g[i], 1e-5);
  auto plain = ecpo::test::run_ecpo("embed --threads 1 --model " + (assets / "tiny-bert").string() + " --text hello");
  ASSERT_EQ(plain.exit_code, 0) << plain.out;
  EXPECT_NE(plain.out.find("norm 1.000000"), std::string::npos) << plain.out;
}

// `ecpo serve --port 0` in a child process: read the port from its log, chat over HTTP, stop it with SIGTERM.
TEST(EncoderCli, ServeVerbAnswersAndStopsOnSigterm) {
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, fds[1], 2);
  posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
  posix_spawn_file_actions_addclose(&fa, fds[0]);
  std::string model = TinyModels::dir("llama").string();
  std::vector<std::string> args = {ECPO_BIN, "serve", "--model", model, "--port", "0", "--threads", "1",
                                   "--model-name", "tiny-cli"};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = -1;
  ASSERT_EQ(posix_spawn(&pid, ECPO_BIN, &fa, nullptr, argv.data(), environ), 0);
  posix_spawn_file_actions_destroy(&fa);
  ::close(fds[1]);
  ::fcntl(fds[0], F_SETFL, O_NONBLOCK);
  std::string log;
  int port = -1;
  const std::regex re(R"(http://127\.0\.0\.1:(\d+)/v1)");
  for (int i = 0; i < 600 && port < 0; ++i) {  // up to 60 s (loaded CI machines)
    char buf[512];
    ssize_t n = ::read(fds[0], buf, sizeof buf);
    if (n > 0) log.append(buf, static_cast<std::size_t>(n));
    std::smatch m;
    if (std::regex_search(log, m, re)) port = std::stoi(m[1]);
    else std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  if (port < 0) {
    ::kill(pid, SIGKILL);
    ::waitpid(pid, nullptr, 0);
    FAIL() << "no port in the serve log: " << log;
  }
  httplib::Client c("127.0.0.1", port);
  c.set_read_timeout(30, 0);
  auto r = c.Post("/v1/chat/completions",
                  json{{"model", "tiny-cli"}, {"messages", ecpo::llm::to_json(kChat)}, {"temperature", 0}, {"max_tokens", 4}}.dump(),
                  "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200) << r->body;
  EXPECT_EQ(json::parse(r->body)["model"], "tiny-cli");
  c.stop();
  ASSERT_EQ(::kill(pid, SIGTERM), 0);
  int status = 0;
  for (int i = 0; i < 300; ++i) {  // graceful stop within 30 s
    if (::waitpid(pid, &status, WNOHANG) == pid) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    if (i == 299) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &status, 0);
      FAIL() << "serve did not stop on SIGTERM";
    }
  }
  ::close(fds[0]);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << log;
}

TEST(EncoderCli, ServeAndEmbedErrorsAreOneLine) {
  auto r = ecpo::test::run_ecpo("serve --model /nonexistent/model --port 0");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.out.find("error:"), std::string::npos) << r.out;
  auto a = ecpo::test::run_ecpo("serve --model " + TinyModels::dir("llama").string() +
                                " --adapter /no/such/ecpo-adapter --port 0");
  EXPECT_NE(a.exit_code, 0);
  EXPECT_NE(a.out.find("adapter directory not found"), std::string::npos) << a.out;
  auto e = ecpo::test::run_ecpo("embed --model /nonexistent --text hi");
  EXPECT_NE(e.exit_code, 0);
  EXPECT_NE(e.out.find("error:"), std::string::npos) << e.out;
}

}  // namespace
