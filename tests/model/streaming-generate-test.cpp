// Live streaming in the generate loop (GenerateParams::on_token) on a scripted mock model whose tokens are
// hand-chosen byte pieces: UTF-8 characters split across tokens, stop strings spanning tokens, cancel, the
// final event, and an exhaustive sweep over every short token sequence checking that deltas concatenate to
// the result text, never split a character, never carry stop-string text and hold back no more than needed.
// No weights involved.
#include <algorithm>
#include <string>
#include <vector>

#include "model/generate.h"
#include "test-support.h"
#include "util/error.h"
#include "util/text.h"

using namespace ecpo::model;

namespace {

// A mock model that emits `script` in order (logit 10 on the scripted id), vocabulary = pieces.size().
StepFn scripted(const std::vector<int>& script, int vocab, int* steps = nullptr) {
  return [script, vocab, steps, n = std::size_t{0}](const std::vector<int>&) mutable {
    if (steps) ++*steps;
    std::vector<float> l(static_cast<std::size_t>(vocab), 0.0f);
    l[static_cast<std::size_t>(script.at(std::min(n, script.size() - 1)))] = 10.0f;
    ++n;
    return l;
  };
}

TokenDecoder pieces_decoder(const std::vector<std::string>& pieces) {
  return [pieces](const std::vector<int>& ids) {
    std::string s;
    for (int i : ids) s += pieces.at(static_cast<std::size_t>(i));
    return s;
  };
}

struct Event {
  int id, index;
  std::string delta, finish;
};

struct StreamRun {
  GenerateResult result;
  std::vector<Event> events;
  std::string joined() const {
    std::string s;
    for (const auto& e : events) s += e.delta;
    return s;
  }
};

StreamRun stream_run(const std::vector<std::string>& pieces, const std::vector<int>& script, std::vector<std::string> stops = {},
        std::vector<std::int64_t> eos = {}, int cancel_at = -1, int max_tokens = -1) {
  StreamRun out;
  GenerateParams p;
  p.max_tokens = max_tokens > 0 ? max_tokens : static_cast<int>(script.size());
  p.stop_strings = std::move(stops);
  p.on_token = [&out, cancel_at](const TokenEvent& ev) {
    out.events.push_back({ev.id, ev.index, std::string(ev.delta), std::string(ev.finish_reason)});
    return ev.index != cancel_at;
  };
  out.result = generate_loop({0}, p, scripted(script, static_cast<int>(pieces.size())), pieces_decoder(pieces), eos);
  return out;
}

std::vector<std::string> deltas(const StreamRun& r) {
  std::vector<std::string> d;
  for (const auto& e : r.events) d.push_back(e.delta);
  return d;
}

}  // namespace

TEST(StreamHelpers, IncompleteUtf8TailByHand) {
  EXPECT_EQ(incomplete_utf8_tail(""), 0u);
  EXPECT_EQ(incomplete_utf8_tail("abc"), 0u);
  EXPECT_EQ(incomplete_utf8_tail("a\xC3"), 1u);              // é's lead byte alone
  EXPECT_EQ(incomplete_utf8_tail("a\xC3\xA9"), 0u);          // é complete
  EXPECT_EQ(incomplete_utf8_tail("\xE2\x82"), 2u);           // € missing its last byte
  EXPECT_EQ(incomplete_utf8_tail("\xE2\x82\xAC"), 0u);
  EXPECT_EQ(incomplete_utf8_tail("\xF0\x9F\x98"), 3u);       // 😀 missing one byte
  EXPECT_EQ(incomplete_utf8_tail("\xF0\x9F\x98\x80"), 0u);
  EXPECT_EQ(incomplete_utf8_tail("a\x80"), 0u);              // a lone continuation byte never completes
  EXPECT_EQ(incomplete_utf8_tail("\xC0"), 0u);               // C0/C1 (overlong leads) never complete
  EXPECT_EQ(incomplete_utf8_tail("\xE0\x80"), 0u);           // overlong 3-byte form: invalid already
  EXPECT_EQ(incomplete_utf8_tail("\xED\xA0"), 0u);           // a surrogate: invalid already
  EXPECT_EQ(incomplete_utf8_tail("\xF4\x90"), 0u);           // above U+10FFFF
  EXPECT_EQ(incomplete_utf8_tail("\xF5"), 0u);
}

