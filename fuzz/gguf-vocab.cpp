// Fuzz target: llama.cpp vocab-only GGUF (tok::parse_gguf_vocab); counts in the file must be capped by its size.
#include <sstream>

#include "fuzz-support.h"
#include "tokenizer/load.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  ecpo::fuzz::located_or_abort([&] {
    std::istringstream in(std::string(ecpo::fuzz::text(data, size)));
    auto tok = ecpo::tok::parse_gguf_vocab(in, size, "vocab.gguf");
    auto ids = tok->encode("Hello wörld 123");
    (void)tok->decode(ids);
  });
  return 0;
}
