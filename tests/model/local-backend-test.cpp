// model/local-backend: a roles file that says `backend: local` serves a role from a model directory through
// llm::RoleSet — the same cache and accounting stack as the HTTP backend: a greedy rerun is a cache hit with
// identical text, every call is recorded, and bad settings fail with the role named.
#include "model/local-backend.h"

#include "llm/roles.h"
#include "model/local-chat-model.h"
#include "model/model-init.h"
#include "test-support.h"
#include "util/config.h"
#include "util/error.h"

namespace {

namespace fs = std::filesystem;

ecpo::llm::RolesConfig local_roles(const fs::path& model_dir, const fs::path& cache, const std::string& threads = "1") {
  std::string yaml = "cache: {enabled: true, path: " + cache.string() + "}\n"
                     "roles:\n"
                     "  agent:\n"
                     "    backend: local\n"
                     "    model: " + model_dir.string() + "\n"
                     "    threads: " + threads + "\n"
                     "    params: {temperature: 0.0, max_tokens: 8}\n";
  return ecpo::llm::roles_from_config(ecpo::Config::parse(yaml, "roles.yaml"), "roles.yaml", ".");
}

TEST(LocalBackend, RoleServedFromModelDirWithCacheAndAccounting) {
  ecpo::model::register_local_backend();
  ecpo::test::TempDir dir;
  ecpo::model::model_init(dir / "tiny", ecpo::model::init_spec_preset("tiny", "llama"), /*seed=*/3);

  const std::vector<ecpo::llm::Message> chat = {{"user", "Recommend a mystery novel."}};
  ecpo::llm::ChatParams p;
  p.max_tokens = 8;

  // Reference: the backend used directly, without the roles stack.
  ecpo::model::LocalModelOptions o;
  o.model_dir = dir / "tiny";
  o.threads = 1;
  std::string direct = ecpo::model::LocalChatModel::load(o)->chat(chat, p).text;

  auto sink = std::make_shared<ecpo::llm::MemoryCallSink>();
  ecpo::llm::RoleSet roles(local_roles(dir / "tiny", dir / "cache.sqlite"), {false, std::nullopt, sink});
  auto first = roles.model("agent")->chat(chat, p);
  auto second = roles.model("agent")->chat(chat, p);
  EXPECT_EQ(first.text, direct);
  EXPECT_FALSE(first.cache_hit);
  EXPECT_TRUE(second.cache_hit);
  EXPECT_EQ(second.text, first.text);
  EXPECT_GT(first.usage.prompt_tokens, 0);
  auto recs = sink->records();
  ASSERT_EQ(recs.size(), 2u);
  EXPECT_EQ(recs[0].role, "agent");
  EXPECT_EQ(recs[0].model, "tiny");
  EXPECT_FALSE(recs[0].cache_hit);
  EXPECT_TRUE(recs[1].cache_hit);
}

TEST(LocalBackend, BadSettingsNameTheRole) {
  ecpo::model::register_local_backend();
  ecpo::test::TempDir dir;
  {
    ecpo::llm::RoleSet roles(local_roles(dir / "missing", dir / "c.sqlite"), {true, std::nullopt, nullptr});
    try {
      roles.model("agent");
      FAIL() << "expected an error for a missing model directory";
    } catch (const ecpo::Error& e) {
      EXPECT_NE(std::string(e.what()).find("agent"), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find("model init"), std::string::npos) << e.what();
    }
  }
  ecpo::model::model_init(dir / "tiny", ecpo::model::init_spec_preset("tiny", "llama"), /*seed=*/3);
  ecpo::llm::RoleSet roles(local_roles(dir / "tiny", dir / "c.sqlite", "-2"),
                           {true, std::nullopt, nullptr});
  EXPECT_THROW(roles.model("agent"), ecpo::Error);
}

}  // namespace
