// `data import` and `tasks build` reproduce, byte for byte, the outputs the pre-issue-#15 in-memory code
// wrote for every case of tests/assets/data/golden/cases.tsv (fixtures, frozen synthetic data, the shared
// real samples): each output file's sha256 and size (digests.tsv), the set of files, and the manifest counts
// (counts.json), all made by make-goldens.sh with that code. The cases run through the ecpo binary, once
// with the default memory budget and once with a tiny one that forces many sorted runs and multi-pass merges.
#include <openssl/evp.h>

#include <algorithm>
#include <map>
#include <regex>
#include <set>
#include <sstream>

#include <gtest/gtest.h>

#include "data-test-util.h"
#include "data/import.h"
#include "data/tasks.h"
#include "test-support.h"
#include "util/fs.h"
#include "util/jsonl.h"
#include "util/text.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

const fs::path kGolden = fs::path(ECPO_TEST_ASSETS) / "data" / "golden";

struct Case {
  std::string name, needs, args;
};

std::vector<Case> read_cases() {
  std::vector<Case> out;
  ecpo::LineReader r(kGolden / "cases.tsv");
  std::string line;
  while (r.next(line)) {
    if (line.empty() || line[0] == '#') continue;
    auto cols = ecpo::split(line, '\t');
    if (cols.size() != 3) throw std::runtime_error("cases.tsv:" + std::to_string(r.line_number()) + ": 3 columns");
    out.push_back({cols[0], cols[1], cols[2]});
  }
  return out;
}

struct Digest {
  std::string sha256;
  std::uint64_t bytes = 0;
};
// case → file → digest
std::map<std::string, std::map<std::string, Digest>> read_digests() {
  std::map<std::string, std::map<std::string, Digest>> out;
  ecpo::LineReader r(kGolden / "digests.tsv");
  std::string line;
  while (r.next(line)) {
    if (line.empty() || line[0] == '#') continue;
    auto cols = ecpo::split(line, '\t');
    out[cols.at(0)][cols.at(1)] = {cols.at(2), std::stoull(cols.at(3))};
  }
  return out;
}

std::string sha256_hex(const std::string& s) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  EVP_Digest(s.data(), s.size(), md, &n, EVP_sha256(), nullptr);
  static const char* hex = "0123456789abcdef";
  std::string out;
  for (unsigned i = 0; i < n; ++i) out += {hex[md[i] >> 4], hex[md[i] & 15]};
  return out;
}

std::string quoted(const std::string& s) { return "'" + s + "'"; }

std::vector<std::string> category_files(const std::string& prefix) {
  std::vector<std::string> names;
  for (const auto& f : fs::directory_iterator(ecpo::test::shared_data() / "amazon2023_raw_sample")) {
    std::string n = f.path().filename().string();
    if (!n.empty() && n[0] >= 'A' && n[0] <= 'Z' && ecpo::ends_with(n, ".jsonl")) names.push_back(n);
  }
  std::sort(names.begin(), names.end());
  for (auto& n : names) n = (ecpo::test::shared_data() / "amazon2023_raw_sample" / (prefix + n)).string();
  return names;
}

// The case's arguments as separate words, placeholders filled in.
std::vector<std::string> expand(const std::string& args, const fs::path& work, const std::string& name) {
  std::vector<std::string> out;
  for (std::string w : ecpo::split(args, ' ')) {
    if (w == "{cats-reviews}" || w == "{cats-meta}") {
      for (auto& f : category_files(w == "{cats-meta}" ? "meta_" : "")) out.push_back(f);
      continue;
    }
    auto replace = [&](const std::string& from, const std::string& to) {
      if (std::size_t i = w.find(from); i != std::string::npos) w.replace(i, from.size(), to);
    };
    replace("{assets}", fs::path(ECPO_TEST_ASSETS).string() + "/data");
    replace("{shared}", ecpo::test::shared_data().string());
    replace("{out}", (work / name).string());
    std::smatch m;
    if (std::regex_search(w, m, std::regex(R"(\{case:([a-z0-9-]+)\})")))
      w.replace(static_cast<std::size_t>(m.position(0)), static_cast<std::size_t>(m.length(0)), (work / m[1].str()).string());
    out.push_back(w);
  }
  return out;
}

// The golden file's text, when the case keeps a copy (cases without shared data).
std::string golden_text(const std::string& name, const std::string& file) {
  fs::path gz = kGolden / name / (file + ".gz");
  if (!fs::exists(gz)) return {};
  std::string text, line;
  ecpo::LineReader r(gz);
  while (r.next(line)) text += line + "\n";
  return text;
}

std::string first_difference(const std::string& got, const std::string& want) {
  std::istringstream a(got), b(want);
  std::string x, y;
  for (int line = 1;; ++line) {
    bool ha = static_cast<bool>(std::getline(a, x)), hb = static_cast<bool>(std::getline(b, y));
    if (!ha && !hb) return "no line differs (trailing bytes?)";
    if (x != y || ha != hb)
      return "first difference at line " + std::to_string(line) + ":\n  got:  " + (ha ? x : "<eof>") +
             "\n  want: " + (hb ? y : "<eof>");
  }
}

