// Roles file parsing and the per-role model stack (see roles.h).
#include "llm/roles.h"

#include <algorithm>
#include <cstdlib>

#include "llm/accounted-model.h"
#include "llm/prompts-dir.h"
#include "util/error.h"

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

ChatParams params_from_json(const nlohmann::json& j, const std::string& where) {
  ChatParams p;
  if (j.is_null()) return p;
  if (!j.is_object()) throw Error("params must be a map {temperature, top_p, max_tokens, stop, seed}", where);
  try {
    for (auto it = j.begin(); it != j.end(); ++it) {
      const std::string& k = it.key();
      if (k == "temperature") p.temperature = it->get<double>();
      else if (k == "top_p") p.top_p = it->get<double>();
      else if (k == "max_tokens") p.max_tokens = it->get<int>();
      else if (k == "stop") p.stop = it->get<std::vector<std::string>>();
      else if (k == "seed") {
        if (!it->is_null()) p.seed = it->get<std::uint64_t>();
      } else
        throw Error("unknown parameter '" + k + "'", where, "use temperature, top_p, max_tokens, stop, seed");
    }
  } catch (const nlohmann::json::exception&) {
    throw Error("a sampling parameter has the wrong type", where, "temperature/top_p numbers, max_tokens integer");
  }
  if (p.temperature < 0 || p.temperature > 2) throw Error("temperature must be in [0, 2]", where);
  if (p.top_p <= 0 || p.top_p > 1) throw Error("top_p must be in (0, 1]", where);
  if (p.max_tokens < 1) throw Error("max_tokens must be >= 1", where);
  return p;
}

template <typename T>
T get_as(const nlohmann::json& j, const char* key, T fallback, const std::string& where) {
  if (!j.contains(key) || j[key].is_null()) return fallback;
  try {
    return j[key].get<T>();
  } catch (const nlohmann::json::exception&) {
    throw Error(std::string("'") + key + "' has the wrong type (" + j[key].type_name() + ")", where);
  }
}

RoleSpec role_from_json(const std::string& name, const nlohmann::json& m, const std::string& where,
                        const std::filesystem::path& base_dir) {
  RoleSpec r;
  r.name = name;
  r.raw = m;
  r.backend = get_as<std::string>(m, "backend", "openai", where);
  r.params = params_from_json(m.value("params", nlohmann::json()), where + " params");
  auto& h = r.http;
  h.label = name;
  h.model = get_as<std::string>(m, "model", "", where);
  if (h.model.empty()) throw Error("role '" + name + "' has no model", where, "set roles." + name + ".model");
  if (r.backend != "openai") return r;
  static const char* known[] = {"backend", "endpoint", "model", "params", "base_url", "base_urls", "api_key_env",
                                "max_concurrency", "timeout_ms", "connect_timeout_ms", "retry", "structured",
                                "strict_schema", "extra_body", "ca_file", "tls_verify"};
  for (auto it = m.begin(); it != m.end(); ++it)
    if (std::find(std::begin(known), std::end(known), it.key()) == std::end(known))
      throw Error("unknown setting '" + it.key() + "' for role '" + name + "'", where,
                  "openai roles take: backend, endpoint, model, params, base_url(s), api_key_env, max_concurrency, "
                  "timeout_ms, connect_timeout_ms, retry, structured, strict_schema, extra_body, ca_file, "
                  "tls_verify");
  std::vector<std::string> urls;
  if (m.contains("base_urls")) urls = get_as<std::vector<std::string>>(m, "base_urls", {}, where);
  if (m.contains("base_url")) urls.push_back(get_as<std::string>(m, "base_url", "", where));
  if (urls.empty())
    throw Error("role '" + name + "' has no base_url", where, "set base_url, base_urls or endpoint: NAME");
  for (auto& u : urls) h.base_urls.push_back(normalize_base_url(u, where));
  h.api_key_env = get_as<std::string>(m, "api_key_env", "", where);
  h.max_concurrency = get_as<int>(m, "max_concurrency", 16, where);
  if (h.max_concurrency < 1) throw Error("max_concurrency must be >= 1", where);
  h.timeout_ms = get_as<double>(m, "timeout_ms", 60000, where);
  h.connect_timeout_ms = get_as<double>(m, "connect_timeout_ms", 5000, where);
  if (h.timeout_ms <= 0 || h.connect_timeout_ms <= 0) throw Error("timeouts must be > 0 ms", where);
  if (m.contains("ca_file")) {
    std::filesystem::path ca = get_as<std::string>(m, "ca_file", "", where);
    if (ca.is_relative()) ca = base_dir / ca;
    if (!std::filesystem::is_regular_file(ca))
      throw Error("ca_file " + ca.string() + " does not exist", where,
                  "give the PEM certificate of the server's CA (relative paths start at the config file)");
    h.ca_file = ca.string();
  }
  h.verify_tls = get_as<bool>(m, "tls_verify", true, where);
  h.retry = retry_policy_from_json(m.value("retry", nlohmann::json()), RetryPolicy{}, where);
  h.structured = structured_mode_from_name(get_as<std::string>(m, "structured", "json_schema", where), where);
  h.strict_schema = get_as<bool>(m, "strict_schema", false, where);
  if (m.contains("extra_body")) {
    if (!m["extra_body"].is_object()) throw Error("extra_body must be a map", where);
    h.extra_body = m["extra_body"];
  }
  return r;
}

}  // namespace

