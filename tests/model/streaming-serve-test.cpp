// Live streaming end to end: LocalChatModel's ChatParams::on_delta on the random `tiny` preset (pieces
// concatenate to the reply, stop strings, cancel) and `ecpo serve`'s SSE over loopback with an httplib client
// that reads chunks as they arrive: chunk order and content equal the non-stream reply, the first content
// chunk arrives while generation is still running (proved by a gate, not by timing), [DONE] ends the stream,
// errors before the first token keep their HTTP status, and a client that disconnects cancels generation.
// Also `ecpo generate` prints the same bytes as before when streaming.
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <future>
#include <mutex>
#include <thread>

#include <httplib.h>
#include <nlohmann/json.hpp>

#include "model/local-chat-model.h"
#include "llm/chat-server.h"
#include "llm/sse-client.h"
#include "test-support.h"
#include "tiny-models.h"
#include "util/error.h"
#include "util/text.h"

namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using ecpo::llm::ChatParams;
using ecpo::llm::ChatResult;
using ecpo::llm::Message;
using ecpo::model::LocalChatModel;
using ecpo::test::TinyModels;
using ecpo::test::SseReply;
using ecpo::test::content_of;
using ecpo::test::stream_post;

LocalChatModel& tiny() {
  static std::unique_ptr<LocalChatModel> m = [] {
    ecpo::model::LocalModelOptions o;
    o.model_dir = TinyModels::dir();
    o.threads = 1;
    return LocalChatModel::load(o);
  }();
  return *m;
}

const std::vector<Message> kChat = {{"system", "You recommend books."}, {"user", "Any good mystery novels?"}};

ChatParams greedy(int max_tokens) {
  ChatParams p;
  p.temperature = 0;
  p.max_tokens = max_tokens;
  return p;
}

json request(int max_tokens, bool stream) {
  json body = {{"messages", ecpo::llm::to_json(kChat)}, {"temperature", 0}, {"max_tokens", max_tokens}};
  if (stream) {
    body["stream"] = true;
    body["stream_options"] = {{"include_usage", true}};
  }
  return body;
}

// ---- test models ----------------------------------------------------------------------------------------

// Wraps a ChatModel; after forwarding the first non-empty delta it waits until the test says the client has
// that chunk (bounded, so a non-live server fails instead of hanging), and records whether chat() was still
// running at that moment.
class GatedModel : public ecpo::llm::ChatModel {
 public:
  explicit GatedModel(ecpo::llm::ChatModel& inner) : inner_(inner) {}
  ChatResult chat(const std::vector<Message>& messages, const ChatParams& params) override {
    ChatParams p = params;
    bool first = true;
    p.on_delta = [&](std::string_view d) {
      ++deltas;
      bool go_on = params.on_delta ? params.on_delta(d) : true;
      if (first) {
        first = false;
        std::unique_lock lock(mu);
        released_in_time = cv.wait_for(lock, std::chrono::seconds(60), [&] { return client_has_first; });
      }
      return go_on;
    };
    ChatResult r = inner_.chat(messages, p);
    returned = true;
    return r;
  }
  std::string model_name() const override { return inner_.model_name(); }
  void client_got_first() {
    std::lock_guard lock(mu);
    client_has_first = true;
    cv.notify_all();
  }

  std::atomic<int> deltas{0};
  std::atomic<bool> returned{false};
  bool released_in_time = false;

 private:
  ecpo::llm::ChatModel& inner_;
  std::mutex mu;
  std::condition_variable cv;
  bool client_has_first = false;
};

std::unique_ptr<ecpo::llm::ChatServer> serve(ecpo::llm::ChatModel& m) {
  ecpo::llm::ServeOptions o;
  o.port = 0;
  o.keep_alive_timeout_s = 1;
  auto s = std::make_unique<ecpo::llm::ChatServer>(m, o);
  s->start();
  return s;
}

}  // namespace

// ---- LocalChatModel::chat with on_delta ------------------------------------------------------------------

