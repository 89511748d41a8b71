// Fuzz target: structured output on untrusted text. The input is a model reply: the JSON pulled out of it
// (llm::extract_json) is validated against a fixed schema of the subset; then the reply's JSON is used as a
// schema itself (check_schema, and validate_json when supported), since schemas also come from files and
// requests. Only ecpo::Error (an unsupported schema) may be thrown.
#include <nlohmann/json.hpp>

#include "fuzz-support.h"
#include "llm/structured-output.h"

namespace {
const nlohmann::json kSchema = nlohmann::json::parse(R"({
  "type": "object", "required": ["reason", "rating"], "additionalProperties": false,
  "properties": {"reason": {"type": "string", "minLength": 1, "maxLength": 40},
                 "rating": {"type": "integer", "minimum": 0, "maximum": 5},
                 "tags": {"type": "array", "items": {"enum": ["a", "b"]}, "uniqueItems": true, "maxItems": 3},
                 "note": {"anyOf": [{"type": "string"}, {"type": "null"}]}}})");
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string reply(ecpo::fuzz::text(data, size));
  std::string err;
  auto j = ecpo::llm::extract_json(reply, &err);
  if (!j) return 0;
  (void)ecpo::llm::validate_json(*j, kSchema);
  if (ecpo::llm::check_schema(*j).empty()) {
    (void)ecpo::llm::validate_json(*j, *j);
    (void)ecpo::llm::validate_json(kSchema, *j);
  }
  return 0;
}
