// Fuzz target: PEFT adapter_config.json (model::parse_lora_config), including the scale it implies.
#include "fuzz-support.h"
#include "model/lora-adapter.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  ecpo::fuzz::located_or_abort([&] {
    auto c = ecpo::model::parse_lora_config(ecpo::fuzz::text(data, size), "adapter_config.json");
    (void)c.scale();
  });
  return 0;
}
