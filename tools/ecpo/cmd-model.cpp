// CLI verbs of the model engine (see commands.h). Thin: flags → library call → summary.
//   ecpo model init --preset tiny|small --out DIR [--arch llama|qwen2] [--seed S] [--dtype f32|bf16]
//                   [--corpus FILE] [--vocab N] [--hidden N] [--layers N] [--heads N] [--kv-heads N]
//                   [--intermediate N] [--max-positions N] [--tie 0|1] [--init-std X] [--embed-std X]
//   ecpo model convert-llama2c --in FILE.bin --out DIR
//   ecpo generate --model DIR [--adapter DIR] (--prompt TEXT [--chat] [--system TEXT] | --ids 1,2,3) [--max-tokens N] ...
//   ecpo logits --model DIR [--adapter DIR] (--ids 1,2,3 | --prompt TEXT) [--top K] [--json]
#include <cstdio>
#include <iostream>

#include <nlohmann/json.hpp>

#include "tokenizer/chat-template.h"
#include "model/llama.h"
#include "model/llama2c.h"
#include "model/model-init.h"
#include "tokenizer/tokenizer.h"
#include "tools/ecpo/commands.h"
#include "util/error.h"
#include "util/text.h"

namespace ecpo::cli {

namespace {

std::vector<int> parse_ids(const std::string& s) {
  std::vector<int> out;
  for (const auto& part : split(s, ',')) {
    std::string t = trim(part);
    if (t.empty()) continue;
    try {
      std::size_t used = 0;
      long v = std::stol(t, &used);
      if (used != t.size() || v < 0 || v > 0x7fffffff) throw std::invalid_argument(t);
      out.push_back(static_cast<int>(v));
    } catch (const std::exception&) {
      throw Error("'" + t + "' is not a token id", "--ids", "pass comma-separated non-negative integers, e.g. 1,2,3");
    }
  }
  if (out.empty()) throw Error("no token ids given", "--ids", "pass comma-separated integers, e.g. 1,2,3");
  return out;
}

struct ModelFlags {
  std::string model, dtype = "float32";
  int threads = 0;
  void add(CLI::App* c) {
    c->add_option("--model", model, "Hugging Face model directory (config.json + *.safetensors)")->required();
    c->add_option("--dtype", dtype, "compute dtype: float32, bfloat16, float16 or auto (config torch_dtype)")
        ->capture_default_str();
    c->add_option("--threads", threads, "engine threads (0 = all hardware threads)")->capture_default_str();
  }
};

std::unique_ptr<tok::Tokenizer> maybe_tokenizer(const std::string& dir, bool required) {
  namespace fs = std::filesystem;
  bool present = fs::exists(fs::path(dir) / "tokenizer.json") || fs::exists(fs::path(dir) / "tokenizer.model");
  if (!present) {
    if (required)
      throw Error("no tokenizer.json or tokenizer.model", dir, "pass --ids to give token ids directly");
    return nullptr;
  }
  return tok::load_tokenizer(dir);
}

}  // namespace

void register_model_commands(CLI::App& app) {
  // ---- ecpo model init / convert-llama2c -------------------------------------------------------------------
  auto* model_cmd = app.add_subcommand("model", "model utilities: init (random HF model), convert-llama2c");
  model_cmd->require_subcommand(1);
  {
    auto* c = model_cmd->add_subcommand("init", "write a randomly initialised Hugging Face model directory");
    auto preset = std::make_shared<std::string>("tiny");
    auto arch = std::make_shared<std::string>("llama");
    auto out = std::make_shared<std::string>();
    auto dtype = std::make_shared<std::string>("f32");
    auto seed = std::make_shared<std::uint64_t>(0);
    auto corpus = std::make_shared<std::string>();
    auto sizes = std::make_shared<model::InitSizes>();
    c->add_option("--preset", *preset, "tiny (vocab 512, hidden 64, 2 layers) or small (~102M params)")
        ->capture_default_str();
    c->add_option("--arch", *arch, "llama (Llama-3 style) or qwen2 (q/k/v biases, ChatML tokens)")->capture_default_str();
    c->add_option("--out", *out, "output directory")->required();
    c->add_option("--seed", *seed, "random seed for the weights")->capture_default_str();
    c->add_option("--dtype", *dtype, "weight dtype written: f32, bf16 or f16")->capture_default_str();
    c->add_option("--corpus", *corpus,
                  "BPE training text: a text file, or JSONL rows whose message texts are used (e.g. SGPT rows); "
                  "default resources/model/bpe-corpus.txt");
    c->add_option("--vocab", sizes->vocab, "vocabulary size (BPE tokens + special tokens)");
    c->add_option("--hidden", sizes->hidden, "hidden size");
    c->add_option("--layers", sizes->layers, "decoder layers");
    c->add_option("--heads", sizes->heads, "attention heads");
    c->add_option("--kv-heads", sizes->kv_heads, "key/value heads (GQA)");
    c->add_option("--intermediate", sizes->intermediate, "MLP intermediate size");
    c->add_option("--max-positions", sizes->max_positions, "context length (max_position_embeddings)");
    c->add_option("--tie", sizes->tie, "1: lm_head tied to the embeddings, 0: separate");
    c->add_option("--init-std", sizes->init_std, "std of the random matrices");
    c->add_option("--embed-std", sizes->embed_std, "std of the embeddings (and lm_head); default --init-std");
    c->callback([=] {
      model::InitSpec spec = model::init_spec_preset(*preset, *arch);
      model::apply_init_sizes(spec, *sizes);
      if (*dtype == "f32" || *dtype == "float32") spec.dtype = "F32";
      else if (*dtype == "bf16" || *dtype == "bfloat16") spec.dtype = "BF16";
      else if (*dtype == "f16" || *dtype == "float16") spec.dtype = "F16";
      else throw Error("unknown dtype '" + *dtype + "'", "--dtype", "use f32, bf16 or f16");
      model::model_init(*out, spec, *seed, corpus->empty() ? std::string() : model::bpe_corpus_from_file(*corpus));
      const auto& cfg = spec.config;
      std::printf("wrote %s: %s %s, %lld parameters (%s), vocab %lld, hidden %lld, %lld layers, %lld/%lld heads, "
                  "context %lld%s\n",
                  out->c_str(), preset->c_str(), cfg.architecture.c_str(), static_cast<long long>(cfg.num_parameters()),
                  spec.dtype.c_str(), static_cast<long long>(cfg.vocab_size), static_cast<long long>(cfg.hidden_size),
                  static_cast<long long>(cfg.num_hidden_layers), static_cast<long long>(cfg.num_attention_heads),
                  static_cast<long long>(cfg.num_key_value_heads), static_cast<long long>(cfg.max_position_embeddings),
                  corpus->empty() ? "" : (", BPE on " + *corpus).c_str());
    });
  }
  {
    auto* c = model_cmd->add_subcommand("convert-llama2c", "convert a llama2.c v0 checkpoint to a HF model directory");
    auto in = std::make_shared<std::string>();
    auto out = std::make_shared<std::string>();
    c->add_option("--in", *in, "llama2.c .bin checkpoint (legacy v0 format)")->required();
    c->add_option("--out", *out, "output directory")->required();
    c->callback([=] {
      model::HfConfig cfg = model::llama2c_convert(*in, *out);
      std::printf("wrote %s: %lld layers, dim %lld, vocab %lld\n", out->c_str(),
                  static_cast<long long>(cfg.num_hidden_layers), static_cast<long long>(cfg.hidden_size),
                  static_cast<long long>(cfg.vocab_size));
    });
  }

  // ---- ecpo generate --------------------------------------------------------------------------------------
  {
    auto* c = app.add_subcommand("generate", "generate a completion with the built-in CPU engine");
    auto mf = std::make_shared<ModelFlags>();
    mf->add(c);
    struct Opts {
      std::string adapter, prompt, ids, system;
      bool chat = false, json = false, no_cache = false;
      model::GenerateParams gp;
      std::vector<std::string> stop;
    };
    auto o = std::make_shared<Opts>();
    o->gp.max_tokens = 64;
    c->add_option("--adapter", o->adapter, "PEFT LoRA adapter directory, merged into the weights at load");
    c->add_option("--prompt", o->prompt, "prompt text (needs the model's tokenizer)");
    c->add_option("--ids", o->ids, "prompt as comma-separated token ids instead of text");
    c->add_flag("--chat", o->chat, "wrap --prompt as a user turn with the model's chat template");
    c->add_option("--system", o->system, "system message for --chat");
    c->add_option("--max-tokens", o->gp.max_tokens, "maximum completion tokens")->capture_default_str();
    c->add_option("--temperature", o->gp.temperature, "0 = greedy")->capture_default_str();
    c->add_option("--top-p", o->gp.top_p, "nucleus sampling mass")->capture_default_str();
    c->add_option("--top-k", o->gp.top_k, "keep the k most likely tokens (0 = all)")->capture_default_str();
    c->add_option("--seed", o->gp.seed, "sampling seed")->capture_default_str();
    c->add_option("--stop", o->stop, "stop string (repeatable)");
    c->add_flag("--no-cache", o->no_cache, "re-run the whole forward each step (reference path, slow)");
    c->add_flag("--json", o->json, "print one JSON object (ids, text, finish_reason, timings)");
    c->callback([=] {
      if (o->prompt.empty() == o->ids.empty())
        throw Error("pass exactly one of --prompt or --ids", "generate");
      auto lm = model::CausalLM::load(mf->model, {mf->dtype, mf->threads, o->adapter});
      auto tok = maybe_tokenizer(mf->model, !o->prompt.empty());
      std::vector<int> prompt;
      if (!o->ids.empty()) {
        prompt = parse_ids(o->ids);
      } else if (o->chat) {
        std::vector<llm::Message> msgs;
        if (!o->system.empty()) msgs.push_back({"system", o->system});
        msgs.push_back({"user", o->prompt});
        auto ct = tok::ChatTemplate::for_tokenizer(*tok).render_ids(*tok, msgs, true);
        prompt.assign(ct.ids.begin(), ct.ids.end());
      } else {
        tok::EncodeOptions eo;
        eo.add_special = true;
        auto ids = tok->encode(o->prompt, eo);
        prompt.assign(ids.begin(), ids.end());
      }
      model::GenerateParams gp = o->gp;
      gp.use_kv_cache = !o->no_cache;
      gp.stop_strings = o->stop;
      model::TokenDecoder decode;
      if (tok) {
        for (auto id : tok->special().stop) gp.stop_ids.push_back(id);
        const tok::Tokenizer* t = tok.get();
        decode = [t](const std::vector<int>& ids) {
          return t->decode(std::vector<tok::TokenId>(ids.begin(), ids.end()), /*skip_special=*/true);
        };
      }
      if (!o->json) {  // print as generated: text deltas (held back only inside a UTF-8 char / stop-string
                       // prefix), or ids when there is no tokenizer; the bytes equal the finished completion's
        const bool text = static_cast<bool>(tok);
        gp.on_token = [text](const model::TokenEvent& ev) {
          if (text) std::cout.write(ev.delta.data(), static_cast<std::streamsize>(ev.delta.size()));
          else if (ev.id >= 0) std::cout << (ev.index > 0 ? "," : "") << ev.id;
          std::cout.flush();
          return true;
        };
      }
      model::GenerateResult r = lm->generate(prompt, gp, decode);
      const double n = static_cast<double>(r.ids.size());
      if (o->json) {
        nlohmann::json j = {{"ids", r.ids},
                            {"text", utf8_sanitize(r.text)},
                            {"finish_reason", r.finish_reason},
                            {"prompt_tokens", r.prompt_tokens},
                            {"completion_tokens", r.ids.size()},
                            {"prefill_ms", r.prefill_ms},
                            {"decode_ms", r.decode_ms}};
        std::cout << j.dump() << "\n";
      } else {
        std::cout << "\n" << std::flush;  // the completion was streamed; the stats line on stderr comes after it
        std::fprintf(stderr, "[%d prompt + %zu completion tokens, finish=%s, prefill %.1f ms, decode %.1f tok/s]\n",
                     r.prompt_tokens, r.ids.size(), r.finish_reason.c_str(), r.prefill_ms,
                     n > 1 && r.decode_ms > 0 ? (n - 1) / (r.decode_ms / 1000.0) : 0.0);
      }
    });
  }

  // ---- ecpo logits ----------------------------------------------------------------------------------------
  {
    auto* c = app.add_subcommand("logits", "print the top logits of the last position");
    auto mf = std::make_shared<ModelFlags>();
    mf->add(c);
    auto ids = std::make_shared<std::string>();
    auto prompt = std::make_shared<std::string>();
    auto top = std::make_shared<int>(10);
    auto json_out = std::make_shared<bool>(false);
    auto adapter = std::make_shared<std::string>();
    c->add_option("--adapter", *adapter, "PEFT LoRA adapter directory, merged into the weights at load");
    c->add_option("--ids", *ids, "comma-separated token ids");
    c->add_option("--prompt", *prompt, "text (encoded with the model's tokenizer, BOS added)");
    c->add_option("--top", *top, "how many (id, logit) pairs to print")->capture_default_str();
    c->add_flag("--json", *json_out, "print JSON {\"ids\": [...], \"top\": [{\"id\", \"logit\"}...]}");
    c->callback([=] {
      if (ids->empty() == prompt->empty()) throw Error("pass exactly one of --ids or --prompt", "logits");
      auto lm = model::CausalLM::load(mf->model, {mf->dtype, mf->threads, *adapter});
      std::vector<int> in;
      std::unique_ptr<tok::Tokenizer> tok = maybe_tokenizer(mf->model, !prompt->empty());
      if (!ids->empty()) {
        in = parse_ids(*ids);
      } else {
        tok::EncodeOptions eo;
        eo.add_special = true;
        auto v = tok->encode(*prompt, eo);
        in.assign(v.begin(), v.end());
      }
      std::vector<float> logits = lm->logits_last(in);
      std::vector<int> order(logits.size());
      for (std::size_t i = 0; i < order.size(); ++i) order[i] = static_cast<int>(i);
      const int k = std::max(0, std::min<int>(*top, static_cast<int>(order.size())));
      std::partial_sort(order.begin(), order.begin() + k, order.end(),
                        [&](int a, int b) { return logits[a] > logits[b] || (logits[a] == logits[b] && a < b); });
      if (*json_out) {
        nlohmann::json j = {{"ids", in}, {"top", nlohmann::json::array()}};
        for (int i = 0; i < k; ++i) j["top"].push_back({{"id", order[i]}, {"logit", logits[order[i]]}});
        std::cout << j.dump() << "\n";
      } else {
        for (int i = 0; i < k; ++i) {
          std::printf("%d\t%.6f", order[i], logits[order[i]]);
          if (tok) std::printf("\t%s", tok::escape_bytes(tok->decode({order[i]})).c_str());
          std::printf("\n");
        }
      }
    });
  }
}

}  // namespace ecpo::cli