TEST(StreamHelpers, StopPrefixTailByHand) {
  const std::vector<std::string> stops = {"</s>", "END", "x"};
  EXPECT_EQ(stop_prefix_tail("hello", stops), 0u);
  EXPECT_EQ(stop_prefix_tail("hello <", stops), 1u);
  EXPECT_EQ(stop_prefix_tail("hello </", stops), 2u);
  EXPECT_EQ(stop_prefix_tail("hello </s", stops), 3u);
  EXPECT_EQ(stop_prefix_tail("hello </s>", stops), 0u);  // a full match is not a proper prefix
  EXPECT_EQ(stop_prefix_tail("THE EN", stops), 2u);
  EXPECT_EQ(stop_prefix_tail("x", stops), 0u);           // 1-byte stops are matched, never held
  EXPECT_EQ(stop_prefix_tail("<", {"<<<<"}), 1u);
  EXPECT_EQ(stop_prefix_tail("a<<<", {"<<<<"}), 3u);     // the longest suffix wins
  EXPECT_EQ(stop_prefix_tail("ab", {"abc", "bcd"}), 2u);
  EXPECT_EQ(stop_prefix_tail("", stops), 0u);
}

TEST(StreamGenerate, Utf8SplitAcrossTokensIsHeldUntilWhole) {
  // pieces: 0 "a", 1 C3, 2 A9 (é = C3 A9), 3 E2 82, 4 AC (€), 5 F0 9F, 6 98, 7 80 (😀 = F0 9F 98 80)
  const std::vector<std::string> pieces = {"a", "\xC3", "\xA9", "\xE2\x82", "\xAC", "\xF0\x9F", "\x98", "\x80"};
  StreamRun r = stream_run(pieces, {0, 1, 2, 3, 4, 5, 6, 7});
  EXPECT_EQ(r.result.text, "a\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80");
  EXPECT_EQ(r.result.finish_reason, "length");
  const std::vector<std::string> want = {"a", "", "\xC3\xA9", "", "\xE2\x82\xAC", "", "", "\xF0\x9F\x98\x80", ""};
  EXPECT_EQ(deltas(r), want);
  EXPECT_EQ(r.joined(), r.result.text);
  ASSERT_EQ(r.events.size(), 9u);
  for (int i = 0; i < 8; ++i) {
    EXPECT_EQ(r.events[i].id, r.result.ids[i]);
    EXPECT_EQ(r.events[i].index, i);
    EXPECT_EQ(r.events[i].finish, "");
  }
  EXPECT_EQ(r.events.back().id, -1);
  EXPECT_EQ(r.events.back().index, -1);
  EXPECT_EQ(r.events.back().finish, "length");
}

TEST(StreamGenerate, MaxTokensInsideACharacterEndsWithTheRawBytesAsTheResult) {
  const std::vector<std::string> pieces = {"a", "\xE2\x82", "\xAC"};
  StreamRun r = stream_run(pieces, {0, 1, 2}, {}, {}, -1, /*max_tokens=*/2);
  EXPECT_EQ(r.result.text, "a\xE2\x82");
  EXPECT_EQ(deltas(r), (std::vector<std::string>{"a", "", "\xE2\x82"}));  // only the final event is cut
  EXPECT_EQ(r.events.back().finish, "length");
}

TEST(StreamGenerate, StopStringSpanningTokensIsNeverEmitted) {
  // "Hi" " <" "/s" ">" "more": stop "</s>" completes on the 4th token.
  const std::vector<std::string> pieces = {"Hi", " <", "/s", ">", "more"};
  StreamRun r = stream_run(pieces, {0, 1, 2, 3, 4}, {"</s>"});
  EXPECT_EQ(r.result.text, "Hi ");
  EXPECT_EQ(r.result.finish_reason, "stop");
  EXPECT_EQ(r.result.ids, (std::vector<int>{0, 1, 2, 3}));  // the id completing the stop string is kept
  EXPECT_EQ(deltas(r), (std::vector<std::string>{"Hi", " ", "", "", ""}));
  EXPECT_EQ(r.events.back().finish, "stop");
  EXPECT_EQ(r.joined(), r.result.text);
}

TEST(StreamGenerate, AFalseAlarmIsReleasedOnceItCannotMatch) {
  // "<" could start "</s>", "<b" cannot: both bytes come out together.
  const std::vector<std::string> pieces = {"x", "<", "b", "/"};
  StreamRun r = stream_run(pieces, {0, 1, 2, 1, 3}, {"</s>"});
  EXPECT_EQ(deltas(r), (std::vector<std::string>{"x", "", "<b", "", "", "</"}));
  EXPECT_EQ(r.result.text, "x<b</");
  EXPECT_EQ(r.result.finish_reason, "length");
  EXPECT_EQ(r.joined(), r.result.text);
}

TEST(StreamGenerate, HeldTextIsReleasedWhenEosEndsGeneration) {
  const std::vector<std::string> pieces = {"ok ", "EN", "<eos>"};
  StreamRun r = stream_run(pieces, {0, 1, 2}, {"END"}, /*eos=*/{2});
  EXPECT_EQ(r.result.ids, (std::vector<int>{0, 1}));
  EXPECT_EQ(r.result.finish_reason, "stop");
  EXPECT_EQ(r.result.text, "ok EN");
  EXPECT_EQ(deltas(r), (std::vector<std::string>{"ok ", "", "EN"}));
  EXPECT_EQ(r.events.back().finish, "stop");
}

