// model/bert-encoder: the tiny random BERT in tests/assets/model/encoder/tiny-bert must reproduce the golden
// embeddings of make_golden.py's independent torch reference (token ids exactly, vectors to 1e-5), give
// unit-norm rows, be invariant to padding and batch order, accept a "bert."-prefixed checkpoint, and reject
// broken inputs with ecpo::Error.
#include "model/bert-encoder.h"

#include <cmath>
#include <filesystem>

#include <nlohmann/json.hpp>

#include "model/safetensors.h"
#include "test-support.h"
#include "util/error.h"
#include "util/fs.h"
#include "util/jsonl.h"

namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using ecpo::model::BertEncoder;

const fs::path kAssets = fs::path(ECPO_TEST_ASSETS) / "model" / "encoder";
const fs::path kTiny = kAssets / "tiny-bert";

struct Golden {
  std::string text;
  std::vector<std::int32_t> ids;
  std::vector<float> embedding;
};

std::vector<Golden> load_golden() {
  json j = ecpo::read_json_file(kAssets / "golden.json");
  std::vector<Golden> out;
  for (const auto& c : j["cases"])
    out.push_back({c["text"], c["ids"].get<std::vector<std::int32_t>>(), c["embedding"].get<std::vector<float>>()});
  return out;
}

std::unique_ptr<BertEncoder> load_tiny(std::size_t batch_size = 32) {
  ecpo::model::BertEncoderOptions o;
  o.threads = 1;
  o.batch_size = batch_size;
  return BertEncoder::load(kTiny, o);
}

double max_abs_diff(const float* a, const float* b, std::size_t n) {
  double m = 0;
  for (std::size_t i = 0; i < n; ++i) m = std::max(m, static_cast<double>(std::fabs(a[i] - b[i])));
  return m;
}

TEST(BertEncoder, ConfigAndShape) {
  auto enc = load_tiny();
  EXPECT_EQ(enc->dim(), 32u);
  EXPECT_EQ(enc->config().num_hidden_layers, 2);
  EXPECT_EQ(enc->config().num_attention_heads, 4);
  EXPECT_EQ(enc->max_seq_length(), 16);  // from sentence_bert_config.json
  EXPECT_EQ(enc->name(), "bert:tiny-bert");
}

TEST(BertEncoder, TokenIdsMatchReference) {
  auto enc = load_tiny();
  for (const auto& g : load_golden()) EXPECT_EQ(enc->tokenize(g.text), g.ids) << "text: " << g.text;
}

TEST(BertEncoder, EmbeddingsMatchGoldenOneByOne) {
  auto enc = load_tiny();
  for (const auto& g : load_golden()) {
    std::vector<float> v = enc->encode_ids({g.ids});
    ASSERT_EQ(v.size(), g.embedding.size());
    EXPECT_LT(max_abs_diff(v.data(), g.embedding.data(), v.size()), 1e-5) << "text: " << g.text;
  }
}

TEST(BertEncoder, BatchedTextsMatchGoldenAndAreUnitNorm) {
  auto golden = load_golden();
  std::vector<std::string> texts;
  for (const auto& g : golden) texts.push_back(g.text);
  for (std::size_t bs : {1u, 3u, 32u}) {
    auto enc = load_tiny(bs);
    std::vector<float> v = enc->encode(texts);
    ASSERT_EQ(v.size(), texts.size() * enc->dim());
    for (std::size_t i = 0; i < texts.size(); ++i) {
      const float* row = v.data() + i * enc->dim();
      EXPECT_LT(max_abs_diff(row, golden[i].embedding.data(), enc->dim()), 1e-5)
          << "batch_size " << bs << ", text: " << texts[i];
      double n2 = 0;
      for (std::size_t d = 0; d < enc->dim(); ++d) n2 += static_cast<double>(row[d]) * row[d];
      EXPECT_NEAR(std::sqrt(n2), 1.0, 1e-5);
    }
  }
}

TEST(BertEncoder, PaddingInvariance) {
  auto enc = load_tiny();
  const std::string short_text = "Playing games is fun";
  const std::string long_text = "I really like dark mystery novels, please recommend something similar!";
  std::vector<float> alone = enc->encode({short_text});
  std::vector<float> padded = enc->encode_ids({enc->tokenize(long_text), enc->tokenize(short_text)});
  EXPECT_LT(max_abs_diff(alone.data(), padded.data() + enc->dim(), enc->dim()), 1e-5);
  // Same vector whatever the order of the batch.
  std::vector<float> other = enc->encode({long_text, short_text, "Café books"});
  EXPECT_LT(max_abs_diff(alone.data(), other.data() + enc->dim(), enc->dim()), 1e-5);
  // A different sentence gives a different vector (the model is not constant).
  EXPECT_GT(max_abs_diff(alone.data(), other.data(), enc->dim()), 1e-2);
}

