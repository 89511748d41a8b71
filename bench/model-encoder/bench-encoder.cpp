// bench_encoder: sentences/s of the BERT encoder on a MiniLM-L6-v2-shaped model with random weights (hidden
// 384, 6 layers, 12 heads, intermediate 1536, the real uncased WordPiece vocab from shared/data) at batch
// sizes 1..64 and 1 vs T work-pool threads, as ratios against (1 thread, batch 1) measured in the same run.
// Speed only: the weights are random.
//   bench_encoder [--texts N] [--threads T]   (T: the second thread count, default 2)
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <random>
#include <string>
#include <vector>

#include "model/bert-encoder.h"
#include "model/safetensors.h"
#include "util/error.h"
#include "util/fs.h"
#include "util/jsonl.h"
#include "util/table.h"

namespace fs = std::filesystem;
using namespace ecpo;

namespace {

void add(std::vector<model::TensorData>& out, std::mt19937& rng, const std::string& name,
         std::vector<std::int64_t> shape, float std_dev, float mean = 0) {
  std::int64_t n = 1;
  for (auto d : shape) n *= d;
  std::normal_distribution<float> dist(mean, std_dev);
  std::vector<float> v(static_cast<std::size_t>(n));
  for (auto& x : v) x = dist(rng);
  out.push_back({name, "F32", std::move(shape), model::pack_floats(v, "F32")});
}

void write_minilm(const fs::path& dir, const fs::path& vocab) {
  const std::int64_t V = 30522, H = 384, I = 1536, L = 6, P = 512;
  fs::create_directories(dir);
  write_json_file(dir / "config.json", {{"architectures", {"BertModel"}}, {"hidden_act", "gelu"}, {"hidden_size", H},
                                        {"intermediate_size", I}, {"num_attention_heads", 12},
                                        {"num_hidden_layers", L}, {"max_position_embeddings", P},
                                        {"type_vocab_size", 2}, {"vocab_size", V}, {"layer_norm_eps", 1e-12}});
  write_json_file(dir / "sentence_bert_config.json", {{"max_seq_length", 256}, {"do_lower_case", false}});
  fs::copy_file(vocab, dir / "vocab.txt", fs::copy_options::overwrite_existing);
  std::mt19937 rng(7);
  std::vector<model::TensorData> t;
  add(t, rng, "embeddings.word_embeddings.weight", {V, H}, 0.02f);
  add(t, rng, "embeddings.position_embeddings.weight", {P, H}, 0.02f);
  add(t, rng, "embeddings.token_type_embeddings.weight", {2, H}, 0.02f);
  add(t, rng, "embeddings.LayerNorm.weight", {H}, 0.0f, 1.0f);
  add(t, rng, "embeddings.LayerNorm.bias", {H}, 0.0f);
  for (std::int64_t l = 0; l < L; ++l) {
    const std::string p = "encoder.layer." + std::to_string(l) + ".";
    for (const char* n : {"attention.self.query", "attention.self.key", "attention.self.value", "attention.output.dense"}) {
      add(t, rng, p + n + ".weight", {H, H}, 0.02f);
      add(t, rng, p + n + ".bias", {H}, 0.0f);
    }
    add(t, rng, p + "intermediate.dense.weight", {I, H}, 0.02f);
    add(t, rng, p + "intermediate.dense.bias", {I}, 0.0f);
    add(t, rng, p + "output.dense.weight", {H, I}, 0.02f);
    add(t, rng, p + "output.dense.bias", {H}, 0.0f);
    for (const char* n : {"attention.output.LayerNorm", "output.LayerNorm"}) {
      add(t, rng, p + n + ".weight", {H}, 0.0f, 1.0f);
      add(t, rng, p + n + ".bias", {H}, 0.0f);
    }
  }
  model::safetensors_write(dir / "model.safetensors", std::move(t));
}

std::vector<std::string> make_texts(std::size_t n) {
  const std::vector<std::string> words = {"mystery", "novel", "with", "a", "detective", "in", "london", "science",
                                          "fiction", "space", "opera", "fantasy", "dragons", "cozy", "romance",
                                          "thriller", "about", "the", "war", "history", "of", "cooking", "games"};
  std::mt19937 rng(11);
  std::uniform_int_distribution<std::size_t> len(4, 40), w(0, words.size() - 1);
  std::vector<std::string> out;
  for (std::size_t i = 0; i < n; ++i) {
    std::string s;
    for (std::size_t k = 0, m = len(rng); k < m; ++k) s += (k ? " " : "") + words[w(rng)];
    out.push_back(s);
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  std::size_t n_texts = 256;
  int threads = 2;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string a = argv[i];
    if (a == "--texts") n_texts = std::strtoul(argv[i + 1], nullptr, 10);
    if (a == "--threads") threads = std::atoi(argv[i + 1]);
  }
  try {
    const fs::path vocab = fs::path(ECPO_SHARED_DATA) / "bert_wordpiece_minilm_vocab" / "vocab.txt";
    require_exists(vocab, "MiniLM vocab.txt", "set up ../shared/data");
    const fs::path dir = fs::temp_directory_path() / "ecpo-bench-minilm";
    write_minilm(dir, vocab);
    auto texts = make_texts(n_texts);
    Table table({"threads", "batch size", "texts", "seconds", "texts/s", "vs 1 thread, batch 1"});
    double base = 0;
    for (int th : {1, threads})
    for (std::size_t bs : {1u, 8u, 32u, 64u}) {
      model::BertEncoderOptions o;
      o.threads = th;
      o.batch_size = bs;
      auto enc = model::BertEncoder::load(dir, o);
      enc->encode({texts[0], texts[1]});  // warm-up
      auto t0 = std::chrono::steady_clock::now();
      auto v = enc->encode(texts);
      double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      double rate = texts.size() / s;
      if (bs == 1 && th == 1) base = rate;
      char a[32], b[32], c[32];
      std::snprintf(a, sizeof a, "%.3f", s);
      std::snprintf(b, sizeof b, "%.1f", rate);
      std::snprintf(c, sizeof c, "%.2fx", rate / base);
      table.row({std::to_string(th), std::to_string(bs), std::to_string(texts.size()), a, b, c});
    }
    std::printf("MiniLM-L6-shaped BERT (random weights), %zu texts of 4-40 words, fp32 CPU\n", texts.size());
    table.print(std::cout);
    fs::remove_all(dir);
  } catch (const Error& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
  return 0;
}