TEST(StreamGenerate, StopStringInsideOneTokenCutsMidToken) {
  const std::vector<std::string> pieces = {"abc", "deSTOPfg", "h"};
  StreamRun r = stream_run(pieces, {0, 1, 2}, {"STOP"});
  EXPECT_EQ(r.result.text, "abcde");
  EXPECT_EQ(deltas(r), (std::vector<std::string>{"abc", "de", ""}));
}

TEST(StreamGenerate, CancelStopsAtOnceAndKeepsWhatWasDelivered) {
  const std::vector<std::string> pieces = {"one ", "two ", "<", "three"};
  int steps = 0;
  std::vector<std::string> got;
  GenerateParams p;
  p.max_tokens = 10;
  p.stop_strings = {"<stop>"};
  p.on_token = [&](const TokenEvent& ev) {
    got.emplace_back(ev.delta);
    return ev.index < 2;  // cancel on the third token ("<", held back as a possible stop prefix)
  };
  auto r = generate_loop({0}, p, scripted({0, 1, 2, 3}, 4, &steps), pieces_decoder(pieces), {});
  EXPECT_EQ(r.finish_reason, "cancelled");
  EXPECT_EQ(steps, 3);
  EXPECT_EQ(r.ids, (std::vector<int>{0, 1, 2}));
  EXPECT_EQ(got, (std::vector<std::string>{"one ", "two ", ""}));  // no final event
  EXPECT_EQ(r.text, "one two ");                                    // exactly what was delivered
}

TEST(StreamGenerate, SameIdsTextAndFinishAsWithoutStreaming) {
  const std::vector<std::string> pieces = {"a", "\xC3", "\xA9", "<", "/", "s>", " "};
  const std::vector<int> script = {0, 1, 2, 3, 4, 0, 3, 4, 5, 6};
  GenerateParams p;
  p.max_tokens = 10;
  p.stop_strings = {"</s>"};
  auto plain = generate_loop({0}, p, scripted(script, 7), pieces_decoder(pieces), {});
  StreamRun r = stream_run(pieces, script, {"</s>"}, {}, -1, 10);
  EXPECT_EQ(r.result.ids, plain.ids);
  EXPECT_EQ(r.result.text, plain.text);
  EXPECT_EQ(r.result.finish_reason, plain.finish_reason);
  EXPECT_EQ(plain.text, "a\xC3\xA9</a");
  EXPECT_EQ(r.joined(), plain.text);
}

TEST(StreamGenerate, WithoutADecoderEventsCarryIdsOnly) {
  GenerateParams p;
  p.max_tokens = 3;
  std::vector<int> ids;
  std::string finish;
  p.on_token = [&](const TokenEvent& ev) {
    EXPECT_TRUE(ev.delta.empty());
    if (ev.id >= 0) ids.push_back(ev.id);
    else finish = ev.finish_reason;
    return true;
  };
  auto r = generate_loop({0}, p, scripted({4, 2, 1}, 5), {}, {});
  EXPECT_EQ(ids, (std::vector<int>{4, 2, 1}));
  EXPECT_EQ(ids, r.ids);
  EXPECT_EQ(finish, "length");
  EXPECT_EQ(r.text, "");
}

TEST(StreamGenerate, ADecoderThatRewritesReleasedTextIsAnError) {
  // Decodes to "x" for one id and "Y..." afterwards: the released "x" would be taken back.
  TokenDecoder unstable = [](const std::vector<int>& ids) { return ids.size() == 1 ? std::string("x") : "Y" + std::string(ids.size(), 'z'); };
  GenerateParams p;
  p.max_tokens = 4;
  p.on_token = [](const TokenEvent&) { return true; };
  EXPECT_THROW(generate_loop({0}, p, scripted({1, 1, 1, 1}, 2), unstable, {}), ecpo::Error);
  p.on_token = nullptr;  // without streaming the same decoder is fine
  EXPECT_EQ(generate_loop({0}, p, scripted({1, 1, 1, 1}, 2), unstable, {}).text, "Yzzzz");
}

