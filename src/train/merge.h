// `ecpo model merge`: folds a PEFT LoRA adapter into a copy of its base model, torch-free interface.
// Every adapted weight becomes W + s·B·A (computed in float32, stored in W's dtype); every other tensor and
// every non-weight file (config.json, tokenizer files, generation_config.json, ...) is copied, so the result
// is an ordinary Hugging Face model directory that ecpo and transformers load without the adapter. Weights are
// written in shards of at most 2 GiB (model.safetensors, or model-0000i-of-0000n.safetensors + index) into a
// temporary directory renamed to `out` at the end: a failure leaves nothing behind.
#pragma once
#include <cstdint>
#include <filesystem>

namespace ecpo::train {

struct MergeSummary {
  std::int64_t merged_modules = 0, tensors = 0, bytes = 0, shards = 0;
};

// Throws ecpo::Error naming the adapter key for a module the model lacks or a shape that does not fit, and
// when `out` exists and is not empty.
MergeSummary model_merge(const std::filesystem::path& model_dir, const std::filesystem::path& adapter_dir,
                         const std::filesystem::path& out);

}  // namespace ecpo::train
