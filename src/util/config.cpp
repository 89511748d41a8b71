// YAML config with key=value overrides (see config.h). yaml-cpp parses; nlohmann::json holds the tree.
#include "util/config.h"

#include <sstream>

#include <yaml-cpp/yaml.h>

#include "util/error.h"
#include "util/fs.h"

namespace ecpo {
namespace {

using json = nlohmann::json;

json scalar_to_json(const YAML::Node& n) {
  const std::string& s = n.Scalar();
  if (n.Tag() == "!") return s;  // explicitly quoted in the source
  if (s == "~" || s == "null" || s == "Null" || s == "NULL" || s.empty()) return nullptr;
  if (s == "true" || s == "True" || s == "TRUE") return true;
  if (s == "false" || s == "False" || s == "FALSE") return false;
  // Integer?
  {
    char* end = nullptr;
    errno = 0;
    long long v = std::strtoll(s.c_str(), &end, 10);
    if (end && *end == '\0' && errno == 0 && s.find_first_of("0123456789") != std::string::npos) return v;
  }
  // Float?
  {
    char* end = nullptr;
    double v = std::strtod(s.c_str(), &end);
    if (end && *end == '\0' && s.find_first_of("0123456789") != std::string::npos &&
        s.find_first_not_of("0123456789+-.eE") == std::string::npos)
      return v;
  }
  return s;
}

// `lines` (optional) receives the line of each mapping key under its dotted path below `prefix`.
json node_to_json(const YAML::Node& n, std::map<std::string, int>* lines = nullptr, const std::string& prefix = {}) {
  switch (n.Type()) {
    case YAML::NodeType::Null:
    case YAML::NodeType::Undefined:
      return nullptr;
    case YAML::NodeType::Scalar:
      return scalar_to_json(n);
    case YAML::NodeType::Sequence: {
      json a = json::array();
      std::size_t i = 0;
      for (const auto& c : n)
        a.push_back(node_to_json(c, lines, lines ? prefix + "[" + std::to_string(i++) + "]" : std::string()));
      return a;
    }
    case YAML::NodeType::Map: {
      json o = json::object();
      for (const auto& kv : n) {
        // A key that is itself a list or map ("? [a, b]: 1") has no string form: refuse it, do not throw
        // yaml-cpp's TypedBadConversion with no location.
        if (!kv.first.IsScalar())
          throw YAML::ParserException(kv.first.Mark(), "a mapping key must be a plain scalar");
        std::string key = kv.first.as<std::string>();
        std::string path;
        if (lines) {
          path = prefix.empty() ? key : prefix + "." + key;
          (*lines)[path] = kv.first.Mark().line + 1;
        }
        o[key] = node_to_json(kv.second, lines, path);
      }
      return o;
    }
  }
  return nullptr;
}

void emit(YAML::Emitter& out, const json& v) {
  if (v.is_object()) {
    out << YAML::BeginMap;
    for (auto it = v.begin(); it != v.end(); ++it) {
      out << YAML::Key << it.key() << YAML::Value;
      emit(out, it.value());
    }
    out << YAML::EndMap;
  } else if (v.is_array()) {
    out << YAML::BeginSeq;
    for (const auto& c : v) emit(out, c);
    out << YAML::EndSeq;
  } else if (v.is_string()) {
    const std::string& s = v.get_ref<const std::string&>();
    // Quote strings that would otherwise read back as another type.
    json back = scalar_to_json(YAML::Node(s));
    if (!back.is_string() || s.empty()) out << YAML::DoubleQuoted << s;
    else out << s;
  } else if (v.is_null()) {
    out << YAML::Null;
  } else if (v.is_boolean()) {
    out << (v.get<bool>() ? "true" : "false");
  } else {
    out << v.dump();
  }
}

std::vector<std::string> split_dotted(const std::string& dotted) {
  std::vector<std::string> parts;
  std::string cur;
  for (char c : dotted) {
    if (c == '.') {
      parts.push_back(cur);
      cur.clear();
    } else {
      cur += c;
    }
  }
  parts.push_back(cur);
  return parts;
}

}  // namespace

json yaml_to_json(const std::string& yaml_text, const std::string& origin, std::map<std::string, int>* lines) {
  try {
    YAML::Node n = YAML::Load(yaml_text);
    return node_to_json(n, lines);
  } catch (const YAML::Exception& e) {
    throw Error("YAML syntax error: " + e.msg, error_location(origin, e.mark.line + 1),
                "check indentation and quoting near that line");
  }
}

std::string json_to_yaml(const json& value) {
  YAML::Emitter out;
  emit(out, value);
  return std::string(out.c_str()) + "\n";
}

Config Config::load(const std::filesystem::path& path) {
  require_exists(path, "config file", "pass an existing YAML file (see configs/)");
  return parse(read_file(path), path.string());
}

Config Config::parse(const std::string& yaml_text, const std::string& origin) {
  std::map<std::string, int> lines;
  json root = yaml_to_json(yaml_text, origin, &lines);
  if (root.is_null()) root = json::object();
  if (!root.is_object()) throw Error("config must be a mapping at the top level", origin);
  Config c(std::move(root), origin);
  for (const auto& [key, line] : lines) c.where_[key] = error_location(origin, static_cast<std::uint64_t>(line));
  return c;
}

std::string Config::where(const std::string& dotted) const {
  const std::string origin = origin_.empty() ? std::string("config") : origin_;
  // The deepest enclosing key with a known line: "a.b.c", then "a.b", then "a".
  for (std::string key = dotted;;) {
    if (auto it = where_.find(key); it != where_.end()) return it->second;
    auto cut = key.find_last_of(".[");
    if (cut == std::string::npos || cut == 0) return origin;
    key.resize(cut);
  }
}

void Config::set_override(const std::string& assignment) {
  auto eq = assignment.find('=');
  if (eq == std::string::npos || eq == 0)
    throw Error("malformed override '" + assignment + "'", "command line", "write key.path=value");
  std::string key = assignment.substr(0, eq);
  std::string value = assignment.substr(eq + 1);
  json parsed;
  try {
    parsed = value.empty() ? json("") : node_to_json(YAML::Load(value));
  } catch (const YAML::Exception&) {
    parsed = value;
  }
  json* cur = &root_;
  auto parts = split_dotted(key);
  for (std::size_t i = 0; i < parts.size(); ++i) {
    if (parts[i].empty()) throw Error("empty key segment in override '" + assignment + "'", "command line");
    if (!cur->is_object()) *cur = json::object();
    if (i + 1 == parts.size()) (*cur)[parts[i]] = parsed;
    else cur = &(*cur)[parts[i]];
  }
  // The value (and anything below it) now comes from the command line, not from the file.
  for (auto it = where_.lower_bound(key); it != where_.end() && it->first.compare(0, key.size(), key) == 0;)
    it = where_.erase(it);
  where_[key] = "command line (" + key + "=...)";
}

void Config::set_overrides(const std::vector<std::string>& assignments) {
  for (const auto& a : assignments) set_override(a);
}

void Config::merge(const Config& other) {
  root_.merge_patch(other.root_);
  for (const auto& [k, w] : other.where_) where_[k] = w;
}

const json* Config::find(const std::string& dotted) const {
  const json* cur = &root_;
  for (const auto& p : split_dotted(dotted)) {
    if (!cur->is_object()) return nullptr;
    auto it = cur->find(p);
    if (it == cur->end()) return nullptr;
    cur = &*it;
  }
  return cur;
}

bool Config::has(const std::string& dotted) const { return find(dotted) != nullptr; }

std::string Config::to_yaml() const { return json_to_yaml(root_); }

void Config::save(const std::filesystem::path& path) const { write_file_atomic(path, to_yaml()); }

}  // namespace ecpo
