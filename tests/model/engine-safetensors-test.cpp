// safetensors: exact byte layout of the writer, validation errors, a seeded mutation corpus (every mutated file
// parses or throws ecpo::Error — never crashes), sharded directories, and the f32 ⇄ bf16/f16 conversions.
#include "model/safetensors.h"

#include <chrono>
#include <cstring>
#include <fstream>
#include <random>

#include "test-support.h"
#include "util/error.h"
#include "util/fs.h"

using namespace ecpo::model;

namespace {

std::string u64le(std::uint64_t v) {
  std::string s;
  for (int i = 0; i < 8; ++i) s.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
  return s;
}

SafetensorsHeader parse(const std::string& bytes) {
  return safetensors_parse(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size(), "mem");
}

std::string f32_bytes(std::vector<float> v) { return pack_floats(v, "F32"); }

// A file whose header JSON is written by hand (independent of the writer).
std::string hand_file(const std::string& header_json, const std::string& data) {
  return u64le(header_json.size()) + header_json + data;
}

}  // namespace

TEST(Safetensors, WriterProducesTheExactSpecBytes) {
  // Expected bytes built by hand from the spec: compact JSON, __metadata__ first, tensors sorted by name,
  // header padded with spaces to a multiple of 8, offsets relative to the data start.
  std::vector<TensorData> t = {{"b", "F32", {2}, f32_bytes({3, 4})}, {"a", "BF16", {1, 2}, pack_floats({1, 2}, "BF16")}};
  std::string got = safetensors_serialize(t, {{"format", "pt"}});
  std::string header =
      R"({"__metadata__":{"format":"pt"},"a":{"dtype":"BF16","shape":[1,2],"data_offsets":[0,4]},)"
      R"("b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})";
  while (header.size() % 8) header += ' ';
  std::string expected = u64le(header.size()) + header;
  expected += std::string("\x80\x3f\x00\x40", 4);  // bf16 1.0 = 0x3F80, 2.0 = 0x4000 (little-endian)
  expected += f32_bytes({3, 4});
  EXPECT_EQ(got, expected);
  EXPECT_EQ((8 + header.size()) % 8, 0u);

  SafetensorsHeader h = parse(got);
  ASSERT_EQ(h.tensors.size(), 2u);
  EXPECT_EQ(h.metadata.at("format"), "pt");
  EXPECT_EQ(h.tensors[0].name, "a");
  EXPECT_EQ(h.tensors[1].shape, (std::vector<std::int64_t>{2}));
  EXPECT_EQ(h.tensors[1].begin, 4u);
  EXPECT_EQ(h.tensors[1].end, 12u);
}

TEST(Safetensors, ReadsAFileWrittenByHandAndViewsItsValues) {
  ecpo::test::TempDir dir;
  std::string hdr = R"({"w":{"dtype":"F16","shape":[3],"data_offsets":[0,6]}})";
  std::string data("\x00\x3c\x00\xc0\x00\x00", 6);  // f16 1.0, -2.0, 0.0
  ecpo::write_file_atomic(dir / "x.safetensors", hand_file(hdr, data));
  SafetensorsFile f(dir / "x.safetensors");
  TensorView v = f.get("w");
  EXPECT_EQ(view_to_f32(v), (std::vector<float>{1.0f, -2.0f, 0.0f}));
  EXPECT_THROW(f.get("missing"), ecpo::Error);
}