// Every token sequence of length 1..5 over 8 pieces (37448 runs): partial UTF-8 characters, a byte that is
// never valid, and pieces of two overlapping stop strings. Checks, for each run, against generation without
// streaming and against properties computed here independently of the implementation:
//   - ids, text, finish_reason unchanged; deltas concatenate to the text; one final event, last;
//   - released text after each token is a prefix of the final text (nothing is ever taken back) and contains
//     no stop string;
//   - a non-final delta never ends inside a character that later completes: sanitising per delta equals
//     sanitising the whole (and each delta is valid UTF-8 when the whole text is);
//   - liveness: what is held back after a token is exactly the longest suffix that is a proper stop-string
//     prefix, else the lead bytes of a character that can still complete, else nothing.
TEST(StreamGenerate, ExhaustiveShortSequences) {
  const std::vector<std::string> pieces = {"a", "\xC3", "\xA9", "\xE2\x82", "\xAC\x80", "<", "/e", "e>"};
  const std::vector<std::string> stops = {"</e", "<e>"};  // "<" "/e" and "<" "e>": overlapping prefixes
  // s is the start of a character that some continuation bytes complete (second bytes cover every lead's range)
  auto completable = [](const std::string& s) {
    if ((static_cast<unsigned char>(s[0]) & 0xC0) != 0xC0) return false;
    for (const char* second : {"\x80", "\x8F", "\x90", "\x9F", "\xA0", "\xBF"})
      for (const char* rest : {"", "\x80", "\x80\x80"})
        if (ecpo::utf8_valid(s + second + rest)) return true;
    return false;
  };
  auto is_stop_free = [&](const std::string& s) {
    for (const auto& st : stops)
      if (s.find(st) != std::string::npos) return false;
    return true;
  };
  std::vector<int> script;
  int runs = 0;
  std::function<void(std::size_t)> sweep = [&](std::size_t len) {
    if (script.size() == len) {
      ++runs;
      GenerateParams p;
      p.max_tokens = static_cast<int>(len);
      p.stop_strings = stops;
      auto plain = generate_loop({0}, p, scripted(script, 8), pieces_decoder(pieces), {});
      StreamRun r = stream_run(pieces, script, stops);
      SCOPED_TRACE(::testing::PrintToString(script));
      ASSERT_EQ(r.result.ids, plain.ids);
      ASSERT_EQ(r.result.text, plain.text);
      ASSERT_EQ(r.result.finish_reason, plain.finish_reason);
      ASSERT_EQ(r.joined(), plain.text);
      ASSERT_EQ(r.events.size(), plain.ids.size() + 1);
      ASSERT_EQ(r.events.back().id, -1);
      ASSERT_EQ(r.events.back().finish, plain.finish_reason);
      std::string released, sanitized_pieces;
      const bool whole_valid = ecpo::utf8_valid(plain.text);
      std::vector<int> ids_so_far;
      for (std::size_t i = 0; i < r.events.size(); ++i) {
        const Event& e = r.events[i];
        released += e.delta;
        sanitized_pieces += ecpo::utf8_sanitize(e.delta);
        ASSERT_EQ(plain.text.compare(0, released.size(), released), 0) << "released text was taken back";
        ASSERT_TRUE(is_stop_free(released));
        if (whole_valid) {
          ASSERT_TRUE(ecpo::utf8_valid(e.delta)) << "event " << i;
        }
        if (e.id < 0) continue;
        ASSERT_EQ(e.index, static_cast<int>(i));
        ASSERT_EQ(e.id, plain.ids[i]);
        ids_so_far.push_back(e.id);
        const std::string text_now = pieces_decoder(pieces)(ids_so_far);
        if (i + 2 < r.events.size()) {  // not the token that ended generation: check what is held back
          const std::string pending = text_now.substr(released.size());
          std::size_t stop_k = 0;  // longest suffix of the text that is a proper prefix of a stop string
          for (const auto& st : stops)
            for (std::size_t k = 1; k < st.size() && k <= text_now.size(); ++k)
              if (text_now.compare(text_now.size() - k, k, st, 0, k) == 0) stop_k = std::max(stop_k, k);
          if (stop_k > 0) {  // the stops are ASCII, so the text ends on a character boundary
            ASSERT_EQ(pending.size(), stop_k);
          } else if (!pending.empty()) {  // only the lead of a character that can still complete may wait
            ASSERT_LE(pending.size(), 3u);
            ASSERT_EQ(static_cast<unsigned char>(pending[0]) & 0xC0, 0xC0);
            ASSERT_TRUE(completable(pending)) << "held back needlessly";
          } else {  // nothing held: no suffix of the text is a character still waiting for bytes
            for (std::size_t k = 1; k <= 3 && k <= text_now.size(); ++k)
              ASSERT_FALSE(completable(text_now.substr(text_now.size() - k))) << "released half a character";
          }
        }
      }
      ASSERT_EQ(sanitized_pieces, ecpo::utf8_sanitize(plain.text));
      return;
    }
    for (int id = 0; id < 8; ++id) {
      script.push_back(id);
      sweep(len);
      script.pop_back();
      if (::testing::Test::HasFatalFailure()) return;
    }
  };
  for (std::size_t len = 1; len <= 5; ++len) sweep(len);
  EXPECT_EQ(runs, 8 + 64 + 512 + 4096 + 32768);
}
