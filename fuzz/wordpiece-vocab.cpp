// Fuzz target: BERT vocab.txt (tok::parse_wordpiece_vocab), then encode/decode of a fixed text.
#include <sstream>

#include "fuzz-support.h"
#include "tokenizer/load.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  ecpo::fuzz::located_or_abort([&] {
    std::istringstream in(std::string(ecpo::fuzz::text(data, size)));
    auto tok = ecpo::tok::parse_wordpiece_vocab(in, "vocab.txt");
    ecpo::tok::EncodeOptions o;
    o.add_special = true;
    auto ids = tok->encode("Hello wörld, un-believable 123 [SEP]", o);
    (void)tok->decode(ids);
  });
  return 0;
}
