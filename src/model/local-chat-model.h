// The `local` ChatModel backend: an HF model directory (Llama / Qwen2 safetensors + tokenizer) run by the
// built-in CPU engine behind the same llm::ChatModel interface as the HTTP client, so every role can use
// it. chat() renders the messages with the model's chat template (Llama 3 when the tokenizer has Llama-3
// header tokens, else ChatML), generates with temperature / top_p / max_tokens / stop / seed and reports
// usage and latency. An optional PEFT LoRA adapter is merged into the weights at load (model/lora-adapter.h).
// Concurrent chat() calls are batched: every LocalChatModel loaded with the same model directory, adapter, dtype and
// engine settings in one process shares one engine — one copy of the weights and one BatchScheduler (continuous
// batching, chunked prefill, prefix reuse; model/batch-scheduler.h). Torch-free header. Not here: enforcing
// json_schema (ignored: the llm layer's tolerant parser validates and re-asks).
#pragma once
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>

#include "llm/chat-model.h"
#include "model/batch-scheduler.h"

namespace ecpo::model {

struct LocalModelOptions {
  std::filesystem::path model_dir;    // config.json + model.safetensors + tokenizer files
  std::filesystem::path adapter_dir;  // PEFT adapter (adapter_config.json + adapter_model.safetensors); empty = none
  std::string dtype = "float32";      // float32 | bfloat16 | float16 | auto (config torch_dtype)
  int threads = 0;                    // engine threads; 0 = hardware threads
  std::string chat_template;          // "" = auto; else a ChatTemplate name (llama3, llama3.1, chatml, qwen2, qwen2.5)
  std::string model_name;             // "" = the model directory's name
  int max_batch = 32;                 // sequences decoded together at most (BatchOptions)
  std::int64_t kv_cache_mb = 1024;    // KV memory of running sequences + the prefix cache, MiB
  bool prefix_cache = true;           // reuse the KV of earlier prompts that share a prefix
};

// Thread-safety: chat() may be called from any number of threads at once; the calls join one running batch.
class LocalChatModel : public llm::ChatModel {
 public:
  // Loads model (+ adapter), tokenizer and template; throws ecpo::Error naming the file on any problem.
  static std::unique_ptr<LocalChatModel> load(const LocalModelOptions& options);
  ~LocalChatModel() override;

  // Renders, generates, decodes. Without params.seed a sampling call (temperature > 0) draws a fresh
  // random seed, like an OpenAI server; temperature 0 is greedy and deterministic. Stops at the model's
  // EOS / end-of-turn tokens or at one of params.stop (finish_reason "stop"), or at max_tokens / the end of
  // the context ("length"). Throws llm::ChatError (FailureKind::other) when the prompt does not fit.
  // params.on_delta is called live, token by token (text that may still become a stop string or complete a
  // UTF-8 character waits); returning false cancels generation (finish_reason "cancelled", text = what was
  // delivered).
  llm::ChatResult chat(const std::vector<llm::Message>& messages, const llm::ChatParams& params) override;
  std::string model_name() const override;

  const std::string& template_name() const;
  std::int64_t context_length() const;  // max_position_embeddings
  // Number of prompt tokens the messages render to (with the generation prompt).
  std::size_t count_prompt_tokens(const std::vector<llm::Message>& messages) const;
  // The shared engine's scheduler counters (batching, prefix hits, prefill tokens saved).
  SchedulerMetrics scheduler_metrics() const;

 private:
  LocalChatModel();
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace ecpo::model
