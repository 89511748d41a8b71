// The shared primitives of util/ that replaced per-module copies: UTF-8 rules (RFC 3629 table), bf16
// rounding (hand-computed bit patterns), the portable RNG (values fixed by the C++ standard for
// std::mt19937_64, Box–Muller by hand), the data-directory lookup, and the SQLite wrapper's errors.
#include <cmath>
#include <cstdlib>
#include <limits>

#include <sqlite3.h>

#include "test-support.h"
#include "util/bf16.h"
#include "util/error.h"
#include "util/fs.h"
#include "util/resources.h"
#include "util/rng.h"
#include "util/sqlite-db.h"
#include "util/utf8.h"

TEST(Utf8, SequenceRulesOfRfc3629) {
  using ecpo::utf8_sequence_at;
  EXPECT_EQ(utf8_sequence_at("a", 0), 1);
  EXPECT_EQ(utf8_sequence_at("\xC3\xA9", 0), 2);           // é
  EXPECT_EQ(utf8_sequence_at("\xE2\x82\xAC", 0), 3);       // €
  EXPECT_EQ(utf8_sequence_at("\xF0\x9F\x98\x80", 0), 4);   // 😀
  EXPECT_EQ(utf8_sequence_at("\xE2\x82", 0), -1);          // cut short: may still complete
  EXPECT_EQ(utf8_sequence_at("\x80", 0), 0);               // a lone continuation byte
  EXPECT_EQ(utf8_sequence_at("\xC0\xAF", 0), 0);           // overlong '/'
  EXPECT_EQ(utf8_sequence_at("\xE0\x80\xAF", 0), 0);       // overlong 3-byte form
  EXPECT_EQ(utf8_sequence_at("\xED\xA0\x80", 0), 0);       // U+D800, a surrogate
  EXPECT_EQ(utf8_sequence_at("\xF4\x90\x80\x80", 0), 0);   // U+110000
  EXPECT_EQ(utf8_sequence_at("\xC3" "a", 0), 0);           // lead without its continuation
  EXPECT_TRUE(ecpo::utf8_valid("h\xC3\xA9llo \xF0\x9F\x98\x80"));
  EXPECT_FALSE(ecpo::utf8_valid("\xED\xA0\x80"));
  EXPECT_FALSE(ecpo::utf8_valid("caf\xC3"));
  EXPECT_EQ(ecpo::utf8_sanitize("caf\xC3"), "caf\xEF\xBF\xBD");
  EXPECT_EQ(ecpo::utf8_sanitize("\xE0\x80\xAF!"), "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD!");  // one per byte
  EXPECT_EQ(ecpo::utf8_length("日本\xff"), 3u);
  EXPECT_EQ(ecpo::utf8_incomplete_tail("a\xF0\x9F\x98"), 3u);
  EXPECT_EQ(ecpo::utf8_incomplete_tail("a\xF0\x9F\x98\x80"), 0u);
  EXPECT_EQ(ecpo::utf8_incomplete_tail("a\xED\xA0"), 0u);  // a surrogate never completes
}

TEST(Bf16, RoundToNearestEvenByHand) {
  // 1 + 2^-8 is halfway between bf16 1.0 (0x3F80) and 1 + 2^-7 (0x3F81): ties go to the even 0x3F80.
  EXPECT_EQ(ecpo::f32_to_bf16(1.0f + std::ldexp(1.0f, -8)), 0x3F80);
  EXPECT_EQ(ecpo::f32_to_bf16(1.0f + 3 * std::ldexp(1.0f, -8)), 0x3F82);  // halfway to odd 0x3F81 → 0x3F82
  EXPECT_EQ(ecpo::f32_to_bf16(0.1f), 0x3DCD);  // 0x3DCCCCCD: the dropped half 0xCCCD > 0x8000 rounds up
  EXPECT_EQ(ecpo::f32_to_bf16(-2.0f), 0xC000);
  EXPECT_EQ(ecpo::f32_to_bf16(std::numeric_limits<float>::infinity()), 0x7F80);
  EXPECT_TRUE(std::isnan(ecpo::bf16_to_f32(ecpo::f32_to_bf16(std::nanf("")))));
  EXPECT_EQ(ecpo::bf16_to_f32(0x4049), 3.140625f);
}

