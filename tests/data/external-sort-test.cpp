// data/external-sort: key encodings sort like the tuples they encode (checked against std::tuple order on
// random values with 0x00/0x01/0xFF bytes and negative numbers); the sorter's output equals std::stable_sort
// of the same records, in memory and with KiB budgets that force dozens of runs, records larger than the I/O
// buffer and several 3-way merge passes; spill folders vanish after use and while an exception unwinds.
#include "data/external-sort.h"

#include <algorithm>
#include <random>
#include <tuple>

#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include "test-support.h"
#include "util/error.h"

namespace fs = std::filesystem;
using namespace ecpo::data;

namespace {

std::string random_bytes(std::mt19937_64& rng, std::size_t max_len) {
  static const char alphabet[] = {'\0', '\x01', '\xff', 'a', 'b', 'A', '\x7f', '\x80'};
  std::string s(rng() % (max_len + 1), ' ');
  for (char& c : s) c = alphabet[rng() % sizeof alphabet];
  return s;
}

struct Rec {
  std::string key, payload;
};

std::vector<Rec> drain(ExternalSorter& s) {
  std::vector<Rec> out;
  std::string_view k, p;
  while (s.next(k, p)) out.push_back({std::string(k), std::string(p)});
  return out;
}

std::size_t entries(const fs::path& dir) {
  return static_cast<std::size_t>(std::distance(fs::directory_iterator(dir), fs::directory_iterator()));
}

}  // namespace

TEST(ExternalSort, KeysSortLikeTuplesAndDecode) {
  std::mt19937_64 rng(7);
  using T = std::tuple<std::string, std::int64_t, std::string, std::uint64_t>;
  std::vector<T> values;
  for (int i = 0; i < 3000; ++i) {
    const std::int64_t ints[] = {0, -1, 1, INT64_MIN, INT64_MAX, static_cast<std::int64_t>(rng() % 5) - 2};
    values.emplace_back(random_bytes(rng, 4), ints[rng() % 6], random_bytes(rng, 3), rng() % 3);
  }
  // std::string compares bytes as unsigned char, which is the order the keys must give.
  std::vector<std::pair<std::string, std::size_t>> keys;
  for (std::size_t i = 0; i < values.size(); ++i) {
    std::string k;
    KeyWriter(k).str(std::get<0>(values[i])).i64(std::get<1>(values[i])).str(std::get<2>(values[i])).u64(std::get<3>(values[i]));
    keys.emplace_back(k, i);
  }
  std::vector<std::size_t> by_tuple(values.size()), by_key(values.size());
  for (std::size_t i = 0; i < values.size(); ++i) by_tuple[i] = by_key[i] = i;
  std::stable_sort(by_tuple.begin(), by_tuple.end(), [&](auto a, auto b) { return values[a] < values[b]; });
  std::stable_sort(by_key.begin(), by_key.end(), [&](auto a, auto b) { return keys[a].first < keys[b].first; });
  EXPECT_EQ(by_tuple, by_key);
  std::string scratch;
  for (std::size_t i = 0; i < values.size(); ++i) {
    KeyReader r(keys[i].first);
    EXPECT_EQ(std::string(r.str(scratch)), std::get<0>(values[i]));
    EXPECT_EQ(r.i64(), std::get<1>(values[i]));
    EXPECT_EQ(std::string(r.str(scratch)), std::get<2>(values[i]));
    EXPECT_EQ(r.u64(), std::get<3>(values[i]));
  }
}

TEST(ExternalSort, PayloadEncodingsRoundTrip) {
  std::string p;
  put_varint(p, 0);
  put_varint(p, 300);
  put_varint(p, UINT64_MAX);
  put_double(p, -2.5);
  put_bytes(p, std::string("a\0b", 3));
  put_bytes(p, "");
  Cursor c(p);
  EXPECT_EQ(c.varint(), 0u);
  EXPECT_EQ(c.varint(), 300u);
  EXPECT_EQ(c.varint(), UINT64_MAX);
  EXPECT_EQ(c.f64(), -2.5);
  EXPECT_EQ(c.bytes(), std::string_view("a\0b", 3));
  EXPECT_EQ(c.bytes(), "");
  EXPECT_TRUE(c.done());
  EXPECT_THROW(c.varint(), ecpo::Error);
}

