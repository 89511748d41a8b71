// Configuration: a YAML file read into a JSON tree, then `key.path=value` overrides from the CLI
// (values parsed as YAML scalars/flow: 3, 0.5, true, [a, b], "text"). The resolved tree is dumped as YAML
// into every run directory so a run can be reproduced exactly. Errors name the key and where it was written
// (file:line, or the command-line override), which Config remembers for every mapping key it read.
#pragma once
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace ecpo {

class Config {
 public:
  Config() : root_(nlohmann::json::object()) {}
  explicit Config(nlohmann::json root, std::string origin = {}) : root_(std::move(root)), origin_(std::move(origin)) {}

  // Reads a YAML (or JSON) file. Throws ecpo::Error with file:line on a syntax error.
  static Config load(const std::filesystem::path& path);
  // Parses YAML text; `origin` names it in errors.
  static Config parse(const std::string& yaml_text, const std::string& origin = "<config>");

  // Applies one "a.b.c=value" override; creates missing objects. Throws on a malformed override.
  void set_override(const std::string& assignment);
  void set_overrides(const std::vector<std::string>& assignments);
  // Deep-merges `other` over this config (objects merge, everything else replaces).
  void merge(const Config& other);

  bool has(const std::string& dotted) const;
  // Value at a dotted path; throws ecpo::Error naming the key when absent or of the wrong type.
  template <typename T>
  T get(const std::string& dotted) const;
  template <typename T>
  T get(const std::string& dotted, const T& fallback) const {
    return has(dotted) ? get<T>(dotted) : fallback;
  }
  const nlohmann::json* find(const std::string& dotted) const;
  // Where a key was set: "file:line" of the deepest enclosing key read from the file, "command line" for an
  // override, the origin alone when no line is known ("config" for a Config made from a JSON tree).
  std::string where(const std::string& dotted) const;
  const std::string& origin() const { return origin_; }
  const nlohmann::json& root() const { return root_; }
  nlohmann::json& root() { return root_; }

  std::string to_yaml() const;
  void save(const std::filesystem::path& path) const;  // atomic

 private:
  nlohmann::json root_;
  std::string origin_;
  std::map<std::string, std::string> where_;  // dotted key → "file:line" or "command line (key=...)"
};

// YAML ⇄ JSON conversion used by Config (exposed for recipe files and tests). When `lines` is given it
// receives the 1-based line of every mapping key by dotted path (list elements as "key[i]").
nlohmann::json yaml_to_json(const std::string& yaml_text, const std::string& origin,
                            std::map<std::string, int>* lines = nullptr);
std::string json_to_yaml(const nlohmann::json& value);

}  // namespace ecpo

#include "util/config-inl.h"
