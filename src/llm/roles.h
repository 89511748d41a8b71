// Roles: each ecpo role (agent, user_sim, ec_rater, rewriter, judge, persona, …) names a backend, an
// endpoint, a model and default sampling parameters in a YAML file (configs/roles.yaml documents the
// format). A RoleSet builds, per role, accounting(cache(backend)) and shares per-URL concurrency limits.
// Backends other than "openai" (e.g. the libtorch "local" engine in model/) plug in by register_backend.
// Keys never appear in the file: only the name of the environment variable that holds one.
#pragma once
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "llm/call-log.h"
#include "llm/chat-model.h"
#include "llm/openai-client.h"
#include "llm/price-table.h"
#include "llm/response-cache.h"
#include "util/config.h"

namespace ecpo::llm {

struct RoleSpec {
  std::string name;
  std::string backend = "openai";
  OpenAiOptions http;                                // used by the openai backend
  ChatParams params;                                 // the role's default sampling parameters
  nlohmann::json raw = nlohmann::json::object();     // the merged settings (for other backends)
};

struct CacheSettings {
  bool enabled = true;
  std::filesystem::path path;  // empty: default_cache_path()
  CacheMode mode = CacheMode::deterministic;
};

struct RolesConfig {
  std::map<std::string, RoleSpec> roles;
  std::shared_ptr<const PriceTable> prices = std::make_shared<PriceTable>();
  CacheSettings cache;
  std::string source;  // file it came from
};

// Parses a roles tree (see configs/roles.yaml). `base_dir` resolves relative `prices: FILE` and `ca_file:` paths.
// Throws ecpo::Error naming the file and the role on any bad entry.
RolesConfig roles_from_config(const Config& c, const std::string& where, const std::filesystem::path& base_dir);
// Loads a roles YAML file and applies `overrides` ("roles.agent.model=x") before parsing.
RolesConfig load_roles(const std::filesystem::path& path, const std::vector<std::string>& overrides = {});
// The roles file used when none is given: $ECPO_ROLES, else configs/roles.yaml beside the prompts dir.
std::filesystem::path default_roles_path();

using BackendFactory = std::function<std::shared_ptr<ChatModel>(const RoleSpec&)>;
// Registers a backend by name (thread-safe); "openai" is built in.
void register_backend(const std::string& name, BackendFactory factory);

struct RoleSetOptions {
  bool no_cache = false;                         // --no-cache
  std::optional<std::filesystem::path> cache_path;  // --cache PATH (overrides the file's cache.path)
  std::shared_ptr<CallSink> sink;                // where call records go (may be null)
};

class RoleSet {
 public:
  RoleSet(RolesConfig cfg, RoleSetOptions opts = {});
  // The accounted, cached model of `role` (built on first use). Throws ecpo::Error for an unknown role.
  std::shared_ptr<ChatModel> model(const std::string& role);
  const RoleSpec& spec(const std::string& role) const;
  bool has(const std::string& role) const { return cfg_.roles.count(role) > 0; }
  std::vector<std::string> names() const;
  const RolesConfig& config() const { return cfg_; }
  std::shared_ptr<ResponseCache> cache() const { return cache_; }
  std::shared_ptr<EndpointRegistry> endpoints() const { return registry_; }
  // The raw backend (no cache, no accounting), e.g. for `llm check`.
  std::shared_ptr<ChatModel> backend(const std::string& role);

 private:
  RolesConfig cfg_;
  RoleSetOptions opts_;
  std::shared_ptr<EndpointRegistry> registry_ = std::make_shared<EndpointRegistry>();
  std::shared_ptr<ResponseCache> cache_;
  std::mutex mu_;
  std::map<std::string, std::shared_ptr<ChatModel>> models_, backends_;
};

}  // namespace ecpo::llm
