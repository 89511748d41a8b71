// Fuzz target: HF tokenizer.json (tok::parse_hf_tokenizer_json). A tokenizer that loads must also encode and
// decode a fixed text without touching memory outside its tables.
#include "fuzz-support.h"
#include "tokenizer/load.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  ecpo::fuzz::located_or_abort([&] {
    auto tok = ecpo::tok::parse_hf_tokenizer_json(ecpo::fuzz::text(data, size), "tokenizer.json");
    ecpo::tok::EncodeOptions o;
    o.add_special = true;
    o.parse_special = true;
    auto ids = tok->encode("Hello wörld 123 <|x|> [CLS] ##ing", o);
    (void)tok->decode(ids);
  });
  return 0;
}