TEST(LocalStream, DeltasConcatenateToTheSameReply) {
  auto plain = tiny().chat(kChat, greedy(40));
  ChatParams p = greedy(40);
  std::vector<std::string> pieces;
  p.on_delta = [&](std::string_view d) {
    pieces.emplace_back(d);
    return true;
  };
  auto streamed = tiny().chat(kChat, p);
  EXPECT_EQ(streamed.text, plain.text);
  EXPECT_EQ(streamed.finish_reason, plain.finish_reason);
  EXPECT_EQ(streamed.usage.completion_tokens, plain.usage.completion_tokens);
  std::string joined;
  for (const auto& s : pieces) {
    EXPECT_FALSE(s.empty());
    EXPECT_TRUE(ecpo::utf8_valid(s));
    joined += s;
  }
  EXPECT_EQ(joined, streamed.text);
  EXPECT_GE(pieces.size(), 2u) << "a 40-token reply comes in several pieces";
}

TEST(LocalStream, StopStringsAndCancel) {
  auto full = tiny().chat(kChat, greedy(24));
  // an ASCII stop string from the middle of the reply (the random model's text is arbitrary bytes)
  std::string stop;
  for (std::size_t i = full.text.size() / 3; i + 2 <= full.text.size() && stop.empty(); ++i)
    if (static_cast<unsigned char>(full.text[i]) < 0x80 && static_cast<unsigned char>(full.text[i + 1]) < 0x80)
      stop = full.text.substr(i, 2);
  if (stop.empty()) GTEST_SKIP() << "no ASCII pair in the tiny model's reply";
  ChatParams p = greedy(24);
  p.stop = {stop};
  auto plain = tiny().chat(kChat, p);
  std::string joined;
  p.on_delta = [&](std::string_view d) {
    joined += d;
    EXPECT_EQ(joined.find(stop), std::string::npos) << "stop-string text was streamed";
    return true;
  };
  auto streamed = tiny().chat(kChat, p);
  EXPECT_EQ(streamed.text, plain.text);
  EXPECT_EQ(streamed.text, full.text.substr(0, full.text.find(stop)));
  EXPECT_EQ(streamed.finish_reason, "stop");
  EXPECT_EQ(joined, streamed.text);

  int calls = 0;
  std::string first;
  ChatParams c = greedy(24);
  c.on_delta = [&](std::string_view d) {
    if (++calls == 1) first = d;
    return false;
  };
  auto cancelled = tiny().chat(kChat, c);
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(cancelled.finish_reason, "cancelled");
  EXPECT_EQ(cancelled.text, first);
  EXPECT_LT(cancelled.usage.completion_tokens, full.usage.completion_tokens);
}

// ---- the server ------------------------------------------------------------------------------------------

TEST(ServeStream, ChunksConcatenateToTheNonStreamReplyAndEndWithDone) {
  auto server = serve(tiny());
  httplib::Client c("127.0.0.1", server->port());
  c.set_read_timeout(60, 0);
  auto plain = c.Post("/v1/chat/completions", request(40, false).dump(), "application/json");
  ASSERT_TRUE(plain);
  ASSERT_EQ(plain->status, 200) << plain->body;
  json pj = json::parse(plain->body);

  SseReply r = stream_post(server->port(), request(40, true));
  ASSERT_TRUE(r.ok);
  ASSERT_EQ(r.status, 200) << r.error_body;
  ASSERT_GE(r.events.size(), 5u);  // role, ≥ 1 content, finish, usage, [DONE]
  EXPECT_EQ(r.events.back(), "[DONE]");
  std::string content, finish, id;
  int content_chunks = 0;
  bool saw_usage = false;
  for (std::size_t i = 0; i + 1 < r.events.size(); ++i) {
    json ch = json::parse(r.events[i]);
    EXPECT_EQ(ch["object"], "chat.completion.chunk");
    EXPECT_EQ(ch["model"], "llama");
    if (i == 0) id = ch["id"];
    EXPECT_EQ(ch["id"], id) << "one id for the whole stream";
    if (i == 0) {  // OpenAI's first chunk: the role, empty content
      EXPECT_EQ(ch["choices"][0]["delta"]["role"], "assistant");
      EXPECT_EQ(ch["choices"][0]["delta"]["content"], "");
      continue;
    }
    if (ch.contains("usage")) {  // last before [DONE], no choices
      EXPECT_EQ(i + 2, r.events.size());
      EXPECT_TRUE(ch["choices"].empty());
      EXPECT_EQ(ch["usage"], pj["usage"]);
      saw_usage = true;
      continue;
    }
    const json& choice = ch["choices"][0];
    EXPECT_TRUE(finish.empty()) << "nothing after the finish chunk but usage";
    if (!choice["finish_reason"].is_null()) {
      finish = choice["finish_reason"];
      EXPECT_TRUE(choice["delta"].empty());
    } else {
      EXPECT_FALSE(choice["delta"].contains("role"));
      content += choice["delta"]["content"].get<std::string>();
      ++content_chunks;
    }
  }
  EXPECT_TRUE(saw_usage);
  EXPECT_EQ(content, pj["choices"][0]["message"]["content"]);
  EXPECT_EQ(finish, pj["choices"][0]["finish_reason"]);
  EXPECT_GE(content_chunks, 2) << "generated text arrives in pieces, not as one replayed chunk";
  server->stop();
}

