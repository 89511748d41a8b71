// Raw-dump importer (see import.h). Memory: one compact record per review (ids interned to 32-bit
// indexes, title and text in a chunked text arena) plus the needed meta items; the raw JSON objects are
// dropped line by line. Field rules (price, details, Python-literal attributes) live in raw-fields.h.
#include "data/import.h"

#include <algorithm>
#include <cmath>
#include <memory>
#include <numeric>
#include <unordered_map>

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "data/raw-fields.h"
#include "data/review-fields.h"
#include "data/types.h"
#include "util/fs.h"
#include "util/json-text.h"
#include "util/jsonl.h"
#include "util/text.h"

namespace fs = std::filesystem;

namespace ecpo::data {

using json = nlohmann::json;

namespace {

// Append-only store of short strings in 8 MiB chunks (no reallocation copies, no per-string header).
class TextArena {
 public:
  struct Ref {
    std::uint32_t chunk = 0, offset = 0, size = 0;
  };
  Ref add(std::string_view s) {
    constexpr std::size_t kChunk = 8u << 20;
    if (chunks_.empty() || used_ + s.size() > cap_) {
      cap_ = std::max(kChunk, s.size());
      chunks_.push_back(std::make_unique<char[]>(cap_));
      used_ = 0;
    }
    Ref r{static_cast<std::uint32_t>(chunks_.size() - 1), static_cast<std::uint32_t>(used_),
          static_cast<std::uint32_t>(s.size())};
    std::copy(s.begin(), s.end(), chunks_.back().get() + used_);
    used_ += s.size();
    return r;
  }
  std::string_view get(Ref r) const { return {chunks_[r.chunk].get() + r.offset, r.size}; }

 private:
  std::vector<std::unique_ptr<char[]>> chunks_;
  std::size_t used_ = 0, cap_ = 0;
};

class Interner {
 public:
  std::uint32_t id(const std::string& s) {
    auto [it, fresh] = index_.try_emplace(s, static_cast<std::uint32_t>(names_.size()));
    if (fresh) names_.push_back(s);
    return it->second;
  }
  const std::uint32_t* find(const std::string& s) const {
    auto it = index_.find(s);
    return it == index_.end() ? nullptr : &it->second;
  }
  const std::string& name(std::uint32_t i) const { return names_[i]; }
  std::size_t size() const { return names_.size(); }

 private:
  std::unordered_map<std::string, std::uint32_t> index_;
  std::vector<std::string> names_;
};

struct CompactReview {
  std::uint32_t user, item;
  double rating;
  std::int64_t timestamp;
  std::uint64_t seq;  // input order, the last tie-breaker
  TextArena::Ref title, text;
};

const std::string* get_string(const json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? &it->get_ref<const std::string&>() : nullptr;
}

std::optional<double> get_number(const json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end()) return std::nullopt;
  if (it->is_number()) return it->get<double>();
  if (it->is_string()) {
    const std::string& s = it->get_ref<const std::string&>();
    char* end = nullptr;
    double d = std::strtod(s.c_str(), &end);
    if (!s.empty() && end == s.c_str() + s.size() && std::isfinite(d)) return d;
  }
  return std::nullopt;
}

std::optional<std::int64_t> get_int(const json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end()) return std::nullopt;
  if (it->is_number_integer()) return it->get<std::int64_t>();
  if (it->is_number_float()) {
    double d = it->get<double>();  // beyond int64 the conversion would be undefined
    if (!(std::abs(d) < 9.2e18)) return std::nullopt;
    return static_cast<std::int64_t>(d);
  }
  if (it->is_string()) {
    const std::string& s = it->get_ref<const std::string&>();
    char* end = nullptr;
    long long v = std::strtoll(s.c_str(), &end, 10);
    if (!s.empty() && end == s.c_str() + s.size()) return v;
  }
  return std::nullopt;
}

