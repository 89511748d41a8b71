// llm/structured-output: tolerant extraction, schema-subset validation, the one re-ask and its counters.
#include "llm/structured-output.h"

#include "llm-test-util.h"
#include "test-support.h"
#include "util/error.h"

using namespace ecpo::llm;
using nlohmann::json;

namespace {
const json kRating = {{"type", "object"},
                      {"properties",
                       {{"reason", {{"type", "string"}, {"minLength", 1}}},
                        {"rating", {{"type", "integer"}, {"minimum", 0}, {"maximum", 5}}}}},
                      {"required", {"reason", "rating"}},
                      {"additionalProperties", false}};
}

TEST(StructuredOutput, ExtractsFromFencesAndProse) {
  EXPECT_EQ(*extract_json(R"({"a": 1})"), json({{"a", 1}}));
  EXPECT_EQ(*extract_json("Sure!\n```json\n{\"a\": [1, 2]}\n```\nDone."), json({{"a", {1, 2}}}));
  EXPECT_EQ(*extract_json("```\n[1,2]\n```"), json({1, 2}));
  EXPECT_EQ(*extract_json("The answer is {\"a\": \"x}y\", \"b\": {\"c\": 2}} as asked."),
            json({{"a", "x}y"}, {"b", {{"c", 2}}}}));
  // A brace in prose before the object: the first balanced candidate that parses wins.
  EXPECT_EQ(*extract_json("{not json} then {\"ok\": true}"), json({{"ok", true}}));
  std::string err;
  EXPECT_FALSE(extract_json("no json here", &err).has_value());
  EXPECT_NE(err.find("no JSON"), std::string::npos);
  EXPECT_FALSE(extract_json("{\"a\": 1", &err).has_value());  // truncated
  EXPECT_FALSE(extract_json("42").has_value());               // scalars are not accepted
}

TEST(StructuredOutput, ValidatesTypesRangesAndFields) {
  EXPECT_EQ(validate_json({{"reason", "fine"}, {"rating", 4}}, kRating), "");
  EXPECT_EQ(validate_json({{"reason", "fine"}, {"rating", 4.0}}, kRating), "");  // integral float is an integer
  EXPECT_EQ(validate_json({{"reason", "x"}}, kRating), "$: missing required field 'rating'");
  EXPECT_EQ(validate_json({{"reason", "x"}, {"rating", "4"}}, kRating), "$.rating: expected integer, got string");
  EXPECT_EQ(validate_json({{"reason", "x"}, {"rating", 7}}, kRating), "$.rating: 7 is above the maximum 5");
  EXPECT_EQ(validate_json({{"reason", ""}, {"rating", 1}}, kRating), "$.reason: string shorter than 1 characters");
  EXPECT_EQ(validate_json({{"reason", "x"}, {"rating", 1}, {"extra", 0}}, kRating), "$: unexpected field 'extra'");
  json list = {{"type", "array"}, {"items", {{"enum", {"a", "b"}}}}, {"maxItems", 2}};
  EXPECT_EQ(validate_json({"a", "b"}, list), "");
  EXPECT_EQ(validate_json({"a", "c"}, list), "$[1]: \"c\" is not one of [\"a\",\"b\"]");
  EXPECT_EQ(validate_json({"a", "a", "a"}, list), "$: more than 2 items");
}

// minLength / maxLength count characters (code points), not UTF-8 bytes.
TEST(StructuredOutput, StringLengthsCountCharacters) {
  const json s = {{"type", "string"}, {"minLength", 4}, {"maxLength", 4}};
  EXPECT_EQ(validate_json("café", s), "");      // 4 characters, 5 bytes
  EXPECT_EQ(validate_json("日本語テ", s), "");    // 4 characters, 12 bytes
  EXPECT_EQ(validate_json("😀😀😀😀", s), "");  // 4 characters, 16 bytes
  EXPECT_EQ(validate_json("cafés", s), "$: string longer than 4 characters");
  EXPECT_EQ(validate_json("caf", s), "$: string shorter than 4 characters");
}

