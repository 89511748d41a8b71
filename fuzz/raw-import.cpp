// Fuzz target: raw review dumps through the importer (data/import.h), Amazon-2023 or Yelp (first byte 'Y'):
// the input up to the first NUL byte is the reviews file, the rest the metadata / business file. Each line
// also goes through the per-line field decoders (data/review-fields.h, data/raw-fields.h) directly. A bad line
// is skipped and counted; only ecpo::Error may escape.
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include <spdlog/spdlog.h>

#include "data/import.h"
#include "data/raw-fields.h"
#include "data/review-fields.h"
#include "fuzz-support.h"
#include "util/json-read.h"

namespace fs = std::filesystem;

namespace {

fs::path work_dir() {
  static const fs::path dir = [] {
    std::string t = (fs::temp_directory_path() / "ecpo-fuzz-raw-XXXXXX").string();
    if (!::mkdtemp(t.data())) std::abort();
    return fs::path(t);
  }();
  return dir;
}

void write(const fs::path& p, std::string_view bytes) {
  std::ofstream(p, std::ios::binary | std::ios::trunc).write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

void decode_lines(std::string_view file, bool amazon) {
  for (std::size_t b = 0; b < file.size();) {
    std::size_t e = file.find('\n', b);
    if (e == std::string_view::npos) e = file.size();
    std::string_view line = file.substr(b, e - b);
    b = e + 1;
    ecpo::data::ReviewFields f;
    std::string err, value;
    bool is_object = false;
    (void)ecpo::data::parse_review_fields(line, amazon, f, err);
    if (f.has_date) (void)ecpo::data::parse_utc_datetime(f.date);
    (void)ecpo::data::peek_string_field(line, amazon ? "parent_asin" : "business_id", is_object, value, err);
    auto j = nlohmann::json::parse(line.begin(), line.end(), nullptr, false);
    if (!j.is_object()) continue;
    if (auto p = j.find("price"); p != j.end()) (void)ecpo::data::parse_price(*p);
    if (auto d = j.find("details"); d != j.end()) (void)ecpo::data::parse_details(*d);
    if (auto a = j.find("attributes"); a != j.end() && a->is_object())
      for (const auto& v : *a)
        if (v.is_string()) (void)ecpo::data::parse_python_literal(v.get_ref<const std::string&>());
  }
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  spdlog::set_level(spdlog::level::off);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view all = ecpo::fuzz::text(data, size);
  const bool yelp = !all.empty() && all[0] == 'Y';
  const std::size_t cut = all.find('\0');
  std::string_view reviews = all.substr(0, cut), meta = cut == std::string_view::npos ? "" : all.substr(cut + 1);
  decode_lines(reviews, !yelp);
  decode_lines(meta, !yelp);
  const fs::path dir = work_dir();
  ecpo::data::ImportOptions o;
  o.source = yelp ? "yelp" : "amazon2023";
  o.reviews = {dir / (yelp ? "yelp_academic_dataset_review.json" : "Video_Games.jsonl")};
  o.meta = {dir / (yelp ? "yelp_academic_dataset_business.json" : "meta_Video_Games.jsonl")};
  o.out = dir / "out";
  o.on_bad = [](const ecpo::Error&) {};
  write(o.reviews[0], reviews);
  write(o.meta[0], meta);
  ecpo::fuzz::located_or_abort([&] { (void)ecpo::data::import_raw(o); });
  return 0;
}