std::vector<std::string> string_array(const json& j, const char* key) {
  std::vector<std::string> out;
  auto it = j.find(key);
  if (it == j.end() || !it->is_array()) return out;
  for (const auto& v : *it)
    if (v.is_string() && !trim(v.get_ref<const std::string&>()).empty()) out.push_back(trim(v.get<std::string>()));
  return out;
}

Item amazon_item(const json& j, const std::string& id, const std::string& domain) {
  Item it;
  it.item_id = id;
  if (const std::string* t = get_string(j, "title")) it.title = collapse_whitespace(*t);
  it.categories = string_array(j, "categories");
  const std::string* main = get_string(j, "main_category");
  if (it.categories.empty() && main && !trim(*main).empty()) it.categories.push_back(trim(*main));
  it.description = collapse_whitespace(join(string_array(j, "description"), " "));
  std::vector<std::string> features = string_array(j, "features");
  if (!features.empty())
    it.description += (it.description.empty() ? "" : " ") + std::string("Features: ") + join(features, "; ") + ".";
  if (auto p = j.find("price"); p != j.end()) it.price = parse_price(*p);
  json attrs = parse_details(j.contains("details") ? j["details"] : json());
  if (main) attrs["main_category"] = *main;
  if (const std::string* s = get_string(j, "store")) attrs["store"] = *s;
  if (auto v = get_number(j, "average_rating")) attrs["average_rating"] = *v;
  if (auto v = get_int(j, "rating_number")) attrs["rating_number"] = *v;
  it.attributes = std::move(attrs);
  it.domain = domain;
  return it;
}

Item yelp_item(const json& j, const std::string& id, const std::string& domain) {
  Item it;
  it.item_id = id;
  if (const std::string* t = get_string(j, "name")) it.title = collapse_whitespace(*t);
  if (auto c = j.find("categories"); c != j.end()) {
    if (c->is_string()) {
      for (const auto& part : split(c->get_ref<const std::string&>(), ','))
        if (auto s = trim(part); !s.empty()) it.categories.push_back(s);
    } else if (c->is_array()) {
      it.categories = string_array(j, "categories");
    }
  }
  json attrs = json::object();
  if (auto a = j.find("attributes"); a != j.end() && a->is_object())
    for (auto kv = a->begin(); kv != a->end(); ++kv)
      attrs[kv.key()] = kv->is_string() ? parse_python_literal(kv->get_ref<const std::string&>()) : *kv;
  for (const char* key : {"address", "city", "state", "postal_code"})
    if (const std::string* s = get_string(j, key)) attrs[key] = *s;
  for (const char* key : {"latitude", "longitude", "stars"})
    if (auto v = get_number(j, key)) attrs[key] = *v;
  for (const char* key : {"review_count", "is_open"})
    if (auto v = get_int(j, key)) attrs[key] = *v;
  if (auto h = j.find("hours"); h != j.end() && h->is_object()) attrs["hours"] = *h;
  it.attributes = std::move(attrs);
  it.domain = domain;
  return it;
}

}  // namespace