// Runs one case in this process through the library, with the sort limits given (the CLI's flags mapped
// by hand: the cases use only those below). Returns the number of sort runs written.
std::uint64_t run_in_process(const std::vector<std::string>& words, std::size_t memory, std::size_t fan_in) {
  using namespace ecpo::data;
  const bool import = words.at(0) == "data";
  ImportOptions io;
  TaskBuildOptions to;
  io.on_bad = [](const ecpo::Error&) {};
  io.memory = to.memory = memory;
  io.fan_in = to.fan_in = fan_in;
  io.io_buffer = to.io_buffer = 4096;
  std::vector<std::filesystem::path>* list = nullptr;
  for (std::size_t i = 2; i < words.size(); ++i) {
    const std::string& w = words[i];
    auto value = [&] { return words.at(++i); };
    if (w.rfind("--", 0) == 0) list = nullptr;
    if (w == "--source") io.source = value();
    else if (w == "--strict") io.strict = true;
    else if (w == "--reviews") list = &io.reviews;
    else if (w == "--meta") list = &io.meta;
    else if (w == "--out") io.out = to.out = value();
    else if (w == "--data") to.data = value();
    else if (w == "--min-reviews") to.min_reviews = std::stoul(value());
    else if (w == "--max-reviews") to.max_reviews = std::stoul(value());
    else if (w == "--min-rating") to.min_rating = std::stod(value());
    else if (w == "--test-rule") to.test_rule = value();
    else if (w == "--seed") to.seed = std::stoull(value());
    else if (list) list->push_back(w);
    else throw std::runtime_error("golden-test: unmapped argument " + w);
  }
  return import ? import_raw(io).sort_runs : build_tasks(to).sort_runs;
}

// Runs every case (through the binary with `extra` appended, or in process with tiny sort limits when
// `tiny` is set) and compares with the goldens.
void check_all(const std::string& extra, bool tiny = false) {
  const auto cases = read_cases();
  const auto digests = read_digests();
  ASSERT_GE(cases.size(), 20u);
  ecpo::test::TempDir work;
  std::size_t ran = 0;
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    if (c.needs != "-" && !fs::exists(ecpo::test::shared_data() / c.needs)) {
      std::printf("[ skip     ] %s: shared data %s is absent\n", c.name.c_str(), c.needs.c_str());
      continue;
    }
    const auto words = expand(c.args, work.path(), c.name);
    if (tiny) {
      // 3-way merges and 16 KiB of buffers (2 KiB for the hand-written fixtures, a few records per run):
      // every case but the five-line fixtures spills runs and merges them in passes.
      const bool small = c.needs == "-" && !ecpo::starts_with(c.name, "synth-");
      const std::uint64_t runs = run_in_process(words, small ? 2u << 10 : 16u << 10, 3);
      std::printf("[ runs     ] %s: %llu sort runs written\n", c.name.c_str(), static_cast<unsigned long long>(runs));
      if (!ecpo::starts_with(c.name, "fixture-")) {
        EXPECT_GE(runs, 4u);
      }
    } else {
      std::string cmd;
      for (const auto& w : words) cmd += quoted(w) + " ";
      auto r = ecpo::test::run_ecpo(cmd + extra);
      ASSERT_EQ(r.exit_code, 0) << r.out;
    }
    ++ran;
    const fs::path out = work / c.name;
    std::set<std::string> files;
    for (const auto& f : fs::directory_iterator(out))
      if (ecpo::ends_with(f.path().filename().string(), ".jsonl")) files.insert(f.path().filename().string());
    ASSERT_TRUE(digests.count(c.name)) << "no golden digests for " << c.name;
    std::set<std::string> want_files;
    for (const auto& [f, d] : digests.at(c.name)) want_files.insert(f);
    EXPECT_EQ(files, want_files);
    for (const auto& [f, d] : digests.at(c.name)) {
      if (!files.count(f)) continue;
      std::string got = ecpo::read_file(out / f);
      if (sha256_hex(got) == d.sha256 && got.size() == d.bytes) continue;
      std::string want = golden_text(c.name, f);
      ADD_FAILURE() << c.name << "/" << f << " differs from the golden (" << got.size() << " bytes, want " << d.bytes
                    << ")\n" << (want.empty() ? std::string("(no golden copy kept)") : first_difference(got, want));
    }
    fs::path manifest = fs::exists(out / "tasks.json") ? out / "tasks.json" : out / "import.json";
    json counts = ecpo::read_json_file(manifest)["counts"];
    EXPECT_EQ(counts, ecpo::read_json_file(kGolden / c.name / "counts.json")) << manifest;
  }
  EXPECT_GE(ran, 17u);  // every case that needs no shared data
  // Nothing but the outputs is left behind: no temp files, no spill folders.
  for (const auto& e : fs::recursive_directory_iterator(work.path())) {
    if (e.is_directory()) EXPECT_EQ(e.path().parent_path(), work.path()) << "left behind: " << e.path();
    else EXPECT_TRUE(e.path().extension() == ".jsonl" || e.path().extension() == ".json") << "left behind: " << e.path();
  }
}

}  // namespace

TEST(Golden, OutputsMatchThePreviousImplementation) { check_all(""); }

TEST(Golden, TinyMemoryManyRunsSameBytes) { check_all("", /*tiny=*/true); }