TEST(Rng, EngineValuesAreFixedByTheStandard) {
  // [rand.predef]: the 10000th consecutive output of a default-constructed mt19937_64 (seed 5489).
  ecpo::Rng r(5489);
  std::uint64_t x = 0;
  for (int i = 0; i < 10000; ++i) x = r.next();
  EXPECT_EQ(x, 9981545732273789042ull);
  // uniform() is the top 53 bits; normal() is Box–Muller on two uniforms, the sine half kept for the next call.
  ecpo::Rng a(7), b(7);
  const double u1 = b.uniform(), u2 = b.uniform();
  const double rr = std::sqrt(-2.0 * std::log(u1)), th = 2.0 * M_PI * u2;
  EXPECT_DOUBLE_EQ(a.normal(), rr * std::cos(th));
  EXPECT_DOUBLE_EQ(a.normal(), rr * std::sin(th));
  // Moments over many draws (fixed seed: deterministic).
  ecpo::Rng n(1);
  double s = 0, s2 = 0;
  const int N = 200000;
  for (int i = 0; i < N; ++i) {
    double v = n.normal();
    s += v;
    s2 += v * v;
  }
  EXPECT_NEAR(s / N, 0.0, 0.01);
  EXPECT_NEAR(s2 / N, 1.0, 0.01);
  ecpo::Rng c(3);
  for (int i = 0; i < 1000; ++i) EXPECT_LT(c.below(7), 7u);
}

TEST(Resources, EnvironmentFirstThenTheTree) {
  ecpo::test::TempDir dir;
  ecpo::write_file_atomic(dir / "synth" / "x.yaml", "a: 1\n");
  ::setenv("ECPO_RESOURCES", dir.path().c_str(), 1);
  EXPECT_EQ(ecpo::data_file(ecpo::DataDir::resources, "synth/x.yaml"), dir / "synth" / "x.yaml");
  try {
    ecpo::data_file(ecpo::DataDir::resources, "synth/absent.yaml");
    FAIL();
  } catch (const ecpo::Error& e) {
    EXPECT_NE(e.message().find("resources/synth/absent.yaml not found"), std::string::npos) << e.what();
    EXPECT_NE(e.hint().find("ECPO_RESOURCES"), std::string::npos) << e.what();
  }
  ::setenv("ECPO_RESOURCES", (dir / "missing").c_str(), 1);
  EXPECT_THROW(ecpo::data_dir(ecpo::DataDir::resources), ecpo::Error);
  ::unsetenv("ECPO_RESOURCES");
  // Without the variable: next to / above the test binary (the build tree sits in the source tree) or the
  // compiled-in source tree — the shipped files are found either way.
  EXPECT_TRUE(std::filesystem::exists(ecpo::data_file(ecpo::DataDir::resources, "synth/book.yaml")));
  EXPECT_TRUE(std::filesystem::exists(ecpo::data_file(ecpo::DataDir::prompts, "llm/json-repair.txt")));
}

TEST(SqliteDb, ErrorsNameTheFileAndTheCallersHint) {
  ecpo::test::TempDir dir;
  {
    ecpo::SqliteDb db(dir / "sub" / "t.sqlite", ecpo::SqliteDb::Mode::create, "delete t.sqlite");
    db.exec("CREATE TABLE t (k TEXT PRIMARY KEY, n INTEGER, x REAL)");
    auto ins = db.prepare("INSERT INTO t VALUES (?, ?, ?)");
    ins.bind(1, "a").bind(2, 7).bind(3, 0.5).run();
    ins.reset();
    ins.bind(1, std::string("a")).bind(2, std::int64_t{8}).bind(3, 1.5);
    try {
      ins.run();
      FAIL();
    } catch (const ecpo::Error& e) {
      EXPECT_EQ(e.where(), (dir / "sub" / "t.sqlite").string());
      EXPECT_EQ(e.hint(), "delete t.sqlite");
      EXPECT_NE(e.message().find("UNIQUE"), std::string::npos) << e.what();
    }
    EXPECT_TRUE(db.last_error_is_constraint());
    auto q = db.prepare("SELECT k, n, x FROM t");
    ASSERT_TRUE(q.step());
    EXPECT_EQ(q.column_text(0), "a");
    EXPECT_EQ(q.column_int(1), 7);
    EXPECT_EQ(q.column_double(2), 0.5);
    EXPECT_FALSE(q.step());
    EXPECT_THROW(db.exec("SELEC nonsense"), ecpo::Error);
  }
  EXPECT_THROW(ecpo::SqliteDb(dir / "none.sqlite", ecpo::SqliteDb::Mode::read_only), ecpo::Error);
  // A borrowed handle stays open after the wrapper goes.
  sqlite3* raw = nullptr;
  ASSERT_EQ(sqlite3_open((dir / "b.sqlite").c_str(), &raw), SQLITE_OK);
  { ecpo::SqliteDb(raw, "run store").exec("CREATE TABLE b (x)"); }
  EXPECT_EQ(sqlite3_exec(raw, "INSERT INTO b VALUES (1)", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(raw);
}