ImportStats import_raw(const ImportOptions& o) {
  const bool amazon = o.source == "amazon2023";
  if (!amazon && o.source != "yelp")
    throw Error("unknown source '" + o.source + "'", "--source", "use amazon2023 or yelp");
  if (o.reviews.empty()) throw Error("no review file given", "--reviews", "pass --reviews FILE");
  if (o.meta.empty())
    throw Error("no meta file given", "--meta",
                amazon ? "pass --meta meta_<Category>.jsonl" : "pass --meta yelp_academic_dataset_business.json");
  if (o.out.empty()) throw Error("no output directory", "--out", "pass --out DIR");
  for (const auto& p : o.reviews) require_exists(p, "review file", "check --reviews (plain or .gz)");
  for (const auto& p : o.meta) require_exists(p, "meta file", "check --meta (plain or .gz)");

  ImportStats st;
  constexpr std::uint64_t kMaxWarnings = 20;
  auto report = [&](const Error& e) {
    ++st.bad_lines;
    if (o.on_bad) o.on_bad(e);
    else if (st.bad_lines <= kMaxWarnings) spdlog::warn("skipped {}", e.what());
    else if (st.bad_lines == kMaxWarnings + 1) spdlog::warn("further bad lines are counted but not shown");
  };
  auto bad_record = [&](const std::string& what, const std::string& where) {
    Error e(what, where, o.strict ? "fix or remove the record, or run without --strict to skip it" : "");
    if (o.strict) throw e;
    report(e);
  };

  // 1. Reviews → compact records.
  Interner users, items;
  TextArena text;
  std::vector<CompactReview> reviews;
  ReviewFields f;
  std::string line, parse_error;
  for (const auto& path : o.reviews) {
    LineReader r(path);
    while (r.next(line)) {
      if (line.find_first_not_of(" \t") == std::string::npos) continue;
      auto where = [&] { return error_location(path.string(), r.line_number()); };
      if (!parse_review_fields(line, amazon, f, parse_error)) {
        bad_record("malformed JSON line: " + parse_error, where());
        continue;
      }
      ++st.review_lines;
      if (!f.is_object) {
        bad_record("review line is not a JSON object", where());
        continue;
      }
      const std::string* item = f.has_item && !f.item_id.empty() ? &f.item_id
                                : f.has_asin && !f.asin.empty()  ? &f.asin
                                                                 : nullptr;
      std::int64_t ts = 0;
      bool has_ts = false;
      if (amazon && f.timestamp) ts = *f.timestamp, has_ts = true;
      if (!amazon && f.has_date)
        if (auto d = parse_utc_datetime(f.date)) ts = *d, has_ts = true;
      const char* missing = !f.has_user || f.user_id.empty() ? "user_id"
                            : !item ? (amazon ? "parent_asin" : "business_id")
                            : !f.rating ? (amazon ? "rating" : "stars")
                            : !has_ts ? (amazon ? "timestamp" : "date (YYYY-MM-DD HH:MM:SS)")
                                  : nullptr;
      if (missing) {
        bad_record(std::string("review record lacks a valid '") + missing + "'", where());
        continue;
      }
      CompactReview cr;
      cr.user = users.id(f.user_id);
      cr.item = items.id(*item);
      cr.rating = *f.rating;
      cr.timestamp = ts;
      cr.seq = reviews.size();
      cr.title = text.add(f.title);
      cr.text = text.add(f.text);
      reviews.push_back(cr);
    }
    st.bytes_read += r.bytes_read();
  }

  // 2. Meta → the items the reviews name (first record wins on a duplicate id). Every line is validated
  // and its id read by SAX; only the lines of needed items are parsed into a DOM.
  std::vector<std::optional<Item>> catalogue(items.size());
  const char* id_key = amazon ? "parent_asin" : "business_id";
  std::string id;
  bool is_object = false;
  json v;
  for (const auto& path : o.meta) {
    std::string domain = o.domain;
    if (domain.empty()) domain = amazon ? domain_for_category(category_from_path(path.string())) : "yelp";
    LineReader r(path);
    while (r.next(line)) {
      if (line.find_first_not_of(" \t") == std::string::npos) continue;
      auto where = [&] { return error_location(path.string(), r.line_number()); };
      if (!peek_string_field(line, id_key, is_object, id, parse_error)) {
        bad_record("malformed JSON line: " + parse_error, where());
        continue;
      }
      ++st.meta_records;
      if (!is_object || id.empty()) {
        bad_record(std::string("meta record lacks '") + id_key + "'", where());
        continue;
      }
      const std::uint32_t* idx = items.find(id);
      if (!idx || catalogue[*idx]) continue;
      v = json::parse(line);  // valid: checked above
      catalogue[*idx] = amazon ? amazon_item(v, id, domain) : yelp_item(v, id, domain);
    }
    st.bytes_read += r.bytes_read();
  }

  // 3. Join and order: users by id, each user's reviews by (timestamp, item id, input order).
  std::vector<std::uint32_t> user_order(users.size());
  std::iota(user_order.begin(), user_order.end(), 0u);
  std::sort(user_order.begin(), user_order.end(),
            [&](std::uint32_t a, std::uint32_t b) { return users.name(a) < users.name(b); });
  std::vector<std::uint32_t> rank(users.size());
  for (std::uint32_t i = 0; i < user_order.size(); ++i) rank[user_order[i]] = i;
  std::vector<std::uint32_t> order;
  order.reserve(reviews.size());
  std::vector<char> item_used(items.size(), 0);
  for (std::uint32_t i = 0; i < reviews.size(); ++i) {
    if (!catalogue[reviews[i].item]) {
      ++st.skipped_reviews;
      continue;
    }
    item_used[reviews[i].item] = 1;
    order.push_back(i);
  }
  std::sort(order.begin(), order.end(), [&](std::uint32_t a, std::uint32_t b) {
    const CompactReview &x = reviews[a], &y = reviews[b];
    if (x.user != y.user) return rank[x.user] < rank[y.user];
    if (x.timestamp != y.timestamp) return x.timestamp < y.timestamp;
    if (x.item != y.item) return items.name(x.item) < items.name(y.item);
    return x.seq < y.seq;
  });

  // 4. Write both files to temps; rename only when everything has been written.
  JsonlWriter items_out(o.out / "items.jsonl");
  JsonlWriter users_out(o.out / "users.jsonl");
  std::vector<std::uint32_t> item_order;
  for (std::uint32_t i = 0; i < items.size(); ++i)
    if (item_used[i]) item_order.push_back(i);
  std::sort(item_order.begin(), item_order.end(),
            [&](std::uint32_t a, std::uint32_t b) { return items.name(a) < items.name(b); });
  for (std::uint32_t i : item_order) items_out.write(to_json(*catalogue[i]));
  st.items = item_order.size();

  line.clear();  // users.jsonl rows are written as text: same bytes as to_json(User), no DOM per review
  for (std::size_t k = 0; k < order.size();) {
    const std::uint32_t u = reviews[order[k]].user;
    line.clear();
    line += "{\"reviews\":[";
    for (bool first = true; k < order.size() && reviews[order[k]].user == u; ++k, first = false) {
      const CompactReview& cr = reviews[order[k]];
      if (!first) line += ',';
      line += "{\"item_id\":";
      append_json_string(line, items.name(cr.item));
      line += ",\"rating\":";
      append_json_double(line, cr.rating);
      line += ",\"text\":";
      append_json_string(line, text.get(cr.text));
      line += ",\"timestamp\":";
      append_json_int(line, cr.timestamp);
      line += ",\"title\":";
      append_json_string(line, text.get(cr.title));
      line += '}';
      ++st.reviews;
    }
    line += "],\"user_id\":";
    append_json_string(line, users.name(u));
    line += '}';
    users_out.write_line(line);
    ++st.users;
  }

  json manifest = {{"source", o.source}, {"strict", o.strict}, {"reviews", json::array()}, {"meta", json::array()},
                   {"counts", {{"users", st.users}, {"reviews", st.reviews}, {"items", st.items},
                               {"skipped_reviews", st.skipped_reviews}, {"bad_lines", st.bad_lines},
                               {"review_records", st.review_lines}, {"meta_records", st.meta_records}}}};
  for (const auto& p : o.reviews) manifest["reviews"].push_back(p.string());
  for (const auto& p : o.meta) manifest["meta"].push_back(p.string());
  items_out.commit();
  users_out.commit();
  write_json_file(o.out / "import.json", manifest);
  return st;
}

std::string import_summary(const ImportStats& s) {
  return "users " + std::to_string(s.users) + ", reviews " + std::to_string(s.reviews) + ", items " +
         std::to_string(s.items) + ", skipped " + std::to_string(s.skipped_reviews) + " (item not in meta), bad lines " +
         std::to_string(s.bad_lines);
}

}  // namespace ecpo::data
