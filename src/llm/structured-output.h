// Structured output: pull a JSON value out of a model reply tolerantly (code fences, prose around the
// object), check it against a subset of JSON Schema (draft 2020-12 semantics: type, enum, const,
// minimum/maximum, exclusiveMinimum/exclusiveMaximum, minLength/maxLength counted in characters,
// properties, required, additionalProperties (false or a schema), items, minItems/maxItems, uniqueItems,
// anyOf; annotations such as title, description, default, format are ignored), and, on failure, re-ask the
// model once with the error. A schema using any other keyword ($ref, oneOf, pattern, ...) is REFUSED with an
// ecpo::Error rather than half-enforced. Every repair and failure is counted.
// Not here: how the schema is sent to the server (openai-client.h does that per dialect).
#pragma once
#include <atomic>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "llm/chat-model.h"

namespace ecpo::llm {

// The first JSON object or array found in `text`: the whole text, else a ```json fenced block, else the
// first balanced {...} / [...] that parses. nullopt (and `error` set) when there is none.
std::optional<nlohmann::json> extract_json(const std::string& text, std::string* error = nullptr);

// "" when `schema` uses only the supported subset with well-formed keyword values; otherwise the first problem
// as "$.properties.x: keyword 'pattern' is not supported ...".
std::string check_schema(const nlohmann::json& schema);
// "" when `value` satisfies `schema`; otherwise the first violation as "$.path: what was wrong". Throws
// ecpo::Error when check_schema(schema) finds the schema unsupported.
std::string validate_json(const nlohmann::json& value, const nlohmann::json& schema);

struct StructuredStats {
  std::atomic<std::uint64_t> calls{0};       // chat_json invocations
  std::atomic<std::uint64_t> first_try{0};   // valid on the first reply
  std::atomic<std::uint64_t> repaired{0};    // valid after the one re-ask
  std::atomic<std::uint64_t> failed{0};      // still invalid after the re-ask (ChatError thrown)
  std::atomic<std::uint64_t> call_errors{0}; // the model call itself failed (ChatError passed on)
};
// Process-wide counters used when no StructuredStats is passed.
StructuredStats& global_structured_stats();

struct JsonReply {
  nlohmann::json value;  // the validated JSON
  ChatResult result;     // the reply it came from (the re-ask's when repaired)
  bool repaired = false;
  std::string first_error;  // why the first reply was rejected ("" when it was not)
  int calls = 1;
};

// Calls `model` with params.json_schema set (required: throws ecpo::Error when null or unsupported, before
// any call), validates, and
// re-asks once (the bad reply and the error appended, prompt prompts/llm/json-repair.txt) when needed.
// Throws ChatError(bad_response) when the second reply is also invalid; ChatError from the model passes on.
// params.on_delta receives only the accepted reply, once and whole (attempts are not streamed).
JsonReply chat_json(ChatModel& model, const std::vector<Message>& messages, const ChatParams& params,
                    StructuredStats* stats = nullptr);

}  // namespace ecpo::llm
