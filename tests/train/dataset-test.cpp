// Datasets: every supported row format gives the ids and masks of the equivalent ecpo row (the chat template's
// own output, pinned by the tokenizer tests), masks cover exactly the completion + its end-of-turn token,
// over-long rows are dropped and counted, bad rows fail with file:line and a hint; batching plans.
#include <fstream>
#include <numeric>
#include <set>

#include <gtest/gtest.h>

#include "test-support.h"
#include "tokenizer/chat-template.h"
#include "tokenizer/tokenizer.h"
#include "train/batching.h"
#include "train/dataset.h"
#include "util/error.h"

using namespace ecpo::train;
namespace fs = std::filesystem;

namespace {

const fs::path kModels = fs::path(ECPO_TEST_ASSETS) / "model";

struct Data : ::testing::Test {
  static void SetUpTestSuite() {
    llama = ecpo::tok::load_tokenizer(kModels / "tiny-llama").release();
    qwen = ecpo::tok::load_tokenizer(kModels / "tiny-qwen2").release();
  }
  static void TearDownTestSuite() {
    delete llama;
    delete qwen;
  }
  static ecpo::tok::Tokenizer* llama;
  static ecpo::tok::Tokenizer* qwen;
  ecpo::test::TempDir tmp;

  fs::path write(const std::string& name, const std::string& text) {
    fs::path p = tmp / name;
    std::ofstream(p) << text;
    return p;
  }
  Dataset load(const std::string& text, DataKind k, DataOptions o = {}, const ecpo::tok::Tokenizer* t = nullptr,
               const std::string& name = "d.jsonl") {
    return load_dataset(write(name, text), k, t ? t : llama, o);
  }
  std::string error_of(const std::string& text, DataKind k, DataOptions o = {}) {
    try {
      load(text, k, o);
    } catch (const ecpo::Error& e) {
      return e.what();
    }
    return "";
  }
};
ecpo::tok::Tokenizer* Data::llama = nullptr;
ecpo::tok::Tokenizer* Data::qwen = nullptr;

const char* kMsgs =
    R"({"messages":[{"role":"system","content":"Be brief."},{"role":"user","content":"Recommend a book"},{"role":"assistant","content":"Try Dune."}]})";

TEST_F(Data, MessagesRowMaskCoversTheAssistantContentAndEndOfTurn) {
  Dataset d = load(std::string(kMsgs) + "\n", DataKind::sft);
  ASSERT_EQ(d.sft.size(), 1u);
  EXPECT_EQ(d.format, "ecpo");
  EXPECT_EQ(d.chat_template, "llama3");
  const TokenSeq& s = d.sft[0].seq;
  auto tmpl = ecpo::tok::ChatTemplate::named("llama3");
  auto ct = tmpl.render_ids(*llama, {{"system", "Be brief."}, {"user", "Recommend a book"}, {"assistant", "Try Dune."}}, false);
  ASSERT_EQ(s.ids, std::vector<std::int32_t>(ct.ids.begin(), ct.ids.end()));
  // The trained span decodes to exactly the answer and <|eot_id|>, nothing of the header.
  std::vector<ecpo::tok::TokenId> trained;
  for (std::size_t i = 0; i < s.ids.size(); ++i)
    if (s.mask[i]) trained.push_back(s.ids[i]);
  EXPECT_EQ(llama->decode(trained), "Try Dune.<|eot_id|>");
  EXPECT_EQ(s.ids.back(), *llama->token_to_id("<|eot_id|>"));
}

TEST_F(Data, ChatmlMaskIncludesImEndAndItsNewline) {
  Dataset d = load(std::string(kMsgs) + "\n", DataKind::sft, {}, qwen);
  EXPECT_EQ(d.chat_template, "chatml");
  const TokenSeq& s = d.sft[0].seq;
  std::vector<ecpo::tok::TokenId> trained;
  for (std::size_t i = 0; i < s.ids.size(); ++i)
    if (s.mask[i]) trained.push_back(s.ids[i]);
  EXPECT_EQ(qwen->decode(trained), "Try Dune.<|im_end|>\n");
}

TEST_F(Data, EveryFormatOfOneConversationGivesTheSameTokens) {
  Dataset ref = load(std::string(kMsgs) + "\n", DataKind::sft);
  const std::vector<std::string> rows = {
      R"({"instruction":"Recommend a book","input":"","output":"Try Dune.","system":"Be brief."})",
      R"({"conversations":[{"from":"human","value":"Recommend a book"},{"from":"gpt","value":"Try Dune."}],"system":"Be brief."})",
      R"({"prompt":[{"role":"system","content":"Be brief."},{"role":"user","content":"Recommend a book"}],"completion":[{"role":"assistant","content":"Try Dune."}]})",
  };
  for (const auto& r : rows) {
    SCOPED_TRACE(r);
    Dataset d = load(r + "\n", DataKind::sft);
    ASSERT_EQ(d.sft.size(), 1u);
    EXPECT_EQ(d.sft[0].seq.ids, ref.sft[0].seq.ids);
    EXPECT_EQ(d.sft[0].seq.mask, ref.sft[0].seq.mask);
  }
  // alpaca input is appended to the instruction on a new line
  Dataset a = load(R"({"instruction":"Recommend","input":"a book","output":"Try Dune."})" "\n", DataKind::sft);
  Dataset m = load(R"({"messages":[{"role":"user","content":"Recommend\na book"},{"role":"assistant","content":"Try Dune."}]})" "\n",
                   DataKind::sft);
  EXPECT_EQ(a.sft[0].seq.ids, m.sft[0].seq.ids);
  EXPECT_EQ(a.format, "alpaca");
}

TEST_F(Data, MultiTurnSftTrainsEveryAssistantTurn) {
  Dataset d = load(
      R"({"messages":[{"role":"user","content":"a"},{"role":"assistant","content":"b"},{"role":"user","content":"c"},{"role":"assistant","content":"d"}]})"
      "\n",
      DataKind::sft);
  const TokenSeq& s = d.sft[0].seq;
  std::vector<ecpo::tok::TokenId> trained;
  for (std::size_t i = 0; i < s.ids.size(); ++i)
    if (s.mask[i]) trained.push_back(s.ids[i]);
  EXPECT_EQ(llama->decode(trained), "b<|eot_id|>d<|eot_id|>");
}

TEST_F(Data, PreferenceFormatsAgreeAndMaskOnlyTheCompletion) {
  const std::string ecpo_row =
      R"({"prompt":[{"role":"user","content":"Recommend a book"}],"chosen":"Try Dune.","rejected":"No."})";
  Dataset ref = load(ecpo_row + "\n", DataKind::pair);
  ASSERT_EQ(ref.pairs.size(), 1u);
  const PairExample& p = ref.pairs[0];
  std::vector<ecpo::tok::TokenId> c, r;
  for (std::size_t i = 0; i < p.chosen.ids.size(); ++i)
    if (p.chosen.mask[i]) c.push_back(p.chosen.ids[i]);
  for (std::size_t i = 0; i < p.rejected.ids.size(); ++i)
    if (p.rejected.mask[i]) r.push_back(p.rejected.ids[i]);
  EXPECT_EQ(llama->decode(c), "Try Dune.<|eot_id|>");
  EXPECT_EQ(llama->decode(r), "No.<|eot_id|>");
  EXPECT_TRUE(std::equal(p.chosen.ids.begin(), p.chosen.ids.begin() + p.prompt_tokens, p.rejected.ids.begin()));
  const std::vector<std::string> rows = {
      R"({"pair_id":"x","prompt":{"messages":[{"role":"user","content":"Recommend a book"}]},"chosen":"Try Dune.","rejected":"No.","score":0.2})",
      R"({"prompt":[{"role":"user","content":"Recommend a book"}],"chosen":[{"role":"assistant","content":"Try Dune."}],"rejected":[{"role":"assistant","content":"No."}]})",
      R"({"chosen":[{"role":"user","content":"Recommend a book"},{"role":"assistant","content":"Try Dune."}],"rejected":[{"role":"user","content":"Recommend a book"},{"role":"assistant","content":"No."}]})",
      R"({"instruction":"Recommend a book","input":"","chosen":"Try Dune.","rejected":"No."})",
      R"({"conversations":[{"from":"human","value":"Recommend a book"}],"chosen":{"from":"gpt","value":"Try Dune."},"rejected":{"from":"gpt","value":"No."}})",
  };
  for (const auto& row : rows) {
    SCOPED_TRACE(row);
    Dataset d = load(row + "\n", DataKind::pair);
    ASSERT_EQ(d.pairs.size(), 1u);
    EXPECT_EQ(d.pairs[0].chosen.ids, p.chosen.ids);
    EXPECT_EQ(d.pairs[0].rejected.mask, p.rejected.mask);
  }
}

TEST_F(Data, LlamaFactoryJsonArrayAndKtoRows) {
  Dataset d = load(R"([{"instruction":"q1","input":"","output":"a1"},{"instruction":"q2","output":"a2"}])", DataKind::sft, {},
                   nullptr, "d.json");
  EXPECT_EQ(d.sft.size(), 2u);
  Dataset k1 = load(R"({"prompt":[{"role":"user","content":"q"}],"completion":"a","label":true})" "\n", DataKind::kto);
  Dataset k2 = load(R"({"messages":[{"role":"user","content":"q"},{"role":"assistant","content":"a"}],"kto_tag":false})" "\n",
                    DataKind::kto, {}, nullptr, "k.jsonl");
  ASSERT_EQ(k1.kto.size(), 1u);
  ASSERT_EQ(k2.kto.size(), 1u);
  EXPECT_EQ(k1.kto[0].seq.ids, k2.kto[0].seq.ids);  // LLaMA-Factory's KTO rows = ecpo/TRL unpaired rows
  EXPECT_TRUE(k1.kto[0].desirable);
  EXPECT_FALSE(k2.kto[0].desirable);
  EXPECT_EQ(k2.format, "sharegpt");
  // A pair file read for KTO: chosen rows (desirable) first, then rejected.
  Dataset u = load(R"({"prompt":[{"role":"user","content":"q"}],"chosen":"yes","rejected":"no"})" "\n"
                   R"({"prompt":[{"role":"user","content":"r"}],"chosen":"ok","rejected":"nah"})" "\n",
                   DataKind::kto);
  ASSERT_EQ(u.kto.size(), 4u);
  EXPECT_TRUE(u.kto[0].desirable && u.kto[1].desirable);
  EXPECT_FALSE(u.kto[2].desirable || u.kto[3].desirable);
  // KL rows: prompt of i + completion of i − 1 within chunks of the micro-batch size.
  kto_pair_kl(u, 2);
  const KtoExample& e1 = u.kto[1];
  const KtoExample& e0 = u.kto[0];
  std::vector<std::int32_t> want(e1.seq.ids.begin(), e1.seq.ids.begin() + e1.prompt_tokens);
  want.insert(want.end(), e0.seq.ids.begin() + e0.prompt_tokens, e0.seq.ids.end());
  EXPECT_EQ(e1.kl_seq.ids, want);
  EXPECT_EQ(e1.kl_seq.completion_tokens(), e0.seq.completion_tokens());
}

TEST_F(Data, PlainTextPromptCompletionGetsBosAndEos) {
  Dataset d = load(R"({"prompt":"The capital of France is","completion":" Paris."})" "\n", DataKind::sft);
  EXPECT_EQ(d.format, "trl");
  const TokenSeq& s = d.sft[0].seq;
  EXPECT_EQ(s.ids.front(), *llama->special().bos);
  EXPECT_EQ(s.ids.back(), *llama->special().eos);
  std::vector<ecpo::tok::TokenId> trained;
  for (std::size_t i = 0; i < s.ids.size(); ++i)
    if (s.mask[i]) trained.push_back(s.ids[i]);
  EXPECT_EQ(llama->decode(trained), " Paris." + llama->decode({*llama->special().eos}));  // tokenizer_config's eos
}

TEST_F(Data, OverLongRowsAreDroppedAndCountedNeverTruncated) {
  std::string text;
  for (int i = 0; i < 4; ++i)
    text += R"({"prompt":[{"role":"user","content":"q"}],"chosen":")" + std::string(i % 2 ? 300 : 3, 'x') +
            R"(","rejected":"no"})" "\n";
  DataOptions o;
  o.cutoff_len = 40;
  Dataset d = load(text, DataKind::pair, o);
  EXPECT_EQ(d.rows, 4u);
  EXPECT_EQ(d.pairs.size(), 2u);
  EXPECT_EQ(d.dropped_long, 2u);
  ASSERT_EQ(d.dropped_where.size(), 2u);
  EXPECT_NE(d.dropped_where[0].find(":2"), std::string::npos);
  for (const auto& p : d.pairs) EXPECT_LE(p.chosen.ids.size(), 40u);
}

