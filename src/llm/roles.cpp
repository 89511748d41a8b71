// Roles file parsing and the per-role model stack (see roles.h).
#include "llm/roles.h"

#include <algorithm>
#include <cstdlib>

#include "llm/accounted-model.h"
#include "llm/prompts-dir.h"
#include "util/error.h"
#include "util/json-read.h"

namespace ecpo::llm {
namespace {

std::mutex& backends_mu() {
  static std::mutex m;
  return m;
}
std::map<std::string, BackendFactory>& backends() {
  static std::map<std::string, BackendFactory> b;
  return b;
}

void reject_literal_key(const nlohmann::json& j, const std::string& where) {
  if (j.is_object() && (j.contains("api_key") || j.contains("key")))
    throw Error("an API key is written in the roles file", where,
                "remove it; put the key in an environment variable and name that variable in api_key_env");
}

ChatParams params_from_json(const JsonAt& j) {
  ChatParams p;
  if (j.is_null()) return p;
  if (!j.is_object()) j.fail("params must be a map {temperature, top_p, max_tokens, stop, seed}");
  j.each_member([&](const std::string& k, const JsonAt& v) {
    if (v.is_null()) return;
    if (k == "temperature") p.temperature = v.number(0, 2);
    else if (k == "top_p") p.top_p = v.number(0, 1);
    else if (k == "max_tokens") p.max_tokens = static_cast<int>(v.integer(1, 1'000'000));
    else if (k == "stop") {
      if (v.is_string()) p.stop = {v.str()};
      else v.each([&](const JsonAt& s) { p.stop.push_back(s.str()); });
    } else if (k == "seed") {
      p.seed = static_cast<std::uint64_t>(v.integer(0));
    } else {
      v.fail("unknown parameter", "use temperature, top_p, max_tokens, stop, seed");
    }
  });
  if (p.top_p <= 0) j.get("top_p").fail("top_p must be in (0, 1]");
  return p;
}

RoleSpec role_from_json(const std::string& name, const JsonAt& m, const std::filesystem::path& base_dir) {
  const std::string where = m.source().name;
  RoleSpec r;
  r.name = name;
  r.raw = m.json();
  r.backend = m.str_or("backend", "openai");
  if (auto params = m.find("params")) r.params = params_from_json(*params);
  auto& h = r.http;
  h.label = name;
  h.model = m.str_or("model", "");
  if (h.model.empty()) m.fail("role '" + name + "' has no model", "set roles." + name + ".model");
  if (r.backend != "openai") return r;
  static const char* known[] = {"backend", "endpoint", "model", "params", "base_url", "base_urls", "api_key_env",
                                "max_concurrency", "timeout_ms", "connect_timeout_ms", "retry", "structured",
                                "strict_schema", "extra_body", "ca_file", "tls_verify"};
  m.each_member([&](const std::string& key, const JsonAt& v) {
    if (std::find(std::begin(known), std::end(known), key) == std::end(known))
      v.fail("unknown setting for role '" + name + "'",
             "openai roles take: backend, endpoint, model, params, base_url(s), api_key_env, max_concurrency, "
             "timeout_ms, connect_timeout_ms, retry, structured, strict_schema, extra_body, ca_file, tls_verify");
  });
  std::vector<std::string> urls;
  if (auto v = m.find("base_urls")) v->each([&](const JsonAt& u) { urls.push_back(u.str()); });
  if (auto v = m.find("base_url")) urls.push_back(v->str());
  if (urls.empty()) m.fail("role '" + name + "' has no base_url", "set base_url, base_urls or endpoint: NAME");
  for (auto& u : urls) h.base_urls.push_back(normalize_base_url(u, where));
  h.api_key_env = m.str_or("api_key_env", "");
  h.max_concurrency = static_cast<int>(m.integer_or("max_concurrency", 16, 1, 100000));
  h.timeout_ms = m.number_or("timeout_ms", 60000, 1e-3, 1e9);
  h.connect_timeout_ms = m.number_or("connect_timeout_ms", 5000, 1e-3, 1e9);
  if (auto v = m.find("ca_file")) {
    std::filesystem::path ca = v->str();
    if (ca.is_relative()) ca = base_dir / ca;
    if (!std::filesystem::is_regular_file(ca))
      v->fail("ca_file " + ca.string() + " does not exist",
              "give the PEM certificate of the server's CA (relative paths start at the config file)");
    h.ca_file = ca.string();
  }
  h.verify_tls = m.bool_or("tls_verify", true);
  h.retry = retry_policy_from_json(m.json().value("retry", nlohmann::json()), RetryPolicy{}, where);
  h.structured = structured_mode_from_name(m.str_or("structured", "json_schema"), where);
  h.strict_schema = m.bool_or("strict_schema", false);
  if (auto v = m.find("extra_body")) h.extra_body = v->require_object().json();
  return r;
}

}  // namespace

RolesConfig roles_from_config(const Config& c, const std::string& where, const std::filesystem::path& base_dir) {
  const auto& root = c.root();
  RolesConfig out;
  out.source = where;
  if (!root.is_object() || !root.contains("roles") || !root["roles"].is_object())
    throw Error("no 'roles:' map", where, "see configs/roles.yaml for the format");
  const JsonSource top_src{where, "see configs/roles.yaml for the format"};
  const JsonAt top(root, top_src);
  nlohmann::json defaults = nlohmann::json::object();
  if (auto d = top.find("defaults")) defaults = d->require_object().json();
  nlohmann::json endpoints = nlohmann::json::object();
  if (auto e = top.find("endpoints")) endpoints = e->require_object().json();
  reject_literal_key(defaults, c.where("defaults"));
  for (auto it = endpoints.begin(); it != endpoints.end(); ++it) {
    if (!it->is_object())
      throw Error("endpoints." + it.key() + " must be a map", c.where("endpoints." + it.key()));
    reject_literal_key(it.value(), c.where("endpoints." + it.key()));
  }
  for (auto it = root["roles"].begin(); it != root["roles"].end(); ++it) {
    const std::string key = "roles." + it.key();
    const std::string rw = c.where(key);
    if (!it->is_object()) throw Error(key + ": role '" + it.key() + "' must be a map", rw);
    reject_literal_key(*it, rw);
    nlohmann::json merged = defaults;
    if (it->contains("endpoint")) {
      const JsonSource src{rw, "endpoint: names a map under endpoints:"};
      std::string ep = JsonAt(*it, src, key).get("endpoint").str();
      if (!endpoints.contains(ep))
        throw Error(key + ": role '" + it.key() + "' names endpoint '" + ep + "', which is not under endpoints:", rw);
      merged.merge_patch(endpoints[ep]);
    }
    merged.merge_patch(*it);
    const JsonSource src{rw, "see configs/roles.yaml for the format"};
    out.roles[it.key()] = role_from_json(it.key(), JsonAt(merged, src, key), base_dir);
  }
  if (root.contains("prices")) {
    const auto& p = root["prices"];
    if (p.is_string()) {
      auto path = std::filesystem::path(p.get<std::string>());
      if (path.is_relative()) path = base_dir / path;
      Config pc = Config::load(path);
      const auto& pr = pc.root();
      out.prices = std::make_shared<PriceTable>(
          PriceTable::from_json(pr.is_object() && pr.contains("prices") ? pr["prices"] : pr, path.string()));
    } else {
      out.prices = std::make_shared<PriceTable>(PriceTable::from_json(p, c.where("prices")));
    }
  }
  if (auto cj = top.find("cache")) {
    cj->require_object();
    out.cache.enabled = cj->bool_or("enabled", true);
    std::string path = cj->str_or("path", "");
    if (!path.empty()) {
      if (path[0] == '~')
        if (const char* home = std::getenv("HOME")) path = std::string(home) + path.substr(1);
      out.cache.path = path;
    }
    out.cache.mode = cache_mode_from_name(cj->str_or("mode", "deterministic"), c.where("cache.mode"));
  }
  return out;
}

RolesConfig load_roles(const std::filesystem::path& path, const std::vector<std::string>& overrides) {
  Config c = Config::load(path);
  c.set_overrides(overrides);
  return roles_from_config(c, path.string(), path.parent_path());
}

std::filesystem::path default_roles_path() {
  if (const char* p = std::getenv("ECPO_ROLES"); p && *p) return p;
  return prompts_dir().parent_path() / "configs" / "roles.yaml";
}

void register_backend(const std::string& name, BackendFactory factory) {
  std::lock_guard lk(backends_mu());
  backends()[name] = std::move(factory);
}

RoleSet::RoleSet(RolesConfig cfg, RoleSetOptions opts) : cfg_(std::move(cfg)), opts_(std::move(opts)) {
  if (!opts_.no_cache && cfg_.cache.enabled) {
    std::filesystem::path p = opts_.cache_path ? *opts_.cache_path
                              : !cfg_.cache.path.empty() ? cfg_.cache.path
                                                         : default_cache_path();
    cache_ = std::make_shared<ResponseCache>(p);
  }
}

std::vector<std::string> RoleSet::names() const {
  std::vector<std::string> n;
  for (const auto& [k, v] : cfg_.roles) n.push_back(k);
  return n;
}

const RoleSpec& RoleSet::spec(const std::string& role) const {
  auto it = cfg_.roles.find(role);
  if (it == cfg_.roles.end())
    throw Error("no role '" + role + "' in the roles file", cfg_.source, "add it under roles:");
  return it->second;
}

std::shared_ptr<ChatModel> RoleSet::backend(const std::string& role) {
  const RoleSpec& s = spec(role);
  std::lock_guard lk(mu_);
  if (auto it = backends_.find(role); it != backends_.end()) return it->second;
  std::shared_ptr<ChatModel> m;
  if (s.backend == "openai") {
    m = std::make_shared<OpenAiClient>(s.http, registry_);
  } else {
    BackendFactory f;
    {
      std::lock_guard bl(backends_mu());
      if (auto it = backends().find(s.backend); it != backends().end()) f = it->second;
    }
    if (!f)
      throw Error("role '" + role + "' uses unknown backend '" + s.backend + "'", cfg_.source,
                  "use backend: openai (or a backend this binary registers, e.g. local)");
    m = f(s);
  }
  backends_[role] = m;
  return m;
}

std::shared_ptr<ChatModel> RoleSet::model(const std::string& role) {
  auto b = backend(role);
  std::lock_guard lk(mu_);
  if (auto it = models_.find(role); it != models_.end()) return it->second;
  std::shared_ptr<ChatModel> m = b;
  if (cache_) m = std::make_shared<CachedChatModel>(m, cache_, cfg_.cache.mode);
  m = std::make_shared<AccountedChatModel>(m, role, opts_.sink, cfg_.prices);
  models_[role] = m;
  return m;
}

}  // namespace ecpo::llm