TEST(Safetensors, RejectsMalformedHeadersWithEcpoError) {
  const std::string ok = R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})";
  const std::string d8(8, '\0');
  EXPECT_NO_THROW(parse(hand_file(ok, d8)));
  std::vector<std::pair<std::string, std::string>> bad = {
      {"short file", "abc"},
      {"length past end", u64le(1000) + ok + d8},
      {"huge length", u64le(~0ull) + ok + d8},
      {"not json", hand_file("{not json", d8)},
      {"not an object", hand_file("[1,2]", d8)},
      {"unknown dtype", hand_file(R"({"a":{"dtype":"Q4","shape":[2],"data_offsets":[0,8]}})", d8)},
      {"size mismatch", hand_file(R"({"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", d8)},
      {"end past data", hand_file(R"({"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})", d8)},
      {"gap at start", hand_file(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})", d8)},
      {"trailing bytes", hand_file(ok, d8 + "xxxx")},
      {"overlap", hand_file(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})", d8)},
      {"negative dim", hand_file(R"({"a":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})", d8)},
      {"overflowing shape", hand_file(R"({"a":{"dtype":"F32","shape":[4294967296,4294967296,4],"data_offsets":[0,8]}})", d8)},
      {"begin > end", hand_file(R"({"a":{"dtype":"F32","shape":[0],"data_offsets":[8,0]}})", d8)},
      {"metadata not strings", hand_file(R"({"__metadata__":{"x":1},"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", d8)},
      {"missing offsets", hand_file(R"({"a":{"dtype":"F32","shape":[2]}})", d8)},
  };
  for (const auto& [what, bytes] : bad) EXPECT_THROW(parse(bytes), ecpo::Error) << what;
}

TEST(Safetensors, MutationCorpusNeverCrashes) {
  // A valid file with metadata and three tensors, then thousands of seeded mutations: byte flips, truncations,
  // length-field edits, header-byte substitutions. Each must parse or throw ecpo::Error.
  std::vector<TensorData> t = {{"model.a", "F32", {2, 3}, f32_bytes({1, 2, 3, 4, 5, 6})},
                               {"model.b", "BF16", {4}, pack_floats({1, 2, 3, 4}, "BF16")},
                               {"z", "F16", {0}, ""}};
  const std::string base = safetensors_serialize(t, {{"format", "pt"}});
  std::mt19937_64 rng(12345);
  const auto start = std::chrono::steady_clock::now();
  int parsed = 0, rejected = 0, n = 0;
  for (; n < 20000; ++n) {
    if (std::chrono::steady_clock::now() - start > std::chrono::seconds(2)) break;
    std::string m = base;
    const int kind = static_cast<int>(rng() % 5);
    if (kind == 0) {  // flip 1–4 random bits
      for (int k = 0, c = 1 + rng() % 4; k < c; ++k) m[rng() % m.size()] ^= static_cast<char>(1u << (rng() % 8));
    } else if (kind == 1) {  // truncate
      m.resize(rng() % m.size());
    } else if (kind == 2) {  // edit the length field
      std::uint64_t len = 0;
      std::memcpy(&len, m.data(), 8);
      const std::uint64_t choices[] = {0, 1, len - 1, len + 1, len + 8, len / 2, ~0ull, rng()};
      std::uint64_t v = choices[rng() % 8];
      std::memcpy(m.data(), &v, 8);
    } else if (kind == 3) {  // replace a header byte with a JSON-significant character
      const char js[] = "{}[]\",:0123456789-e. ";
      m[8 + rng() % (m.size() - 8)] = js[rng() % (sizeof js - 1)];
    } else {  // append garbage
      m += std::string(1 + rng() % 16, static_cast<char>(rng()));
    }
    try {
      SafetensorsHeader h = parse(m);
      // a file that parses must be self-consistent: every tensor inside the data region
      for (const auto& ti : h.tensors) ASSERT_LE(h.data_start() + ti.end, m.size());
      ++parsed;
    } catch (const ecpo::Error&) {
      ++rejected;
    }
  }
  EXPECT_GT(n, 1000);
  EXPECT_GT(rejected, n / 2);
  EXPECT_GT(parsed, 0);  // some mutations (e.g. flips inside tensor data) keep the file valid
}

TEST(Safetensors, ShardedDirectoryThroughIndex) {
  ecpo::test::TempDir dir;
  safetensors_write(dir / "model-00001-of-00002.safetensors", {{"x.weight", "F32", {1}, f32_bytes({7})}});
  safetensors_write(dir / "model-00002-of-00002.safetensors", {{"y.weight", "F32", {2}, f32_bytes({8, 9})}});
  ecpo::write_file_atomic(dir / "model.safetensors.index.json",
                          R"({"metadata":{"total_size":12},"weight_map":{"x.weight":"model-00001-of-00002.safetensors",)"
                          R"("y.weight":"model-00002-of-00002.safetensors"}})");
  WeightStore ws = WeightStore::open(dir.path());
  EXPECT_EQ(ws.names(), (std::vector<std::string>{"x.weight", "y.weight"}));
  EXPECT_EQ(view_to_f32(ws.get("y.weight")), (std::vector<float>{8, 9}));
  EXPECT_THROW(ws.get("z"), ecpo::Error);
  // an index that points a tensor at the wrong shard is rejected
  ecpo::write_file_atomic(dir / "model.safetensors.index.json",
                          R"({"weight_map":{"x.weight":"model-00002-of-00002.safetensors"}})");
  EXPECT_THROW(WeightStore::open(dir.path()), ecpo::Error);
}

TEST(Safetensors, HalfPrecisionConversions) {
  EXPECT_EQ(f32_to_bf16(1.0f), 0x3F80);
  EXPECT_EQ(f32_to_bf16(-2.0f), 0xC000);
  EXPECT_EQ(f32_to_bf16(0.1f), 0x3DCD);  // 0x3DCCCCCD rounds up
  EXPECT_EQ(bf16_to_f32(0x3F80), 1.0f);
  EXPECT_EQ(f32_to_f16(1.0f), 0x3C00);
  EXPECT_EQ(f32_to_f16(65504.0f), 0x7BFF);
  EXPECT_EQ(f32_to_f16(1e6f), 0x7C00);  // overflow → inf
  EXPECT_EQ(f32_to_f16(0.1f), 0x2E66);
  EXPECT_EQ(f16_to_f32(0x0001), std::ldexp(1.0f, -24));  // smallest subnormal
  EXPECT_EQ(f32_to_f16(std::ldexp(1.0f, -24)), 0x0001);
  for (float x : {0.5f, -3.25f, 1024.0f, 6.1035156e-05f}) EXPECT_EQ(f16_to_f32(f32_to_f16(x)), x);
}
