// Fuzz target: HF config.json (model::HfConfig::from_json after a located parse), including the parameter
// count, which must not overflow for any config the reader accepts.
#include "fuzz-support.h"
#include "model/hf-config.h"
#include "util/json-read.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  ecpo::fuzz::located_or_abort([&] {
    auto j = ecpo::parse_json_text(ecpo::fuzz::text(data, size), "config.json");
    auto c = ecpo::model::HfConfig::from_json(j, "config.json");
    (void)c.num_parameters();
    (void)c.to_json().dump();
  });
  return 0;
}