TEST_F(Data, BadRowsNameTheRowAndGiveAHint) {
  auto has = [](const std::string& e, const std::string& what) {
    EXPECT_NE(e.find(what), std::string::npos) << e;
  };
  std::string e = error_of(std::string(kMsgs) + "\n" + R"({"messages":[{"role":"user","content":"hi"}]})" "\n", DataKind::sft);
  has(e, "d.jsonl:2"), has(e, "no assistant turn"), has(e, "hint");
  e = error_of(R"({"prompt":[{"role":"user","content":"q"}],"chosen":"  ","rejected":"no"})" "\n", DataKind::pair);
  has(e, "d.jsonl:1"), has(e, "empty chosen completion");
  DataOptions o;
  o.cutoff_len = 8;
  e = error_of(R"({"prompt":[{"role":"user","content":"a long prompt that will not fit"}],"chosen":"y","rejected":"n"})" "\n",
               DataKind::pair, o);
  has(e, "d.jsonl:1"), has(e, "cutoff_len is 8"), has(e, "skip_long_prompts");
  o.skip_long_prompts = true;
  e = error_of(R"({"prompt":[{"role":"user","content":"a long prompt that will not fit"}],"chosen":"y","rejected":"n"})" "\n"
               R"({"prompt":[{"role":"user","content":"b long prompt that will not fit"}],"chosen":"y","rejected":"n"})" "\n",
               DataKind::pair, o);
  has(e, "no example is left");
  e = error_of(R"({"foo":1})" "\n", DataKind::sft);
  has(e, "unrecognised row");
  e = error_of(std::string(kMsgs) + "\n" + R"({"text":"hello"})" "\n", DataKind::sft);
  has(e, "d.jsonl:2"), has(e, "first row");
  e = error_of(std::string(kMsgs) + "\n", DataKind::pair);
  has(e, "needs pair rows");
  DataOptions f;
  f.format = "alpaca";
  e = error_of(std::string(kMsgs) + "\n", DataKind::sft, f);
  has(e, "data_format is 'alpaca'");
  e = error_of(R"({"messages":[{"role":"robot","content":"x"},{"role":"assistant","content":"y"}]})" "\n", DataKind::sft);
  has(e, "unknown role 'robot'");
}