RolesConfig roles_from_config(const Config& c, const std::string& where, const std::filesystem::path& base_dir) {
  const auto& root = c.root();
  RolesConfig out;
  out.source = where;
  if (!root.is_object() || !root.contains("roles") || !root["roles"].is_object())
    throw Error("no 'roles:' map", where, "see configs/roles.yaml for the format");
  nlohmann::json defaults = root.value("defaults", nlohmann::json::object());
  nlohmann::json endpoints = root.value("endpoints", nlohmann::json::object());
  reject_literal_key(defaults, where + " defaults");
  if (!endpoints.is_object()) throw Error("'endpoints' must be a map", where);
  for (auto it = endpoints.begin(); it != endpoints.end(); ++it)
    reject_literal_key(it.value(), where + " endpoints." + it.key());
  for (auto it = root["roles"].begin(); it != root["roles"].end(); ++it) {
    const std::string rw = where + " roles." + it.key();
    if (!it->is_object()) throw Error("role '" + it.key() + "' must be a map", rw);
    reject_literal_key(*it, rw);
    nlohmann::json merged = defaults;
    if (it->contains("endpoint")) {
      std::string ep = get_as<std::string>(*it, "endpoint", "", rw);
      if (!endpoints.contains(ep))
        throw Error("role '" + it.key() + "' names endpoint '" + ep + "', which is not under endpoints:", rw);
      merged.merge_patch(endpoints[ep]);
    }
    merged.merge_patch(*it);
    out.roles[it.key()] = role_from_json(it.key(), merged, rw, base_dir);
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
      out.prices = std::make_shared<PriceTable>(PriceTable::from_json(p, where + " prices"));
    }
  }
  if (root.contains("cache")) {
    const auto& cj = root["cache"];
    if (!cj.is_object()) throw Error("'cache' must be a map {enabled, path, mode}", where);
    out.cache.enabled = get_as<bool>(cj, "enabled", true, where + " cache");
    std::string path = get_as<std::string>(cj, "path", "", where + " cache");
    if (!path.empty()) {
      if (path[0] == '~')
        if (const char* home = std::getenv("HOME")) path = std::string(home) + path.substr(1);
      out.cache.path = path;
    }
    out.cache.mode = cache_mode_from_name(get_as<std::string>(cj, "mode", "deterministic", where + " cache"),
                                          where + " cache");
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
