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

// Runs every case (with `extra` appended to each command line) and compares with the goldens.
void check_all(const std::string& extra) {
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
    std::string cmd;
    for (const auto& w : expand(c.args, work.path(), c.name)) cmd += quoted(w) + " ";
    auto r = ecpo::test::run_ecpo(cmd + extra);
    ASSERT_EQ(r.exit_code, 0) << r.out;
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
