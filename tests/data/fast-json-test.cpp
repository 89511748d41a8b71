// data/fast-json: differential test against nlohmann's own SAX parser. On every input — hand-picked edge
// cases (escapes, surrogates, UTF-8 boundaries, number forms, whitespace, nesting) and 30,000 seeded random
// mutations of real fixture lines — the fast parser either gives up, or accepts an input nlohmann accepts
// with exactly the same event sequence (types, keys, decoded strings, number values and kinds) and the same
// DOM as json::parse (duplicate keys included). It must
// never accept what nlohmann rejects, and must not give up on ordinary lines.
#include "data/fast-json.h"

#include <random>

#include <gtest/gtest.h>

#include "data-test-util.h"
#include "util/jsonl.h"

using nlohmann::json;

namespace {

// Writes every event as text, so two runs compare as strings.
class Recorder : public nlohmann::json_sax<json> {
 public:
  std::string log;
  bool null() override { return add("null"); }
  bool boolean(bool v) override { return add(v ? "true" : "false"); }
  bool number_integer(number_integer_t v) override { return add("i:" + std::to_string(v)); }
  bool number_unsigned(number_unsigned_t v) override { return add("u:" + std::to_string(v)); }
  bool number_float(number_float_t v, const string_t&) override {
    char b[64];
    std::snprintf(b, sizeof b, "f:%.17g", v);
    return add(b);
  }
  bool string(string_t& v) override { return add("s:" + v); }
  bool binary(binary_t&) override { return add("bin"); }
  bool start_object(std::size_t) override { return add("{"); }
  bool key(string_t& k) override { return add("k:" + k); }
  bool end_object() override { return add("}"); }
  bool start_array(std::size_t) override { return add("["); }
  bool end_array() override { return add("]"); }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception&) override { return false; }

 private:
  bool add(const std::string& e) {
    log += e;
    log += '\x1f';
    return true;
  }
};

// Checks the `plain` hint: a plain token's decoded text must dump as itself between quotes.
class HintChecker : public Recorder {
 public:
  ecpo::data::FastJsonHints hints;
  std::string problem;
  bool string(string_t& v) override { return check(v) && Recorder::string(v); }
  bool key(string_t& k) override { return check(k) && Recorder::key(k); }

 private:
  bool check(const std::string& v) {
    std::string dumped = json(v).dump();
    if (hints.plain && dumped != "\"" + v + "\"") problem = "plain hint on " + dumped;
    return true;
  }
};

struct Outcome {
  bool ok;
  std::string log;
};
Outcome reference(std::string_view s) {
  Recorder r;
  bool ok = json::sax_parse(s.begin(), s.end(), &r, nlohmann::detail::input_format_t::json, true);
  return {ok, r.log};
}
Outcome fast(std::string_view s) {
  Recorder r;
  bool ok = ecpo::data::fast_sax_parse(s, r);
  return {ok, r.log};
}

// Returns "" when consistent, else a description. Checks the event stream and the DOM path.
std::string check(const std::string& s) {
  Outcome want = reference(s), got = fast(s);
  json dom;
  const bool dom_ok = ecpo::data::fast_parse_dom(s, dom);
  if (dom_ok != got.ok) return "fast_parse_dom and fast_sax_parse disagree";
  if (!got.ok) return "";
  if (!want.ok) return "fast parser accepted what nlohmann rejects";
  if (got.log != want.log) return "events differ:\n  fast: " + got.log + "\n  ref:  " + want.log;
  if (dom.dump() != json::parse(s).dump()) return "DOM differs: " + dom.dump();
  HintChecker h;
  ecpo::data::fast_sax_parse(s, h, &h.hints);
  return h.problem;
}

}  // namespace

