// Raw-dump importer (see import.h), in four streaming passes over bounded buffers:
//  1. reviews → sorter A keyed (user, timestamp, item) with (input order, rating, title, text), sorter B keyed
//     (item) with the input order, and a Bloom filter of the item ids;
//  2. meta → sorter C keyed (item id) with the item's items.jsonl row, for records the filter lets through;
//  3. B merged with C (both by item id): items.jsonl in id order (first meta record of an id wins), and a
//     bitmap (1 bit per review) of the reviews whose item has no meta record;
//  4. A merged in order: users.jsonl, skipping the bitmap's reviews; equal keys keep input order (the sorts
//     are stable), so rows are byte for byte those of the former in-memory sort by (user, time, item, order).
// With --min/--max-reviews, items.jsonl is written after pass 4 from the items of the users kept.
// Field rules (price, details, Python-literal attributes) live in raw-fields.h.
#include "data/import.h"

#include <algorithm>
#include <cmath>
#include <optional>

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "data/bloom-filter.h"
#include "data/external-sort.h"
#include "data/fast-json.h"
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

// The encoded user component at the front of a sort-A key (up to and including its terminator).
std::string_view user_part(std::string_view key) {
  for (std::size_t i = 0; i + 1 < key.size(); ++i)
    if (key[i] == 0 && key[i + 1] == '\x01') return key.substr(0, i + 2);
  throw Error("internal: corrupt sort key");
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
  if (o.min_reviews > o.max_reviews)
    throw Error("--min-reviews (" + std::to_string(o.min_reviews) + ") is above --max-reviews (" +
                    std::to_string(o.max_reviews) + ")",
                "--min-reviews");
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

  OutputDirGuard out_guard(o.out);
  SpillDir spill(o.tmp.empty() ? o.out : o.tmp, "import");
  const std::size_t m = std::max<std::size_t>(o.memory, 1u << 10);
  auto budget = [&](std::size_t bytes) { return SortOptions{bytes, o.fan_in, o.io_buffer}; };
  const bool filtering = o.filtering();

  // 1. Reviews → sorters A (by user) and B (by item), Bloom filter of item ids.
  ExternalSorter by_user(spill, "reviews", budget(m / 2));
  ExternalSorter by_item(spill, "review-items", budget(m / 8));
  BloomFilter reviewed(m / 16);
  std::uint64_t seq = 0;
  ReviewFields f;
  std::string line, parse_error, key, payload;
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
      key.clear();
      KeyWriter(key).str(f.user_id).i64(ts).str(*item);
      payload.clear();
      put_varint(payload, seq);
      put_double(payload, *f.rating);
      put_bytes(payload, f.title);
      payload += f.text;
      by_user.add(key, payload);
      key.clear();
      KeyWriter(key).str(*item);
      payload.clear();
      put_varint(payload, seq);
      by_item.add(key, payload);
      reviewed.add(*item);
      ++seq;
    }
    st.bytes_read += r.bytes_read();
  }

  // Spill what is buffered now (when runs exist) so that the meta pass has the memory.
  by_user.finish();
  by_item.finish();

  // 2. Meta → sorter C: the items.jsonl row of each record whose id some review may name. Every line is
  // validated and its id read by SAX; only the lines that pass the filter are parsed into a DOM.
  ExternalSorter meta_rows(spill, "meta", budget(m / 2));
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
      if (!reviewed.maybe_contains(id)) continue;
      if (!fast_parse_dom(line, v)) v = json::parse(line);  // valid: checked above
      key.clear();
      KeyWriter(key).str(id);
      meta_rows.add(key, to_json(amazon ? amazon_item(v, id, domain) : yelp_item(v, id, domain))
                             .dump(-1, ' ', false, json::error_handler_t::replace));
    }
    st.bytes_read += r.bytes_read();
  }

  // 3. Join B with C by item id. Items go to items.jsonl now, or (when filtering users) to a candidates
  // file that pass 5 narrows to the items of the users kept.
  std::vector<std::uint64_t> skip((seq + 63) / 64, 0);
  std::optional<JsonlWriter> items_out;
  std::optional<RunWriter> candidates;
  if (filtering) candidates.emplace(spill.new_file("candidates"), o.io_buffer);
  else items_out.emplace(o.out / "items.jsonl");
  {
    std::string_view ik, ip, mk, mp;
    bool have_meta = meta_rows.next(mk, mp);
    bool have_item = by_item.next(ik, ip);
    std::string current;
    while (have_item) {
      current.assign(ik);
      while (have_meta && mk < std::string_view(current)) have_meta = meta_rows.next(mk, mp);
      const bool found = have_meta && mk == std::string_view(current);
      if (found) {
        if (candidates) candidates->add(current, mp);
        else items_out->write_line(mp);
        ++st.items;
        while (have_meta && mk == std::string_view(current)) have_meta = meta_rows.next(mk, mp);  // first wins
      }
      for (; have_item && ik == std::string_view(current); have_item = by_item.next(ik, ip)) {
        if (found) continue;
        const std::uint64_t s = Cursor(ip).varint();
        skip[s / 64] |= 1ull << (s % 64);
        ++st.skipped_reviews;
      }
    }
  }
  if (candidates) candidates->close();

  // 4. users.jsonl in (user, timestamp, item, input order): rows are written as text, the same bytes as
  // to_json(User), with no DOM per review.
  JsonlWriter users_out(o.out / "users.jsonl");
  std::optional<ExternalSorter> used_items;
  if (filtering) used_items.emplace(spill, "used-items", budget(m / 4));
  {
    std::string_view k, p;
    bool have = by_user.next(k, p);
    std::string user_key, user_scratch, item_scratch;
    std::vector<std::string> user_items;
    while (have) {
      user_key.assign(user_part(k));
      std::string user_id(KeyReader(user_key).str(user_scratch));
      line.clear();
      line += "{\"reviews\":[";
      std::uint64_t count = 0;
      user_items.clear();
      for (; have && k.substr(0, std::min(k.size(), user_key.size())) == std::string_view(user_key);
           have = by_user.next(k, p)) {
        Cursor c(p);
        const std::uint64_t s = c.varint();
        if ((skip[s / 64] >> (s % 64)) & 1) continue;
        ++count;
        if (filtering && count > o.max_reviews) continue;  // dropped anyway: stop building the row
        KeyReader kr(k);
        kr.str(user_scratch);
        const std::int64_t ts = kr.i64();
        const std::string_view item = kr.str(item_scratch);
        const double rating = c.f64();
        const std::string_view title = c.bytes();
        const std::string_view text = p.substr(c.position());
        if (count > 1) line += ',';
        line += "{\"item_id\":";
        append_json_string(line, item);
        line += ",\"rating\":";
        append_json_double(line, rating);
        line += ",\"text\":";
        append_json_string(line, text);
        line += ",\"timestamp\":";
        append_json_int(line, ts);
        line += ",\"title\":";
        append_json_string(line, title);
        line += '}';
        if (filtering) user_items.emplace_back(item);
      }
      if (count == 0) continue;
      if (count < o.min_reviews || count > o.max_reviews) {
        ++st.dropped_users;
        st.dropped_reviews += count;
        continue;
      }
      line += "],\"user_id\":";
      append_json_string(line, user_id);
      line += '}';
      users_out.write_line(line);
      ++st.users;
      st.reviews += count;
      for (const auto& it : user_items) {
        key.clear();
        KeyWriter(key).str(it);
        used_items->add(key);
      }
    }
  }

  // 5. (filtering) items.jsonl: the candidates some kept user reviewed, in id order.
  if (filtering) {
    items_out.emplace(o.out / "items.jsonl");
    st.items = 0;
    RunReader cand(candidates->path(), o.io_buffer);
    bool have_cand = cand.next();
    std::string_view uk, up;
    std::string last;
    bool any = false;
    while (used_items->next(uk, up)) {
      if (any && uk == std::string_view(last)) continue;
      last.assign(uk);
      any = true;
      while (have_cand && cand.key() < uk) have_cand = cand.next();
      if (have_cand && cand.key() == uk) {
        items_out->write_line(cand.payload());
        ++st.items;
      }
    }
  }
  st.sort_runs = by_user.runs_written() + by_item.runs_written() + meta_rows.runs_written() +
                 (used_items ? used_items->runs_written() : 0);

  json manifest = {{"source", o.source}, {"strict", o.strict}, {"reviews", json::array()}, {"meta", json::array()},
                   {"counts", {{"users", st.users}, {"reviews", st.reviews}, {"items", st.items},
                               {"skipped_reviews", st.skipped_reviews}, {"bad_lines", st.bad_lines},
                               {"review_records", st.review_lines}, {"meta_records", st.meta_records}}}};
  if (filtering) {
    manifest["min_reviews"] = o.min_reviews;
    if (o.max_reviews != std::numeric_limits<std::size_t>::max()) manifest["max_reviews"] = o.max_reviews;
    manifest["counts"]["dropped_users"] = st.dropped_users;
    manifest["counts"]["dropped_reviews"] = st.dropped_reviews;
  }
  for (const auto& p : o.reviews) manifest["reviews"].push_back(p.string());
  for (const auto& p : o.meta) manifest["meta"].push_back(p.string());
  items_out->commit();
  users_out.commit();
  write_json_file(o.out / "import.json", manifest);
  out_guard.done();
  return st;
}

std::string import_summary(const ImportStats& s, const ImportOptions& o) {
  std::string out = "users " + std::to_string(s.users) + ", reviews " + std::to_string(s.reviews) + ", items " +
                    std::to_string(s.items) + ", skipped " + std::to_string(s.skipped_reviews) +
                    " (item not in meta), bad lines " + std::to_string(s.bad_lines);
  if (o.filtering()) {
    const bool no_max = o.max_reviews == std::numeric_limits<std::size_t>::max();
    out += "; dropped " + std::to_string(s.dropped_users) + " users with fewer than " + std::to_string(o.min_reviews) +
           (no_max ? std::string() : " or more than " + std::to_string(o.max_reviews)) + " reviews (" +
           std::to_string(s.dropped_reviews) + " reviews)";
  }
  return out;
}

}  // namespace ecpo::data