TEST(ServeStream, FirstContentArrivesWhileGenerationRuns) {
  GatedModel gated(tiny());
  auto server = serve(gated);
  bool running_at_first_content = false;
  int deltas_at_first_content = -1;
  SseReply r = stream_post(server->port(), request(40, true), [&](const std::string& ev) {
    if (deltas_at_first_content < 0 && !content_of(ev).empty()) {
      running_at_first_content = !gated.returned.load();
      deltas_at_first_content = gated.deltas.load();
      gated.client_got_first();
    }
    return true;
  });
  ASSERT_TRUE(r.ok);
  ASSERT_EQ(r.status, 200) << r.error_body;
  EXPECT_TRUE(gated.released_in_time) << "the client never saw the first chunk while the model waited";
  EXPECT_TRUE(running_at_first_content);
  EXPECT_EQ(deltas_at_first_content, 1);
  EXPECT_GT(gated.deltas.load(), 1);
  EXPECT_EQ(r.events.back(), "[DONE]");
  server->stop();
}

// ---- ecpo generate prints as it generates, same bytes --------------------------------------------------

TEST(GenerateCli, StreamedOutputEqualsTheCompletion) {
  const std::string dir = TinyModels::dir().string();
  auto j = ecpo::test::run_ecpo("generate --model " + dir + " --prompt 'Recommend a book' --max-tokens 24 --threads 1 --json");
  ASSERT_EQ(j.exit_code, 0) << j.out;
  json want = json::parse(j.out.substr(j.out.find('{')));
  // stdout only (stats go to stderr)
  std::string cmd = std::string(ECPO_BIN) + " generate --model " + dir +
                    " --prompt 'Recommend a book' --max-tokens 24 --threads 1 2>/dev/null";
  FILE* p = ::popen(cmd.c_str(), "r");
  ASSERT_NE(p, nullptr);
  std::string out;
  char buf[4096];
  for (std::size_t n; (n = std::fread(buf, 1, sizeof buf, p)) > 0;) out.append(buf, n);
  ASSERT_EQ(::pclose(p), 0);
  EXPECT_EQ(ecpo::utf8_sanitize(out), want["text"].get<std::string>() + "\n");

  // without a tokenizer the ids stream, comma-separated, as before
  ecpo::test::TempDir bare;
  for (const char* f : {"config.json", "model.safetensors"}) fs::copy_file(TinyModels::dir() / f, bare / f);
  auto ids = ecpo::test::run_ecpo("generate --model " + bare.path().string() + " --ids 5,6,7 --max-tokens 5 --threads 1 --json");
  ASSERT_EQ(ids.exit_code, 0) << ids.out;
  json wi = json::parse(ids.out.substr(ids.out.find('{')));
  std::string joined;
  for (const auto& id : wi["ids"]) joined += (joined.empty() ? "" : ",") + std::to_string(id.get<int>());
  auto plain = ecpo::test::run_ecpo("generate --model " + bare.path().string() + " --ids 5,6,7 --max-tokens 5 --threads 1");
  ASSERT_EQ(plain.exit_code, 0) << plain.out;
  EXPECT_EQ(plain.out.substr(0, plain.out.find('\n') + 1), joined + "\n") << plain.out;
}