TEST(StructuredOutput, MoreKeywordsOfTheSubset) {
  json s = {{"type", "object"},
            {"properties",
             {{"mode", {{"const", "rate"}}},
              {"p", {{"type", "number"}, {"exclusiveMinimum", 0}, {"exclusiveMaximum", 1}}},
              {"tags", {{"type", "array"}, {"uniqueItems", true}, {"items", {{"type", "string"}}}}},
              {"note", {{"anyOf", {{{"type", "string"}}, {{"type", "null"}}}}}}}},
            {"additionalProperties", {{"type", "integer"}}},
            {"title", "annotations are ignored"},
            {"description", "so is this"}};
  EXPECT_EQ(validate_json({{"mode", "rate"}, {"p", 0.5}, {"tags", {"a", "b"}}, {"note", nullptr}, {"n", 3}}, s), "");
  EXPECT_EQ(validate_json({{"mode", "other"}}, s), "$.mode: \"other\" is not \"rate\"");
  EXPECT_EQ(validate_json({{"p", 0}}, s), "$.p: 0 is not above 0");
  EXPECT_EQ(validate_json({{"p", 1.0}}, s), "$.p: 1.0 is not below 1");
  EXPECT_EQ(validate_json({{"tags", {"a", "a"}}}, s), "$.tags: items 0 and 1 are equal");
  EXPECT_EQ(validate_json({{"note", 5}}, s), "$.note: expected string, got integer (and no other anyOf alternative matches)");
  EXPECT_EQ(validate_json({{"n", "x"}}, s), "$.n: expected integer, got string");  // additionalProperties schema
  EXPECT_EQ(validate_json(json::object(), json(false)), "$: no value is allowed here");
  EXPECT_EQ(validate_json(json::object(), json(true)), "");
}

// Keywords the validator does not implement are refused, never passed silently (a reply that breaks
// them would be accepted).
TEST(StructuredOutput, UnsupportedSchemasAreRefused) {
  EXPECT_EQ(check_schema(kRating), "");
  EXPECT_NE(check_schema({{"type", "string"}, {"pattern", "^a"}}).find("$: keyword 'pattern' is not supported"),
            std::string::npos);
  EXPECT_NE(check_schema({{"properties", {{"x", {{"oneOf", json::array({json::object()})}}}}}})
                .find("$.properties.x: keyword 'oneOf' is not supported"),
            std::string::npos);
  EXPECT_NE(check_schema({{"$ref", "#/$defs/a"}}).find("keyword '$ref'"), std::string::npos);
  EXPECT_NE(check_schema({{"items", {{"type", "int"}}}}).find("$.items.type: unknown type \"int\""), std::string::npos);
  EXPECT_NE(check_schema({{"minLength", -1}}).find("$.minLength: must be a non-negative integer"), std::string::npos);
  EXPECT_NE(check_schema({{"minLength", 1.5}}).find("$.minLength: must be a non-negative integer"), std::string::npos);
  EXPECT_NE(check_schema({{"required", {1}}}).find("$.required: must be a list of property names"), std::string::npos);
  EXPECT_NE(check_schema(json::array()).find("$: a schema must be an object"), std::string::npos);
  json deep = {{"type", "object"}};
  for (int i = 0; i < 80; ++i) deep = {{"items", deep}};
  EXPECT_NE(check_schema(deep).find("nested more than 64 levels"), std::string::npos);
  EXPECT_THROW(validate_json("a", {{"type", "string"}, {"pattern", "^a"}}), ecpo::Error);
  // chat_json refuses before calling the model.
  test::ScriptedModel m({"{}"});
  ChatParams p;
  p.json_schema = {{"type", "object"}, {"patternProperties", json::object()}};
  EXPECT_THROW(chat_json(m, {{"user", "x"}}, p), ecpo::Error);
  EXPECT_EQ(m.calls(), 0u);
}

