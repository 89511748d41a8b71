// The `local` ChatModel (see local-chat-model.h): tokenizer + chat template over a shared engine (CausalLM +
// BatchScheduler, one per model directory / adapter / dtype / settings in the process); ChatParams::on_delta receives
// the reply live from the generation's token events (delivered on the calling thread by the scheduler).
#include "model/local-chat-model.h"

#include <chrono>
#include <map>
#include <mutex>
#include <random>
#include <tuple>

#include "tokenizer/chat-template.h"
#include "model/llama.h"
#include "tokenizer/tokenizer.h"
#include "util/error.h"
#include "util/fs.h"
#include "util/text.h"

namespace ecpo::model {

using tok::TokenId;

namespace fs = std::filesystem;

namespace {

// Weights, tokenizer and scheduler of one loaded model, shared by every LocalChatModel that asks for the same one.
struct Engine {
  std::unique_ptr<CausalLM> lm;
  std::unique_ptr<tok::Tokenizer> tokenizer;
  std::unique_ptr<BatchScheduler> scheduler;
};

using EngineKey = std::tuple<std::string, std::string, std::string, int, int, std::int64_t, bool>;

std::shared_ptr<Engine> shared_engine(const LocalModelOptions& o) {
  static std::mutex mu;
  static std::map<EngineKey, std::weak_ptr<Engine>> engines;
  auto canon = [](const fs::path& p) { return p.empty() ? std::string() : fs::weakly_canonical(p).string(); };
  const EngineKey key{canon(o.model_dir), canon(o.adapter_dir), o.dtype, o.threads, o.max_batch, o.kv_cache_mb,
                      o.prefix_cache};
  std::lock_guard lock(mu);  // (loading under the lock: two roles on one model load it once)
  if (auto e = engines[key].lock()) return e;
  auto e = std::make_shared<Engine>();
  e->tokenizer = tok::load_tokenizer(o.model_dir);
  ModelOptions mo;
  mo.dtype = o.dtype;
  mo.threads = o.threads;
  mo.adapter_dir = o.adapter_dir;  // PEFT LoRA, merged at load
  e->lm = CausalLM::load(o.model_dir, mo);
  BatchOptions bo;
  bo.max_batch = o.max_batch;
  bo.kv_cache_mb = o.kv_cache_mb;
  bo.prefix_cache = o.prefix_cache;
  e->scheduler = std::make_unique<BatchScheduler>(*e->lm, bo);
  engines[key] = e;
  return e;
}

}  // namespace

struct LocalChatModel::Impl {
  LocalModelOptions options;
  std::shared_ptr<Engine> engine;
  tok::ChatTemplate chat_template = tok::ChatTemplate::named("chatml");
  std::vector<int> stop_ids;  // the template's end-of-turn tokens that exist in the vocabulary
  std::string name;
  std::mutex entropy_mu;
  std::random_device entropy;

