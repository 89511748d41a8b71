// Fuzz target: a whole safetensors file in memory (model::safetensors_parse): the header's JSON, dtypes,
// shapes and data_offsets against the file size. Every tensor the parser accepts must lie inside the data.
#include "fuzz-support.h"
#include "model/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  ecpo::fuzz::located_or_abort([&] {
    auto h = ecpo::model::safetensors_parse(data, size, "model.safetensors");
    for (const auto& t : h.tensors)
      if (t.begin > t.end || h.data_start() + t.end > size) std::abort();
  });
  return 0;
}
