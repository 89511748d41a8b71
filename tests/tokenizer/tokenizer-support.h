// Helpers for the tokenizer tests: llama.cpp's .inp/.out vocab-test reader and small id utilities.
#pragma once
#include <sstream>
#include <string>
#include <vector>

#include "tokenizer/tokenizer.h"
#include "util/fs.h"

namespace ecpo::test {

struct VocabCase {
  std::string text;
  std::vector<tok::TokenId> ids;
};

// llama.cpp tests/test-tokenizer-0: the .inp file holds cases separated by "\n__ggml_vocab_test__\n";
// the .out file has one line of space-separated ids per case.
inline std::vector<VocabCase> read_vocab_cases(const std::filesystem::path& inp, const std::filesystem::path& out) {
  const std::string sep = "\n__ggml_vocab_test__\n";
  std::string all = ecpo::read_file(inp);
  std::vector<VocabCase> cases;
  std::size_t pos = 0, hit;
  while ((hit = all.find(sep, pos)) != std::string::npos) {
    cases.push_back({all.substr(pos, hit - pos), {}});
    pos = hit + sep.size();
  }
  std::istringstream lines(ecpo::read_file(out));
  std::string line;
  std::size_t k = 0;
  while (std::getline(lines, line) && k < cases.size()) {
    std::istringstream ids(line);
    tok::TokenId id;
    while (ids >> id) cases[k].ids.push_back(id);
    ++k;
  }
  return cases;
}

inline std::string ids_str(const std::vector<tok::TokenId>& ids) {
  std::string s;
  for (auto id : ids) {
    if (!s.empty()) s.push_back(' ');
    s.append(std::to_string(id));
  }
  return s;
}

}  // namespace ecpo::test