TEST(ExternalSort, EqualsStableSortInMemoryAndWithManyRunsAndMergePasses) {
  std::mt19937_64 rng(11);
  std::vector<Rec> input;
  for (int i = 0; i < 6000; ++i) {
    std::string key = random_bytes(rng, 3);  // few distinct keys: long runs of equal keys
    std::string payload = std::to_string(i);
    if (i % 997 == 0) payload += std::string(20000, 'x');  // larger than the 4 KiB I/O buffer
    input.push_back({key, payload});
  }
  std::vector<Rec> want = input;
  std::stable_sort(want.begin(), want.end(), [](const Rec& a, const Rec& b) { return a.key < b.key; });

  ecpo::test::TempDir dir;
  for (auto [memory, fan_in] : {std::pair<std::size_t, std::size_t>{64u << 20, 64}, {4096, 3}, {16384, 2}}) {
    SCOPED_TRACE(memory);
    SpillDir spill(dir.path(), "t");
    ExternalSorter s(spill, "recs", SortOptions{memory, fan_in, 4096});
    for (const Rec& r : input) s.add(r.key, r.payload);
    std::vector<Rec> got = drain(s);
    ASSERT_EQ(got.size(), want.size());
    for (std::size_t i = 0; i < got.size(); ++i) {
      ASSERT_EQ(got[i].key, want[i].key) << i;
      ASSERT_EQ(got[i].payload, want[i].payload) << i;
    }
    EXPECT_EQ(s.size(), input.size());
    if (memory < (1u << 20)) {
      EXPECT_GT(s.runs_written(), 50u);
      EXPECT_GE(s.merge_passes(), 2u);
    } else {
      EXPECT_EQ(s.runs_written(), 0u);  // fits: no file at all
      EXPECT_EQ(entries(spill.path()), 0u);
    }
  }
  EXPECT_EQ(entries(dir.path()), 0u) << "spill folders are removed with their sorter's SpillDir";
}

TEST(ExternalSort, SortedInputAndEmptyInput) {
  ecpo::test::TempDir dir;
  SpillDir spill(dir.path(), "t");
  ExternalSorter empty(spill, "empty", SortOptions{1024, 2, 4096});
  std::string_view k, p;
  EXPECT_FALSE(empty.next(k, p));
  ExternalSorter s(spill, "sorted", SortOptions{1024, 2, 4096});
  for (int i = 0; i < 500; ++i) {
    std::string key;
    KeyWriter(key).u64(static_cast<std::uint64_t>(i));
    s.add(key, std::to_string(i));
  }
  int i = 0;
  while (s.next(k, p)) EXPECT_EQ(p, std::to_string(i++));
  EXPECT_EQ(i, 500);
  EXPECT_GT(s.runs_written(), 10u);
}

TEST(ExternalSort, SpillDirRemovedWhenAnExceptionUnwinds) {
  ecpo::test::TempDir dir;
  try {
    SpillDir spill(dir.path(), "t");
    ExternalSorter s(spill, "recs", SortOptions{2048, 2, 4096});
    for (int i = 0; i < 1000; ++i) s.add(std::to_string(i % 37), "payload payload payload");
    s.finish();
    ASSERT_GT(s.runs_written(), 3u);
    ASSERT_EQ(entries(dir.path()), 1u);
    throw std::runtime_error("stage failed");
  } catch (const std::runtime_error&) {
  }
  EXPECT_EQ(entries(dir.path()), 0u);
}

TEST(ExternalSort, UnwritableSpillParentIsAnErrorWithAHint) {
  try {
    SpillDir spill("/proc/ecpo-no-such-place", "t");
    FAIL();
  } catch (const ecpo::Error& e) {
    EXPECT_NE(std::string(e.what()).find("/proc/ecpo-no-such-place"), std::string::npos) << e.what();
    EXPECT_NE(e.hint().find("--tmp"), std::string::npos);
  }
}

TEST(ExternalSort, StaleSpillFoldersOfDeadRunsAreRemoved) {
  // A folder named like a spill folder of this host with the pid of a process that has exited is a leftover
  // of a killed run: the next SpillDir removes it. One with a live pid (ours) and other names stay.
  ecpo::test::TempDir dir;
  pid_t child = fork();
  if (child == 0) _exit(0);
  ASSERT_GT(child, 0);
  waitpid(child, nullptr, 0);
  std::string probe;
  {
    SpillDir s(dir.path(), "t");
    probe = s.path().filename().string();  // .ecpo-t-<host>-<pid>-XXXXXX
  }
  const std::string host_prefix = probe.substr(0, probe.rfind('-', probe.rfind('-') - 1) + 1);  // .ecpo-t-<host>-
  fs::create_directories(dir / (host_prefix + std::to_string(child) + "-abc123") / "sub");
  fs::create_directories(dir / (host_prefix + std::to_string(getpid()) + "-live00"));
  fs::create_directories(dir / ".ecpo-other-x-1-abc");
  {
    SpillDir s(dir.path(), "t");
    EXPECT_FALSE(fs::exists(dir / (host_prefix + std::to_string(child) + "-abc123")));
    EXPECT_TRUE(fs::exists(dir / (host_prefix + std::to_string(getpid()) + "-live00")));
    EXPECT_TRUE(fs::exists(dir / ".ecpo-other-x-1-abc"));
  }
}