TEST(BertEncoder, TruncatesToMaxSeqLength) {
  auto enc = load_tiny();
  std::string longer(600, ' ');
  for (int i = 0; i < 100; ++i) longer += "book ";
  auto ids = enc->tokenize(longer);
  EXPECT_EQ(ids.size(), 16u);
  ecpo::model::BertEncoderOptions o;
  o.threads = 1;
  o.max_seq_length = 8;
  auto short_enc = BertEncoder::load(kTiny, o);
  EXPECT_EQ(short_enc->tokenize(longer).size(), 8u);
  EXPECT_EQ(short_enc->encode({longer}).size(), 32u);
}

TEST(BertEncoder, EmptyInputListAndEmptyText) {
  auto enc = load_tiny();
  EXPECT_TRUE(enc->encode({}).empty());
  EXPECT_EQ(enc->tokenize("").size(), 2u);  // [CLS] [SEP]
}

TEST(BertEncoder, AcceptsBertPrefixedCheckpoint) {
  ecpo::test::TempDir tmp;
  for (const char* f : {"config.json", "vocab.txt", "sentence_bert_config.json", "tokenizer_config.json"})
    fs::copy_file(kTiny / f, tmp / f);
  ecpo::model::SafetensorsFile src(kTiny / "model.safetensors");
  std::vector<ecpo::model::TensorData> tensors;
  for (const auto& info : src.header().tensors) {
    auto view = src.get(info.name);
    tensors.push_back({"bert." + info.name, info.dtype, info.shape,
                       std::string(reinterpret_cast<const char*>(view.data), view.nbytes)});
  }
  ecpo::model::safetensors_write(tmp / "model.safetensors", std::move(tensors));
  ecpo::model::BertEncoderOptions o;
  o.threads = 1;
  auto enc = BertEncoder::load(tmp.path(), o);
  auto g = load_golden()[0];
  std::vector<float> v = enc->encode({g.text});
  EXPECT_LT(max_abs_diff(v.data(), g.embedding.data(), v.size()), 1e-5);
}

TEST(BertEncoder, LoadEncoderInterface) {
  ecpo::model::BertEncoderOptions o;
  o.threads = 1;
  std::unique_ptr<ecpo::retrieval::Encoder> enc = ecpo::model::load_bert_encoder(kTiny, o);
  auto g = load_golden()[1];
  std::vector<float> v = enc->encode({g.text});
  EXPECT_LT(max_abs_diff(v.data(), g.embedding.data(), v.size()), 1e-5);
}

TEST(BertEncoder, BadInputsThrowEcpoError) {
  ecpo::test::TempDir tmp;
  EXPECT_THROW(BertEncoder::load(tmp / "absent"), ecpo::Error);
  // Missing weights.
  for (const char* f : {"config.json", "vocab.txt"}) fs::copy_file(kTiny / f, tmp / f);
  EXPECT_THROW(BertEncoder::load(tmp.path()), ecpo::Error);
  // Weights that do not match the config.
  fs::copy_file(kTiny / "model.safetensors", tmp / "model.safetensors");
  json cfg = ecpo::read_json_file(kTiny / "config.json");
  cfg["hidden_size"] = 64;
  cfg["num_attention_heads"] = 4;
  ecpo::write_json_file(tmp / "config.json", cfg);
  try {
    BertEncoder::load(tmp.path());
    FAIL() << "expected ecpo::Error";
  } catch (const ecpo::Error& e) {
    EXPECT_NE(std::string(e.what()).find("shape"), std::string::npos) << e.what();
  }
  cfg["hidden_act"] = "relu";
  ecpo::write_json_file(tmp / "config.json", cfg);
  EXPECT_THROW(BertEncoder::load(tmp.path()), ecpo::Error);
  // Out-of-vocabulary ids and over-long rows are refused, not crashed on.
  auto enc = load_tiny();
  EXPECT_THROW(enc->encode_ids({{2, 100000, 3}}), ecpo::Error);
  EXPECT_THROW(enc->encode_ids({std::vector<std::int32_t>(65, 5)}), ecpo::Error);
  EXPECT_THROW(enc->encode_ids({{}}), ecpo::Error);
}

}  // namespace
