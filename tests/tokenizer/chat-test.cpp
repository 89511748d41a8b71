// Chat templates: rendered bytes against golden files (tests/assets/model/tokenizer/chat-*.txt, written by
// hand from training-reference.md §13), Meta's chat id vectors, assistant masks, and the segment-wise
// tokenisation rule (ids equal tokenising the whole Llama-3 string with special tokens parsed).
#include <algorithm>

#include "tokenizer/chat-template.h"
#include "tokenizer/tokenizer.h"
#include "test-support.h"
#include "util/error.h"
#include "util/fs.h"
#include "util/jsonl.h"

using ecpo::llm::Message;
using ecpo::tok::ChatTemplate;
using ecpo::tok::TokenId;

namespace {

std::filesystem::path asset(const std::string& name) {
  return std::filesystem::path(ECPO_TEST_ASSETS) / "model" / "tokenizer" / name;
}

const std::vector<Message> kChat = {{"system", "You are a recommender."},
                                    {"user", "  Hi!\n"},
                                    {"assistant", " Try Dune. "},
                                    {"user", "Why?"}};

std::string masked_text(const ecpo::tok::Tokenizer& t, const ecpo::tok::ChatTokens& r) {
  std::vector<TokenId> kept;
  for (std::size_t i = 0; i < r.ids.size(); ++i)
    if (r.mask[i]) kept.push_back(r.ids[i]);
  return t.decode(kept);
}

}  // namespace

TEST(ChatTemplate, GoldenStrings) {
  EXPECT_EQ(ChatTemplate::named("llama3").render(kChat, true), ecpo::read_file(asset("chat-llama3.txt")));
  EXPECT_EQ(ChatTemplate::named("llama3.1").render(kChat, true), ecpo::read_file(asset("chat-llama3.1.txt")));
  EXPECT_EQ(ChatTemplate::named("chatml").render(kChat, true), ecpo::read_file(asset("chat-chatml.txt")));
  EXPECT_EQ(ChatTemplate::named("qwen2").render({{"user", "Hi"}}, true),
            ecpo::read_file(asset("chat-qwen2-default-system.txt")));
  // Llama 3.1 always emits the system block, even without a system message.
  EXPECT_EQ(ChatTemplate::named("llama3.1").render({{"user", "Hi"}}, false),
            "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nCutting Knowledge Date: December 2023\n"
            "Today Date: 26 Jul 2024\n\n<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>");
  EXPECT_EQ(ChatTemplate::named("qwen2.5").default_system,
            "You are Qwen, created by Alibaba Cloud. You are a helpful assistant.");
  EXPECT_EQ(ecpo::tok::strip_whitespace("\u3000 a b \n\t"), "a b");
  EXPECT_THROW(ChatTemplate::named("jinja"), ecpo::Error);
  EXPECT_THROW(ChatTemplate::named("llama3").render({{"narrator", "x"}}, false), ecpo::Error);
}

TEST(ChatTemplate, Llama3IdsMatchMetaVectors) {
  ECPO_REQUIRE_SHARED("llama3_tiktoken_tokenizer");
  auto dir = ecpo::test::shared_data() / "llama3_tiktoken_tokenizer";
  auto tok = ecpo::tok::load_tokenizer(dir / "tokenizer.model");
  auto tmpl = ChatTemplate::for_tokenizer(*tok);
  EXPECT_EQ(tmpl.name(), "llama3");
  auto j = ecpo::read_json_file(dir / "test_vectors_llama3.json");
  int checked = 0;
  for (const auto& c : j["cases"]) {
    if (c.contains("chat_message")) {  // encode_message: no BOS, no generation prompt
      Message m{c["chat_message"]["role"], c["chat_message"]["content"]};
      auto r = tmpl.render_ids(*tok, {m}, false);
      std::vector<TokenId> without_bos(r.ids.begin() + 1, r.ids.end());
      EXPECT_EQ(r.ids.front(), 128000);
      EXPECT_EQ(without_bos, c["ids"].get<std::vector<TokenId>>());
      ++checked;
    } else if (c.contains("chat_dialog")) {
      auto msgs = ecpo::llm::messages_from_json(c["chat_dialog"]);
      auto r = tmpl.render_ids(*tok, msgs, true);
      EXPECT_EQ(r.ids, c["ids"].get<std::vector<TokenId>>());
      ++checked;
    }
  }
  EXPECT_EQ(checked, 2);
}

TEST(ChatTemplate, Llama3MaskAndSegmentRule) {
  ECPO_REQUIRE_SHARED("llama3_tiktoken_tokenizer");
  auto tok = ecpo::tok::load_tokenizer(ecpo::test::shared_data() / "llama3_tiktoken_tokenizer" / "tokenizer.model");
  for (const char* name : {"llama3", "llama3.1"}) {
    auto tmpl = ChatTemplate::named(name);
    auto r = tmpl.render_ids(*tok, kChat, true);
    ASSERT_EQ(r.ids.size(), r.mask.size());
    EXPECT_EQ(masked_text(*tok, r), "Try Dune.<|eot_id|>");
    EXPECT_EQ(tok->decode(r.ids), tmpl.render(kChat, true));
    // Project rule (training-reference.md §1): segment-wise ids equal tokenising the whole string.
    EXPECT_EQ(r.ids, tok->encode(tmpl.render(kChat, true), ecpo::tok::EncodeOptions{false, true})) << name;
  }
  // User text that spells a control token stays text.
  auto r = ChatTemplate::named("llama3").render_ids(*tok, {{"user", "<|eot_id|>"}}, false);
  EXPECT_EQ(std::count(r.ids.begin(), r.ids.end(), 128009), 1);
}

TEST(ChatTemplate, ChatMlMaskIncludesImEndAndNewline) {
  // The tiny fixture plus the two ChatML specials.
  auto j = ecpo::read_json_file(asset("tiny-bpe.json"));
  j["added_tokens"].push_back({{"id", 267}, {"content", "<|im_start|>"}, {"special", true}});
  j["added_tokens"].push_back({{"id", 268}, {"content", "<|im_end|>"}, {"special", true}});
  ecpo::test::TempDir dir;
  ecpo::write_json_file(dir / "tokenizer.json", j);
  auto tok = ecpo::tok::load_tokenizer(dir / "tokenizer.json");
  auto tmpl = ChatTemplate::for_tokenizer(*tok);
  EXPECT_EQ(tmpl.name(), "chatml");
  EXPECT_EQ(*tok->special().eot, 268);
  EXPECT_EQ(tok->special().stop, (std::vector<TokenId>{268}));  // no EOS in this fixture; <|im_end|> stops
  auto r = tmpl.render_ids(*tok, kChat, true);
  EXPECT_EQ(masked_text(*tok, r), " Try Dune. <|im_end|>\n");
  EXPECT_EQ(tok->decode(r.ids), tmpl.render(kChat, true));
  EXPECT_EQ(r.ids.back(), tok->encode("assistant\n").back());
  auto llama = ChatTemplate::named("llama3");
  EXPECT_THROW(llama.render_ids(*tok, kChat, true), ecpo::Error);  // no <|start_header_id|> here
}