TEST(Batching, EveryExampleOncePerEpochInStepsThatDependOnlyOnTheEffectiveBatch) {
  std::vector<std::int64_t> len(103);
  for (std::size_t i = 0; i < len.size(); ++i) len[i] = static_cast<std::int64_t>((i * 37) % 50 + 3);
  auto a = plan_epoch(len, 4, 2, 9, 0);
  auto b = plan_epoch(len, 1, 8, 9, 0);
  auto c = plan_epoch(len, 8, 1, 9, 0);
  ASSERT_EQ(a.size(), 13u);
  EXPECT_EQ(steps_per_epoch(103, 4, 2), 13);
  std::vector<int> seen(103, 0);
  for (std::size_t s = 0; s < a.size(); ++s) {
    std::set<std::size_t> sa, sb, sc;
    for (const auto& m : a[s].micro) {
      EXPECT_LE(m.size(), 4u);
      for (auto i : m) sa.insert(i), ++seen[i];
    }
    for (const auto& m : b[s].micro) {
      EXPECT_EQ(m.size(), 1u);
      sb.insert(m.begin(), m.end());
    }
    for (const auto& m : c[s].micro) sc.insert(m.begin(), m.end());
    EXPECT_EQ(sa, sb);
    EXPECT_EQ(sa, sc);
  }
  for (int n : seen) EXPECT_EQ(n, 1);
  // Micro-batches hold similar lengths (sorted within a step) and epochs differ.
  for (const auto& m : a[0].micro)
    for (std::size_t k = 1; k < m.size(); ++k) EXPECT_GE(len[m[k - 1]], len[m[k]]);
  auto e1 = plan_epoch(len, 4, 2, 9, 1);
  EXPECT_NE(a[0].micro, e1[0].micro);
  EXPECT_EQ(plan_epoch(len, 4, 2, 9, 1)[3].micro, e1[3].micro);  // deterministic
  auto ev = plan_eval(len, 8);
  std::size_t total = 0;
  for (const auto& m : ev) total += m.size();
  EXPECT_EQ(total, 103u);
  // A token budget splits micro-batches of long examples (a single example may exceed it).
  auto tight = plan_eval(len, 8, 100);
  total = 0;
  for (const auto& m : tight) {
    std::int64_t longest = 0;
    for (auto i : m) longest = std::max(longest, len[i]);
    EXPECT_TRUE(m.size() == 1 || static_cast<std::int64_t>(m.size()) * longest <= 100);
    total += m.size();
  }
  EXPECT_EQ(total, 103u);
  EXPECT_GT(tight.size(), ev.size());
}

}  // namespace