TEST(FastJson, EdgeCasesAgreeWithNlohmann) {
  const char* const cases[] = {
      R"({})", R"([])", R"({"a":1})", R"( {"a" : [ 1 , 2.5 , -3 , true , false , null ] } )",
      "{\"a\":\"\\\"\\\\\\/\\b\\f\\n\\r\\t\"}", R"("\u0000")", R"("\u00e9\u20AC")", R"("\ud83d\ude00")",
      R"("\ud83d")", R"("\ude00")", R"("\ud83dx")", R"("\ud83d\u0041")", R"("\u12")", R"("\x")", R"("\U0041")",
      "\"caf\xc3\xa9\"", "\"\xc3\"", "\"\xc0\xaf\"", "\"\xe0\x80\xaf\"", "\"\xed\xa0\x80\"", "\"\xf4\x90\x80\x80\"",
      "\"\xf0\x9f\x98\x80\"", "\"\xef\xbf\xbf\"", "\"\xff\"", "\"a\x01\"", "\"tab\there\"", "\"\x7f\"",
      "0", "-0", "01", "-", "1.", ".5", "1e5", "1E+5", "1e-5", "-1.5e-300", "1e400", "1e-400", "2.2250738585072014e-308",
      "123456789012345678", "1234567890123456789", "18446744073709551615", "18446744073709551616",
      "-9223372036854775808", "-123456789012345678", "0.1", "3.141592653589793238462643383279",
      "true", "tru", "nul", "falsey", "[1,]", "{\"a\":1,}", "[1 2]", "{\"a\" 1}", "{1:2}", "{\"a\":}", "",
      "   ", "\xef\xbb\xbf{}", "{}x", "{}  \n", "[[[[[[[[[[]]]]]]]]]]", "{\"a\":{\"b\":{\"c\":[{\"d\":null}]}}}",
      "[\"\\u0022\"]", "{\"dup\":1,\"dup\":2}", "\t[\r\n1\r\n]\t", "[1]\v", "{\"a\":1}\x00",
  };
  for (const char* c : cases) EXPECT_EQ(check(c), "") << c;
  std::string deep(300, '[');
  deep += std::string(300, ']');
  EXPECT_EQ(check(deep), "");
  // Ordinary lines take the fast path.
  for (const char* c : {R"({"a":1})", R"({"rating": 5.0, "title": "caf\u00e9", "n": [1, -2, 3.5e2]})", "\"\xc3\xa9\""}) {
    EXPECT_TRUE(fast(c).ok) << c;
  }
}

TEST(FastJson, RandomMutationsOfRealLinesAgreeWithNlohmann) {
  std::vector<std::string> seeds;
  for (const char* f : {"amazon_reviews.jsonl", "meta_Video_Games.jsonl", "yelp_review.json", "yelp_business.json",
                        "edge_reviews_a.jsonl", "meta_edge_b.jsonl"}) {
    ecpo::LineReader r(ecpo::test::data_asset(f));
    std::string line;
    while (r.next(line))
      if (!line.empty()) seeds.push_back(line);
  }
  ASSERT_GT(seeds.size(), 30u);
  std::size_t fast_ok = 0;
  for (const auto& s : seeds) {
    EXPECT_EQ(check(s), "") << s;
    fast_ok += fast(s).ok == reference(s).ok;
  }
  EXPECT_EQ(fast_ok, seeds.size()) << "valid fixture lines must not need the fallback";

  std::mt19937_64 rng(2024);
  const char specials[] = {'"', '\\', '{', '}', '[', ']', ',', ':', '0', '9', '-', '+', '.', 'e', 'E', 'u', 'n', 't',
                           ' ', '\t', '\n', '\x01', '\x7f', '\xc3', '\xa9', '\xed', '\xa0', '\xf0', '\x9f', '\xff'};
  std::size_t accepted_mutants = 0;
  for (int i = 0; i < 30000; ++i) {
    std::string s = seeds[rng() % seeds.size()];
    const int edits = 1 + static_cast<int>(rng() % 3);
    for (int e = 0; e < edits && !s.empty(); ++e) {
      const std::size_t at = rng() % s.size();
      switch (rng() % 4) {
        case 0: s[at] = specials[rng() % sizeof specials]; break;
        case 1: s.insert(at, 1, specials[rng() % sizeof specials]); break;
        case 2: s.erase(at, 1 + rng() % 3); break;
        default: s.resize(at); break;
      }
    }
    const std::string problem = check(s);
    ASSERT_EQ(problem, "") << "input: " << s;
    accepted_mutants += fast(s).ok;
  }
  EXPECT_GT(accepted_mutants, 3000u);  // many mutants stay valid JSON (e.g. edits inside strings)
}
