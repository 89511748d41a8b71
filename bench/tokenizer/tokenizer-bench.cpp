// Tokenizer encode throughput on Amazon 2014 Books review text (shared data): Llama-3 tiktoken BPE as
// shipped (PCRE2 JIT split, heap merge, pre-token cache; cold and warm cache) against a naive baseline
// run in the same process (same split, O(n²) lowest-rank merge loop, no cache), plus BERT WordPiece, plus
// 64 synthetic 1 kB pre-tokens where the merge algorithm dominates. Checks that both BPE paths give
// identical ids. Usage: bench_tokenizer [SHARED_DATA_DIR] [REPEATS]
#include <chrono>
#include <cstdio>
#include <iostream>

#include "tokenizer/bpe.h"
#include "tokenizer/regex.h"
#include "tokenizer/tokenizer.h"
#include "util/jsonl.h"
#include "util/table.h"

namespace {

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

std::string fmt(double v, const char* f = "%.2f") {
  char buf[64];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}

}  // namespace

int main(int argc, char** argv) try {
  std::filesystem::path data = argc > 1 ? argv[1] : ECPO_SHARED_DATA;
  int repeats = argc > 2 ? std::atoi(argv[2]) : 3;
  std::vector<std::string> docs;
  std::size_t bytes = 0;
  for (const char* f : {"Books_small.json", "Books_small_10000.json"}) {
    ecpo::JsonlReader in(data / "amazon2014_books_sample" / f);
    ecpo::json row;
    while (in.next(row))
      if (row.contains("reviewText") && row["reviewText"].is_string()) {
        docs.push_back(row["reviewText"].get<std::string>());
        bytes += docs.back().size();
      }
  }
  const double mb = static_cast<double>(bytes) * repeats / 1e6;
  std::printf("corpus: %zu reviews, %.2f MB, %d passes\n", docs.size(), bytes / 1e6, repeats);

  auto llama = ecpo::tok::load_tokenizer(data / "llama3_tiktoken_tokenizer" / "tokenizer.model");
  const auto& bpe = dynamic_cast<const ecpo::tok::BpeTokenizer&>(*llama);
  ecpo::tok::RegexSplitter split(ecpo::tok::kLlama3Pattern);

  // Baseline: split + naive merge, no cache.
  std::size_t naive_tokens = 0;
  std::vector<std::vector<ecpo::tok::TokenId>> naive_ids(docs.size());
  auto t0 = std::chrono::steady_clock::now();
  for (int r = 0; r < repeats; ++r)
    for (std::size_t d = 0; d < docs.size(); ++d) {
      std::vector<std::string_view> pieces;
      split.split(docs[d], pieces);
      std::vector<ecpo::tok::TokenId> ids;
      for (auto p : pieces) bpe.encode_word_reference(p, ids);
      naive_tokens += ids.size();
      if (r == 0) naive_ids[d] = std::move(ids);
    }
  double naive_s = seconds_since(t0);

  // Shipped path: first pass fills the cache (cold), the others hit it (warm).
  std::size_t mismatches = 0, fast_tokens = 0;
  t0 = std::chrono::steady_clock::now();
  for (std::size_t d = 0; d < docs.size(); ++d) {
    auto ids = llama->encode(docs[d]);
    fast_tokens += ids.size();
    if (ids != naive_ids[d]) ++mismatches;
  }
  double cold_s = seconds_since(t0);
  t0 = std::chrono::steady_clock::now();
  for (int r = 0; r < repeats; ++r)
    for (const auto& doc : docs) fast_tokens += llama->encode(doc).size();
  double warm_s = seconds_since(t0);

  // Long pre-tokens (random 1,000-letter runs, as in base64 blobs or minified code): where the O(n²) loop
  // hurts and the heap merge matters. Fixed seed, 64 runs.
  std::vector<std::string> blobs;
  std::uint64_t state = 42;
  std::size_t blob_bytes = 0;
  for (int b = 0; b < 64; ++b) {
    std::string w = " ";
    for (int k = 0; k < 1000; ++k) {
      state = state * 6364136223846793005ULL + 1442695040888963407ULL;
      w += static_cast<char>('a' + (state >> 33) % 26);
    }
    blob_bytes += w.size();
    blobs.push_back(std::move(w));
  }
  t0 = std::chrono::steady_clock::now();
  std::vector<std::vector<ecpo::tok::TokenId>> blob_naive(blobs.size());
  for (std::size_t b = 0; b < blobs.size(); ++b) bpe.encode_word_reference(blobs[b], blob_naive[b]);
  double blob_naive_s = seconds_since(t0);
  t0 = std::chrono::steady_clock::now();
  for (std::size_t b = 0; b < blobs.size(); ++b)
    if (llama->encode(blobs[b]) != blob_naive[b]) ++mismatches;
  double blob_fast_s = seconds_since(t0);

  auto bert = ecpo::tok::load_tokenizer(data / "bert_wordpiece_minilm_vocab");
  std::size_t wp_tokens = 0;
  t0 = std::chrono::steady_clock::now();
  for (int r = 0; r < repeats; ++r)
    for (const auto& doc : docs) wp_tokens += bert->encode(doc).size();
  double wp_s = seconds_since(t0);

  const double one_pass_mb = bytes / 1e6;
  const double naive_mbs = mb / naive_s;
  ecpo::Table t({"tokenizer", "path", "MB/s", "tokens/s", "ratio vs naive"});
  t.row({"llama3 BPE", "naive: O(n^2) merge, no cache", fmt(naive_mbs), fmt(naive_tokens / naive_s, "%.0f"), "1.00"});
  t.row({"llama3 BPE", "heap merge + cache, cold (1 pass)", fmt(one_pass_mb / cold_s),
         fmt((naive_tokens / repeats) / cold_s, "%.0f"), fmt((one_pass_mb / cold_s) / naive_mbs)});
  t.row({"llama3 BPE", "heap merge + cache, warm", fmt(mb / warm_s), fmt(naive_tokens / warm_s, "%.0f"),
         fmt((mb / warm_s) / naive_mbs)});
  t.row({"BERT WordPiece", "basic tokenizer + greedy longest match", fmt(mb / wp_s), fmt(wp_tokens / wp_s, "%.0f"),
         fmt((mb / wp_s) / naive_mbs)});
  const double blob_mb = blob_bytes / 1e6;
  t.row({"llama3 BPE, 1 kB pre-tokens", "naive: O(n^2) merge, no cache", fmt(blob_mb / blob_naive_s), "", "1.00"});
  t.row({"llama3 BPE, 1 kB pre-tokens", "heap merge (cold cache)", fmt(blob_mb / blob_fast_s), "",
         fmt(blob_naive_s / blob_fast_s)});
  t.print(std::cout);
  std::printf("BPE paths agree on %zu/%zu inputs\n", docs.size() + blobs.size() - mismatches,
              docs.size() + blobs.size());
  return mismatches == 0 ? 0 : 1;
} catch (const std::exception& e) {
  std::fprintf(stderr, "error: %s\n", e.what());
  return 1;
}