TEST(StructuredOutput, ValidFirstReplyNeedsNoRepair) {
  test::ScriptedModel m({"```json\n{\"reason\": \"clear\", \"rating\": 3}\n```"});
  StructuredStats st;
  ChatParams p;
  p.json_schema = kRating;
  auto r = chat_json(m, {{"user", "rate"}}, p, &st);
  EXPECT_EQ(r.value, json({{"reason", "clear"}, {"rating", 3}}));
  EXPECT_FALSE(r.repaired);
  EXPECT_EQ(r.calls, 1);
  EXPECT_EQ(st.calls.load(), 1u);
  EXPECT_EQ(st.first_try.load(), 1u);
  EXPECT_EQ(m.calls(), 1u);
}

TEST(StructuredOutput, ReasksOnceWithTheError) {
  test::ScriptedModel m({"{\"reason\": \"meh\", \"rating\": 9}", "{\"reason\": \"meh\", \"rating\": 2}"});
  StructuredStats st;
  ChatParams p;
  p.json_schema = kRating;
  auto r = chat_json(m, {{"user", "rate"}}, p, &st);
  EXPECT_TRUE(r.repaired);
  EXPECT_EQ(r.value["rating"], 2);
  EXPECT_EQ(r.first_error, "$.rating: 9 is above the maximum 5");
  EXPECT_EQ(st.repaired.load(), 1u);
  auto seen = m.seen();
  ASSERT_EQ(seen.size(), 2u);
  ASSERT_EQ(seen[1].size(), 3u);  // original, the bad reply, the repair request
  EXPECT_EQ(seen[1][1].role, "assistant");
  EXPECT_EQ(seen[1][1].content, "{\"reason\": \"meh\", \"rating\": 9}");
  EXPECT_NE(seen[1][2].content.find("$.rating: 9 is above the maximum 5"), std::string::npos);
}

TEST(StructuredOutput, SecondFailureIsATypedError) {
  test::ScriptedModel m({"nope", "still nope"});
  StructuredStats st;
  ChatParams p;
  p.json_schema = kRating;
  try {
    chat_json(m, {{"user", "rate"}}, p, &st);
    FAIL();
  } catch (const ChatError& e) {
    EXPECT_EQ(e.kind(), FailureKind::bad_response);
    EXPECT_EQ(e.attempts(), 2);
  }
  EXPECT_EQ(st.failed.load(), 1u);
  EXPECT_EQ(m.calls(), 2u);
  ChatParams none;
  EXPECT_THROW(chat_json(m, {{"user", "x"}}, none, &st), ecpo::Error);
}

namespace {
// Streams each scripted reply through on_delta one character at a time, like a token-streaming backend.
class StreamingScript : public ChatModel {
 public:
  explicit StreamingScript(std::vector<std::string> replies) : replies_(std::move(replies)) {}
  ChatResult chat(const std::vector<Message>&, const ChatParams& params) override {
    ChatResult r;
    r.text = replies_.at(next_++);
    if (params.on_delta)
      for (char c : r.text) params.on_delta(std::string_view(&c, 1));
    return r;
  }
  std::string model_name() const override { return "streaming-script"; }

 private:
  std::vector<std::string> replies_;
  std::size_t next_ = 0;
};
}  // namespace

// A rejected first reply must not reach the caller's stream; the accepted one arrives once, whole.
TEST(StructuredOutput, StreamsOnlyTheAcceptedReply) {
  for (bool needs_repair : {false, true}) {
    std::vector<std::string> replies = {"{\"reason\": \"ok\", \"rating\": 4}"};
    if (needs_repair) replies.insert(replies.begin(), "{\"reason\": \"meh\", \"rating\": 9}");
    StreamingScript m(replies);
    ChatParams p;
    p.json_schema = kRating;
    std::string streamed;
    int pieces = 0;
    p.on_delta = [&](std::string_view d) {
      streamed += d;
      ++pieces;
      return true;
    };
    auto r = chat_json(m, {{"user", "rate"}}, p);
    EXPECT_EQ(r.repaired, needs_repair);
    EXPECT_EQ(streamed, "{\"reason\": \"ok\", \"rating\": 4}");
    EXPECT_EQ(pieces, 1);
  }
}
