// CLI verbs of the llm stage (see commands.h). Thin: flags → library call → summary.
//   ecpo llm check [--config FILE] [--role R]... [key=value]...   probe every role's endpoint before a run
//   ecpo llm ask --role R [--config FILE] [--system TEXT] [--schema FILE] [--cache PATH | --no-cache]
//                [--calls FILE.jsonl] [key=value]... MESSAGE       one call through the full role stack
//   ecpo llm calls --log FILE.jsonl|FILE.db [--by role|model|episode|turn|pair|all]  totals from a call log
//   ecpo fake-server [--port P] [--host H] [--latency-ms L] [--fault-rate F] [--faults K,..] [--script FILE]
//                    [--tls-cert PEM --tls-key PEM]
//                [--seed S] [--models M,..] [--api-key-env VAR] [--stall-ms MS] [--retry-after-ms MS]
//                [--exit-after-ms MS]                              a fake OpenAI-compatible server
#include <pthread.h>
#include <signal.h>

#include <cmath>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "llm/call-log.h"
#include "llm/call-summary.h"
#include "llm/fake-server.h"
#include "llm/llm-check.h"
#include "llm/roles.h"
#include "llm/structured-output.h"
#include "tools/ecpo/commands.h"
#include "util/error.h"
#include "util/fs.h"
#include "util/jsonl.h"
#include "util/table.h"
#include "util/text.h"

