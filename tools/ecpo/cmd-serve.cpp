// CLI verbs: serve, embed (see commands.h). Thin: flags → library call → output.
//   ecpo serve --model DIR [--adapter DIR] [--host 127.0.0.1] [--port 8000] [--model-name NAME] [--threads N]
//              [--dtype float32|bfloat16|float16|auto] [--chat-template NAME] [--api-key-env VAR]
//              [--tls-cert PEM --tls-key PEM] [--max-batch N] [--kv-cache-mb MB] [--no-prefix-cache]
//       an OpenAI-compatible endpoint (/v1/chat/completions, /v1/models, /health): the local engine
//       (model/local-chat-model.h) behind llm::ChatServer
//   ecpo embed --model DIR (--text TEXT)... [--json] [--threads N] [--batch-size N] [--max-seq-length N]
//       sentence embeddings from a BERT/MiniLM directory: first values and norm, or the full vectors as JSON
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "model/bert-encoder.h"
#include "model/local-chat-model.h"
#include "llm/chat-server.h"
#include "tools/ecpo/commands.h"
#include "util/error.h"

namespace ecpo::cli {

namespace {

struct ServeFlags {
  model::LocalModelOptions model;
  std::string model_dir, adapter_dir;
  llm::ServeOptions serve;
  std::string api_key_env;
};

void run_serve(ServeFlags f) {
  f.model.model_dir = f.model_dir;
  f.model.adapter_dir = f.adapter_dir;
  f.model.model_name = f.serve.model_id;
  auto chat = model::LocalChatModel::load(f.model);
  std::fprintf(stderr, "loaded %s (template %s, context %lld tokens)\n", chat->model_name().c_str(),
               chat->template_name().c_str(), static_cast<long long>(chat->context_length()));
  if (!f.api_key_env.empty()) {
    const char* k = std::getenv(f.api_key_env.c_str());
    if (!k || !*k) throw Error("environment variable " + f.api_key_env + " is not set", "--api-key-env",
                               "export the key clients must send, or drop --api-key-env");
    f.serve.api_key = k;
  }
  // One worker thread per open connection: enough for every request the engine batches (and some waiting), and
  // a listen backlog that does not drop a burst of connects (httplib's defaults are 8 threads and 5).
  if (f.serve.threads <= 0) f.serve.threads = std::max(64, 2 * f.model.max_batch);
  if (f.serve.backlog <= 0) f.serve.backlog = 1024;
  llm::ChatServer server(*chat, f.serve);
  llm::serve_until_signal(server, "serving");
}

struct EmbedFlags {
  std::string model_dir;
  std::vector<std::string> texts;
  bool json = false;
  int show = 8;
  model::BertEncoderOptions options;
};

void run_embed(const EmbedFlags& f) {
  auto enc = model::load_bert_encoder(f.model_dir, f.options);
  std::vector<float> v = enc->encode(f.texts);
  const std::size_t d = enc->dim();
  if (f.json) {
    nlohmann::json out = {{"model", enc->name()}, {"dim", d}, {"embeddings", nlohmann::json::array()}};
    for (std::size_t i = 0; i < f.texts.size(); ++i)
      out["embeddings"].push_back({{"text", f.texts[i]},
                                   {"embedding", std::vector<float>(v.begin() + i * d, v.begin() + (i + 1) * d)}});
    std::printf("%s\n", out.dump().c_str());
    return;
  }
  std::printf("model %s, dim %zu\n", enc->name().c_str(), d);
  for (std::size_t i = 0; i < f.texts.size(); ++i) {
    const float* row = v.data() + i * d;
    double n2 = 0;
    for (std::size_t k = 0; k < d; ++k) n2 += static_cast<double>(row[k]) * row[k];
    std::printf("[%zu] norm %.6f  [", i, std::sqrt(n2));
    const std::size_t show = std::min<std::size_t>(d, static_cast<std::size_t>(std::max(0, f.show)));
    for (std::size_t k = 0; k < show; ++k) std::printf("%s%.6f", k ? ", " : "", row[k]);
    std::printf("%s]  %s\n", show < d ? ", ..." : "", f.texts[i].c_str());
  }
}

}  // namespace

void register_serve_commands(CLI::App& app) {
  auto f = std::make_shared<ServeFlags>();
  CLI::App* c = app.add_subcommand("serve", "serve a local model through an OpenAI-compatible HTTP endpoint");
  c->add_option("--model", f->model_dir, "Hugging Face model directory (config.json, *.safetensors, tokenizer)")
      ->required();
  c->add_option("--adapter", f->adapter_dir, "PEFT LoRA adapter directory, merged into the weights at load");
  c->add_option("--host", f->serve.host, "address to listen on")->capture_default_str();
  c->add_option("--port", f->serve.port, "port to listen on (0 = any free port, printed at start)")
      ->capture_default_str();
  c->add_option("--model-name", f->serve.model_id, "model id clients send and /v1/models lists (default: directory name)");
  c->add_option("--threads", f->model.threads, "engine threads (0 = all hardware threads)")->capture_default_str();
  c->add_option("--max-batch", f->model.max_batch, "requests decoded together at most (continuous batching)")
      ->capture_default_str();
  c->add_option("--kv-cache-mb", f->model.kv_cache_mb,
                "KV memory for running requests + the prefix cache, MiB (requests that do not fit wait)")
      ->capture_default_str();
  c->add_flag("--no-prefix-cache{false}", f->model.prefix_cache, "do not reuse the KV of earlier prompts' prefixes");
  c->add_option("--dtype", f->model.dtype, "compute dtype: float32, bfloat16, float16 or auto")->capture_default_str();
  c->add_option("--chat-template", f->model.chat_template,
                "llama3, llama3.1, chatml, qwen2 or qwen2.5 (default: llama3 when the tokenizer has Llama-3 "
                "header tokens, else chatml)");
  c->add_option("--api-key-env", f->api_key_env, "require \"Authorization: Bearer <key>\" with the key held in this variable");
  c->add_option("--tls-cert", f->serve.tls_cert, "serve HTTPS with this PEM certificate (needs --tls-key)");
  c->add_option("--tls-key", f->serve.tls_key, "PEM private key of --tls-cert");
  c->callback([f] { run_serve(*f); });

  auto e = std::make_shared<EmbedFlags>();
  CLI::App* ec = app.add_subcommand("embed", "sentence embeddings from a BERT / MiniLM directory");
  ec->add_option("--model", e->model_dir, "sentence-transformers directory (config.json, model.safetensors, vocab.txt)")
      ->required();
  ec->add_option("--text", e->texts, "text to embed (repeat for several)")->required();
  ec->add_flag("--json", e->json, "print {model, dim, embeddings:[{text, embedding}]} with the full vectors");
  ec->add_option("--show", e->show, "values printed per vector without --json")->capture_default_str();
  ec->add_option("--threads", e->options.threads, "encoder threads (0 = all hardware threads)")
      ->capture_default_str();
  ec->add_option("--batch-size", e->options.batch_size, "texts per forward pass")->capture_default_str();
  ec->add_option("--max-seq-length", e->options.max_seq_length,
                 "tokens per text incl. [CLS]/[SEP] (0 = sentence_bert_config.json, else 256)")
      ->capture_default_str();
  ec->callback([e] { run_embed(*e); });
}

}  // namespace ecpo::cli