  std::vector<int> prompt_ids(const std::vector<llm::Message>& messages) const {
    tok::ChatTokens t = chat_template.render_ids(*engine->tokenizer, messages, /*add_generation_prompt=*/true);
    return std::vector<int>(t.ids.begin(), t.ids.end());
  }
};

LocalChatModel::LocalChatModel() : impl_(std::make_unique<Impl>()) {}
LocalChatModel::~LocalChatModel() = default;

std::unique_ptr<LocalChatModel> LocalChatModel::load(const LocalModelOptions& options) {
  require_exists(options.model_dir, "model directory", "pass a Hugging Face model directory (config.json, *.safetensors, tokenizer)");
  require_exists(options.model_dir / "config.json", "config.json", "a Hugging Face model directory holds config.json");
  std::unique_ptr<LocalChatModel> m(new LocalChatModel());
  Impl& d = *m->impl_;
  d.options = options;
  d.engine = shared_engine(options);
  const tok::Tokenizer& tk = *d.engine->tokenizer;
  if (!options.chat_template.empty()) {
    d.chat_template = tok::ChatTemplate::named(options.chat_template);
  } else if (tk.token_to_id("<|start_header_id|>")) {
    d.chat_template = tok::ChatTemplate::named("llama3");
  } else {
    d.chat_template = tok::ChatTemplate::named("chatml");
  }
  for (const std::string& s : d.chat_template.stop_tokens())
    if (auto id = tk.token_to_id(s)) d.stop_ids.push_back(*id);
  if (static_cast<std::int64_t>(tk.vocab_size()) > d.engine->lm->config().vocab_size)
    throw Error("the tokenizer has " + std::to_string(tk.vocab_size()) + " tokens but config.json vocab_size is " +
                    std::to_string(d.engine->lm->config().vocab_size),
                error_location((options.model_dir / "config.json").string()),
                "tokenizer and weights come from different models?");

  if (!options.model_name.empty()) {
    d.name = options.model_name;
  } else {
    fs::path dir = options.model_dir;
    if (dir.filename().empty()) dir = dir.parent_path();
    d.name = dir.filename().string();
  }
  return m;
}

llm::ChatResult LocalChatModel::chat(const std::vector<llm::Message>& messages, const llm::ChatParams& params) {
  Impl& d = *impl_;
  const auto t0 = std::chrono::steady_clock::now();
  std::vector<int> prompt;
  try {
    prompt = d.prompt_ids(messages);
  } catch (const Error& e) {  // e.g. an unknown role
    throw llm::ChatError(llm::FailureKind::other, std::string("cannot render the prompt: ") + e.what());
  }
  const CausalLM& lm = *d.engine->lm;
  if (static_cast<std::int64_t>(prompt.size()) >= lm.config().max_position_embeddings)
    throw llm::ChatError(llm::FailureKind::other,
                         "the prompt has " + std::to_string(prompt.size()) + " tokens; the model's context is " +
                             std::to_string(lm.config().max_position_embeddings));

  GenerateParams g;
  g.max_tokens = std::max(1, params.max_tokens);
  g.temperature = params.temperature;
  g.top_p = params.top_p;
  g.stop_ids = d.stop_ids;
  g.stop_strings = params.stop;
  g.stop_at_eos = true;
  const tok::Tokenizer& tok = *d.engine->tokenizer;
  TokenDecoder decode = [&tok](const std::vector<int>& ids) {
    return tok.decode(std::vector<TokenId>(ids.begin(), ids.end()), /*skip_special=*/true);
  };
  if (params.on_delta) {
    // Deltas never split a UTF-8 character that later completes, so sanitising each one equals sanitising the
    // whole text (utf8_sanitize replaces byte by byte): the pieces concatenate to ChatResult::text.
    g.on_token = [&params](const TokenEvent& ev) {
      if (ev.delta.empty()) return true;
      return params.on_delta(utf8_sanitize(ev.delta));
    };
  }

  if (params.seed) {
    g.seed = *params.seed;
  } else {
    std::lock_guard lock(d.entropy_mu);
    g.seed = static_cast<std::uint64_t>(d.entropy()) << 32 | d.entropy();
  }
  GenerateResult r;
  RequestStats stats;
  try {
    r = d.engine->scheduler->generate(prompt, g, decode, &stats);
  } catch (const Error& e) {
    throw llm::ChatError(llm::FailureKind::other, std::string("local generation failed: ") + e.what());
  }
  llm::ChatResult out;
  // A reply cut by max_tokens can end inside a multi-byte character: repair to valid UTF-8 (U+FFFD).
  out.text = utf8_sanitize(r.text);
  out.finish_reason = r.finish_reason;
  out.usage.prompt_tokens = static_cast<std::int64_t>(prompt.size());
  out.usage.completion_tokens = static_cast<std::int64_t>(r.ids.size());
  out.usage.cached_tokens = stats.cached_tokens;
  out.latency_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  return out;
}

std::string LocalChatModel::model_name() const { return impl_->name; }
const std::string& LocalChatModel::template_name() const { return impl_->chat_template.name(); }
std::int64_t LocalChatModel::context_length() const { return impl_->engine->lm->config().max_position_embeddings; }
SchedulerMetrics LocalChatModel::scheduler_metrics() const { return impl_->engine->scheduler->metrics(); }

std::size_t LocalChatModel::count_prompt_tokens(const std::vector<llm::Message>& messages) const {
  return impl_->prompt_ids(messages).size();
}

}  // namespace ecpo::model