namespace ecpo::cli {
namespace {

struct CheckOpts {
  std::string config;
  std::vector<std::string> roles;
  std::vector<std::string> overrides;
};

void run_check(const CheckOpts& o) {
  std::filesystem::path path = o.config.empty() ? llm::default_roles_path() : std::filesystem::path(o.config);
  llm::RolesConfig cfg = llm::load_roles(path, o.overrides);
  llm::RoleSetOptions rso;
  rso.no_cache = true;
  llm::RoleSet roles(std::move(cfg), rso);
  auto results = llm::check_roles(roles, o.roles);
  Table t({"role", "endpoint", "model", "listed", "structured", "models ms", "chat ms", "status"});
  int failed = 0;
  for (const auto& r : results) {
    char a[32], b[32];
    std::snprintf(a, sizeof a, "%.1f", r.models_ms);
    std::snprintf(b, sizeof b, "%.1f", r.chat_ms);
    t.row({r.role, r.endpoint, r.model, r.model_listed ? "yes" : "no", r.structured_ok ? "yes" : "no", a, b,
           r.ok ? "ok" : "FAILED"});
    failed += r.ok ? 0 : 1;
  }
  std::printf("%s", t.str().c_str());
  for (const auto& r : results) {
    if (!r.note.empty()) std::printf("note: role %s: %s\n", r.role.c_str(), r.note.c_str());
  }
  for (const auto& r : results)
    if (!r.ok) std::fprintf(stderr, "%s\n", r.message.c_str());
  std::fflush(stdout);
  if (failed)
    throw Error(std::to_string(failed) + " of " + std::to_string(results.size()) + " role checks failed", path.string(),
                "fix the lines above before starting a run");
}

struct AskOpts {
  std::string config, role, system, schema, cache, calls, message;
  bool no_cache = false;
  std::vector<std::string> overrides;
};

void run_ask(const AskOpts& o) {
  std::filesystem::path path = o.config.empty() ? llm::default_roles_path() : std::filesystem::path(o.config);
  llm::RolesConfig cfg = llm::load_roles(path, o.overrides);
  llm::RoleSetOptions rso;
  rso.no_cache = o.no_cache;
  if (!o.cache.empty()) rso.cache_path = o.cache;
  auto memory = std::make_shared<llm::MemoryCallSink>();
  std::vector<std::shared_ptr<llm::CallSink>> sinks{memory};
  if (!o.calls.empty()) sinks.push_back(std::make_shared<llm::JsonlCallSink>(o.calls));
  rso.sink = std::make_shared<llm::TeeCallSink>(sinks);
  llm::RoleSet roles(std::move(cfg), rso);
  auto model = roles.model(o.role);
  llm::ChatParams params = roles.spec(o.role).params;
  std::vector<llm::Message> msgs;
  if (!o.system.empty()) msgs.push_back({"system", o.system});
  msgs.push_back({"user", o.message});
  try {
    if (!o.schema.empty()) {
      params.json_schema = read_json_file(o.schema);
      auto reply = llm::chat_json(*model, msgs, params);
      std::printf("%s\n", reply.value.dump().c_str());
    } else {
      auto r = model->chat(msgs, params);
      std::printf("%s\n", r.text.c_str());
    }
  } catch (const llm::ChatError& e) {
    throw Error(e.what(), "", "run `ecpo llm check` to probe every role");
  }
  for (const auto& rec : memory->records())
    std::fprintf(stderr, "call: role=%s model=%s prompt_tokens=%lld completion_tokens=%lld latency_ms=%.1f "
                         "retries=%d cache_hit=%s cost_usd=%.6f%s%s\n",
                 rec.role.c_str(), rec.model.c_str(), static_cast<long long>(rec.prompt_tokens),
                 static_cast<long long>(rec.completion_tokens), rec.latency_ms, rec.retries,
                 rec.cache_hit ? "yes" : "no", rec.cost_usd, rec.error.empty() ? "" : " error=", rec.error.c_str());
}

struct CallsOpts {
  std::string log, by = "role";
};

void run_calls(const CallsOpts& o) {
  llm::CallGroup by = llm::call_group_from_name(o.by, "--by");
  std::filesystem::path p = o.log;
  require_exists(p, "call log", "pass a JSONL call log (llm ask --calls) or a run.db with table llm_calls");
  bool jsonl = ends_with(p.string(), ".jsonl") || ends_with(p.string(), ".jsonl.gz");
  auto records = jsonl ? llm::read_call_log_jsonl(p) : llm::read_llm_calls(p);
  std::printf("%s", llm::call_totals_table(llm::summarize_calls(records, by), o.by).str().c_str());
}

struct FakeOpts {
  llm::FakeServerOptions server;
  std::string script, faults, models, api_key_env;
  bool models_set = false;
  double exit_after_ms = 0;
};

void run_fake_server(FakeOpts& o) {
  if (!o.script.empty()) o.server.script = llm::load_fake_script(o.script);
  if (!o.faults.empty()) {
    o.server.faults.clear();
    for (const auto& f : split(o.faults, ',')) {
      std::string k = trim(f);
      if (k == "rate_limit" || k == "429") o.server.faults.push_back(llm::FakeFault::rate_limit);
      else if (k == "server_error" || k == "500") o.server.faults.push_back(llm::FakeFault::server_error);
      else if (k == "stall") o.server.faults.push_back(llm::FakeFault::stall);
      else if (k == "truncated") o.server.faults.push_back(llm::FakeFault::truncated);
      else if (k == "malformed") o.server.faults.push_back(llm::FakeFault::malformed);
      else
        throw Error("unknown fault kind '" + k + "'", "--faults",
                    "use rate_limit, server_error, stall, truncated, malformed");
    }
  }
  if (!o.models.empty()) {
    o.server.models.clear();
    for (const auto& m : split(o.models, ',')) o.server.models.push_back(trim(m));
    if (o.server.models.size() == 1 && o.server.models[0] == "*") o.server.models.clear();
  }
  if (!o.api_key_env.empty()) {
    const char* k = std::getenv(o.api_key_env.c_str());
    if (!k || !*k) throw Error("environment variable " + o.api_key_env + " is not set", "--api-key-env");
    o.server.api_key = k;
  }
  // Block SIGINT/SIGTERM here (inherited by the server's threads) and stop cleanly from a waiting thread.
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  llm::FakeServer server(o.server);
  int port = server.start();
  std::printf("fake server listening on %s (latency %.0f ms, fault rate %.2f)\n", server.base_url().c_str(),
              o.server.latency_ms, o.server.fault_rate);
  std::fflush(stdout);
  (void)port;
  if (o.exit_after_ms > 0) {
    timespec ts{static_cast<time_t>(o.exit_after_ms / 1000),
                static_cast<long>(std::fmod(o.exit_after_ms, 1000.0) * 1e6)};
    sigtimedwait(&set, nullptr, &ts);
  } else {
    int sig = 0;
    sigwait(&set, &sig);
  }
  server.stop();
  auto s = server.stats();
  std::printf("fake server stopped: %llu requests, %llu chat, %llu ok, %llu faults\n",
              static_cast<unsigned long long>(s.requests), static_cast<unsigned long long>(s.chat_requests),
              static_cast<unsigned long long>(s.ok), static_cast<unsigned long long>(s.fault_total()));
}

}  // namespace

void register_llm_commands(CLI::App& app) {
  auto* llm_cmd = app.add_subcommand("llm", "check and use the LLM roles (configs/roles.yaml)");
  llm_cmd->require_subcommand(1);

  auto check = std::make_shared<CheckOpts>();
  auto* c = llm_cmd->add_subcommand("check", "reach every role's endpoint, confirm its model, try structured output");
  c->add_option("--config", check->config, "roles file (default $ECPO_ROLES or configs/roles.yaml)");
  c->add_option("--role", check->roles, "check only this role (repeatable)");
  c->add_option("overrides", check->overrides, "key.path=value overrides of the roles file");
  c->callback([check] { run_check(*check); });

  auto ask = std::make_shared<AskOpts>();
  auto* a = llm_cmd->add_subcommand("ask", "send one message through a role (cache and accounting included)");
  a->add_option("--config", ask->config, "roles file (default $ECPO_ROLES or configs/roles.yaml)");
  a->add_option("--role", ask->role, "role to ask")->required();
  a->add_option("--system", ask->system, "system message");
  a->add_option("--schema", ask->schema, "JSON schema file: request, parse and validate structured output");
  a->add_option("--cache", ask->cache, "response cache file (default from the roles file, ~/.cache/ecpo/llm.sqlite)");
  a->add_flag("--no-cache", ask->no_cache, "neither read nor write the response cache");
  a->add_option("--calls", ask->calls, "append the call record to this JSONL file");
  a->add_option("message", ask->message, "the user message")->required();
  a->add_option("--set", ask->overrides, "key.path=value override of the roles file (repeatable)");
  a->callback([ask] { run_ask(*ask); });

  auto calls = std::make_shared<CallsOpts>();
  auto* cl = llm_cmd->add_subcommand("calls", "totals of a call log: calls, cache hits, failures, tokens, dollars");
  cl->add_option("--log", calls->log, "call log: FILE.jsonl (llm ask --calls) or a SQLite file with llm_calls")
      ->required();
  cl->add_option("--by", calls->by, "group by role, model, episode, turn, pair or all")->capture_default_str();
  cl->callback([calls] { run_calls(*calls); });

  auto fake = std::make_shared<FakeOpts>();
  auto* f = app.add_subcommand("fake-server", "run a fake OpenAI-compatible server in the foreground (Ctrl-C stops)");
  f->add_option("--port", fake->server.port, "port (0: any free port, printed)")->capture_default_str();
  f->add_option("--host", fake->server.host, "address to listen on")->capture_default_str();
  f->add_option("--latency-ms", fake->server.latency_ms, "added to every chat reply")->capture_default_str();
  f->add_option("--fault-rate", fake->server.fault_rate, "probability a chat call gets a fault")
      ->capture_default_str();
  f->add_option("--faults", fake->faults, "fault kinds: rate_limit,server_error,stall,truncated,malformed (default all)");
  f->add_option("--script", fake->script, "YAML/JSON replies {sequence: [...], rules: [{match, reply}], default: ...}");
  f->add_option("--seed", fake->server.seed, "seed of the fault draws")->capture_default_str();
  f->add_option("--models", fake->models, "comma-separated models served ('*': accept any)");
  f->add_option("--api-key-env", fake->api_key_env, "require the key held in this environment variable");
  f->add_option("--stall-ms", fake->server.stall_ms, "how long a stall fault holds the reply")->capture_default_str();
  f->add_option("--retry-after-ms", fake->server.retry_after_ms, "Retry-After sent with 429")->capture_default_str();
  f->add_option("--threads", fake->server.threads, "worker threads (max open connections)")->capture_default_str();
  f->add_option("--exit-after-ms", fake->exit_after_ms, "stop after this long (0: run until Ctrl-C)");
  f->add_option("--tls-cert", fake->server.tls_cert, "serve HTTPS with this PEM certificate (needs --tls-key)");
  f->add_option("--tls-key", fake->server.tls_key, "PEM private key of --tls-cert");
  f->callback([fake] { run_fake_server(*fake); });
}

}  // namespace ecpo::cli
