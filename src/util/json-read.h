// Reading JSON that came from outside (files, HTTP requests) so that every error says where: the source (a
// file or "request"), the key path inside it ("model.vocab[\"hi\"]", "added_tokens[3].id") and a hint.
// nlohmann's get<T>() throws type_error/out_of_range without a path (and converts an out-of-range number
// silently or with undefined behaviour); JsonAt checks type and range before it converts. Not a schema
// validator: readers still decide which keys they need.
#pragma once
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace ecpo {

// Where a JSON document came from; shared by every JsonAt into it (it must outlive them).
struct JsonSource {
  std::string name;  // file path, "request", "roles.yaml:12" ...
  std::string hint;  // default hint for errors in this document ("" for none)
};

// One value inside a document and its key path. Errors are ecpo::Error("<path>: <what>", source.name, hint).
class JsonAt {
 public:
  JsonAt(const nlohmann::json& value, const JsonSource& source, std::string path = {})
      : v_(&value), src_(&source), path_(std::move(path)) {}

  const nlohmann::json& json() const { return *v_; }
  std::string path() const;
  const JsonSource& source() const { return *src_; }
  bool is_null() const { return v_->is_null(); }
  bool is_object() const { return v_->is_object(); }
  bool is_array() const { return v_->is_array(); }
  bool is_string() const { return v_->is_string(); }
  std::size_t size() const { return v_->size(); }

  // Members. has(): an object holding `key` with a non-null value. get(): required (missing or null is an
  // error). find(): absent or null → nullopt. All three fail when this value is not an object.
  bool has(std::string_view key) const;
  JsonAt get(std::string_view key) const;
  std::optional<JsonAt> find(std::string_view key) const;
  // Array element i (bounds-checked).
  JsonAt at(std::size_t i) const;

  // Typed reads; the type and range are checked first.
  const std::string& str() const;
  bool boolean() const;
  std::int64_t integer(std::int64_t lo = std::numeric_limits<std::int64_t>::min(),
                       std::int64_t hi = std::numeric_limits<std::int64_t>::max()) const;
  double number(double lo = -std::numeric_limits<double>::max(),
                double hi = std::numeric_limits<double>::max()) const;  // finite, in [lo, hi]

  // Optional members with a default (absent or null → the default; present with a wrong type → error).
  std::string str_or(std::string_view key, std::string fallback) const;
  bool bool_or(std::string_view key, bool fallback) const;
  std::int64_t integer_or(std::string_view key, std::int64_t fallback,
                          std::int64_t lo = std::numeric_limits<std::int64_t>::min(),
                          std::int64_t hi = std::numeric_limits<std::int64_t>::max()) const;
  double number_or(std::string_view key, double fallback, double lo = -std::numeric_limits<double>::max(),
                   double hi = std::numeric_limits<double>::max()) const;

  const JsonAt& require_object() const;
  const JsonAt& require_array() const;
  // Array elements in order (f(JsonAt)); object members in key order (f(const std::string& key, JsonAt)).
  // The JsonAt handed to f builds its path only when asked (an error), so a 128k-entry vocabulary costs
  // no string per entry; it must not outlive the call of f.
  template <typename F>
  void each(F&& f) const {
    require_array();
    for (std::size_t i = 0; i < v_->size(); ++i) f(JsonAt((*v_)[i], *src_, this, {}, i));
  }
  template <typename F>
  void each_member(F&& f) const {
    require_object();
    for (auto it = v_->begin(); it != v_->end(); ++it) f(it.key(), JsonAt(it.value(), *src_, this, it.key(), 0));
  }

  [[noreturn]] void fail(const std::string& what, const std::string& hint = {}) const;
  std::string key_path(std::string_view key) const;  // path of member `key`
  std::string index_path(std::size_t i) const;       // path of element i

 private:
  JsonAt(const nlohmann::json& value, const JsonSource& source, const JsonAt* parent, std::string_view key,
         std::size_t index)
      : v_(&value), src_(&source), parent_(parent), key_(key), index_(index) {}
  [[noreturn]] void wrong_type(const char* want) const;
  const nlohmann::json* v_;
  const JsonSource* src_;
  std::string path_;                // eager path (parent_ == nullptr)
  const JsonAt* parent_ = nullptr;  // lazy path: parent's path + key_ (object member) or [index_]
  std::string_view key_;
  std::size_t index_ = 0;
};

// "a string", "an integer", ... for messages.
const char* json_type_phrase(const nlohmann::json& v);

// Parses a whole JSON text; a syntax error becomes ecpo::Error naming "source:line:column".
nlohmann::json parse_json_text(std::string_view text, const std::string& source, const std::string& hint = {});

// Turns an nlohmann exception that escaped a reader into ecpo::Error naming the source (its message
// without the "[json.exception...]" prefix). For catch-alls around code that indexes JSON directly.
[[noreturn]] void throw_json_error(const nlohmann::json::exception& e, const std::string& source,
                                   const std::string& hint = {});

}  // namespace ecpo
