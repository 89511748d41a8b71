// The synthetic raw-data writer (see synth.h). Items are generated first (held in memory), then each
// user's reviews are generated and streamed out while per-item rating sums accumulate; the meta/business
// file, which carries those averages, is written last. Every user and the catalogue draw from their own
// seeded stream, so a user's reviews do not depend on how many users come before.
#include "data/synth.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include <nlohmann/json.hpp>

#include "data/raw-fields.h"
#include "util/rng.h"
#include "util/config.h"
#include "util/error.h"
#include "util/fs.h"
#include "util/json-text.h"
#include "util/json-read.h"
#include "util/jsonl.h"
#include "util/resources.h"
#include "util/text.h"

namespace fs = std::filesystem;

namespace ecpo::data {

using json = nlohmann::json;
using ojson = nlohmann::ordered_json;

namespace {

using Lists = std::unordered_map<std::string, std::vector<std::string>>;

std::string scalar_text(const json& v) { return v.is_string() ? v.get<std::string>() : v.dump(); }

std::vector<std::string> string_list(const json& t, const char* key, const std::string& origin, bool required) {
  std::vector<std::string> out;
  auto it = t.find(key);
  if (it == t.end() || it->is_null()) {
    if (required) throw Error(std::string("template lacks list '") + key + "'", origin, "see resources/synth/book.yaml");
    return out;
  }
  if (!it->is_array()) throw Error(std::string("template key '") + key + "' must be a list", origin);
  for (const auto& v : *it) out.push_back(scalar_text(v));
  if (required && out.empty()) throw Error(std::string("template list '") + key + "' is empty", origin);
  return out;
}

// Template data of one domain, checked once on load.
struct Templates {
  std::string origin, domain, category, main_category, id_style = "asin";
  double child_asin_rate = 0;
  double edition_rate = 0;             // share of items that are another edition of an earlier title
  std::vector<std::string> editions;   // edition labels, written in brackets ("" → the very same title)
  Lists lists;  // words.*, plus reviews.pos/neg/aspects (as "aspect") and yelp extras
  std::vector<std::string> titles, descriptions, features, stores;
  // A group ties categories to the titles, descriptions and words that fit them (a Yelp "kind", an
  // Amazon genre or platform). Group-level lists override the top-level ones for the group's items.
  struct Group {
    std::string kind;
    std::vector<std::string> categories, titles, descriptions, features;
    Lists words;
    std::vector<std::pair<std::string, std::string>> set;  // fixed per-item values, e.g. platform
  };
  std::vector<Group> groups;
  double price_min = 5, price_max = 50, price_null_rate = 0.1;
  std::vector<std::pair<std::string, std::vector<std::string>>> details;  // amazon details / yelp attributes
  std::vector<std::string> pos_titles, mixed_titles, neg_titles, pos_texts, mixed_texts, neg_texts;
  // yelp
  struct City { std::string city, state, postal; double lat = 0, lon = 0; };
  std::vector<City> cities;
  std::vector<json> hours;
};

Templates::Group load_group(const json& g, const std::string& origin, std::string kind) {
  if (!g.is_object()) throw Error("a group/kind entry must be a mapping", origin);
  Templates::Group out;
  out.kind = std::move(kind);
  out.categories = string_list(g, "categories", origin, true);
  out.titles = string_list(g, "titles", origin, false);
  out.descriptions = string_list(g, "descriptions", origin, false);
  out.features = string_list(g, "features", origin, false);
  if (auto w = g.find("words"); w != g.end() && w->is_object())
    for (auto it = w->begin(); it != w->end(); ++it) out.words[it.key()] = string_list(*w, it.key().c_str(), origin, true);
  if (auto st = g.find("set"); st != g.end() && st->is_object())
    for (auto it = st->begin(); it != st->end(); ++it) out.set.emplace_back(it.key(), scalar_text(*it));
  return out;
}

Templates load_templates(const fs::path& path, const std::string& domain) {
  Templates t;
  t.origin = path.string();
  json root = yaml_to_json(read_file(path), t.origin);
  if (!root.is_object()) throw Error("synth template is not a mapping", t.origin);
  const JsonSource src{t.origin, "compare with resources/synth/" + domain + ".yaml"};
  const JsonAt at(root, src);  // typed reads: a wrong type names its key path, never a json::type_error
  t.domain = at.str_or("domain", domain);
  if (t.domain != domain)
    throw Error("template is for domain '" + t.domain + "', not '" + domain + "'", t.origin);
  if (auto w = root.find("words"); w != root.end() && w->is_object())
    for (auto it = w->begin(); it != w->end(); ++it) t.lists[it.key()] = string_list(*w, it.key().c_str(), t.origin, true);
  t.titles = string_list(root, "titles", t.origin, false);
  t.edition_rate = root.value("edition_rate", 0.0);
  t.editions = string_list(root, "editions", t.origin, false);
  if (t.edition_rate < 0 || t.edition_rate >= 1)
    throw Error("edition_rate must lie in [0, 1)", t.origin);
  if (t.edition_rate > 0 && t.editions.empty())
    throw Error("edition_rate is set but the template has no 'editions' list", t.origin, "add editions: [Hardcover, ...]");
  const json& rv = root.contains("reviews") ? root["reviews"] : json::object();
  t.lists["aspect"] = string_list(rv, "aspects", t.origin, true);
  t.lists["pos"] = string_list(rv, "pos", t.origin, true);
  t.lists["neg"] = string_list(rv, "neg", t.origin, true);
  t.pos_texts = string_list(rv, "positive_texts", t.origin, true);
  t.mixed_texts = string_list(rv, "mixed_texts", t.origin, true);
  t.neg_texts = string_list(rv, "negative_texts", t.origin, true);
  if (domain == "yelp") {
    if (!root.contains("kinds") || !root["kinds"].is_array() || root["kinds"].empty())
      throw Error("template lacks list 'kinds'", t.origin);
    at.get("kinds").each([&](const JsonAt& k) { t.groups.push_back(load_group(k.json(), t.origin, k.str_or("kind", "Place"))); });
    if (!root.contains("cities") || !root["cities"].is_array() || root["cities"].empty())
      throw Error("template lacks list 'cities'", t.origin);
    at.get("cities").each([&](const JsonAt& c) {
      t.cities.push_back({c.str_or("city", ""), c.str_or("state", ""),
                          c.has("postal") ? scalar_text(c.json()["postal"]) : std::string(), c.number_or("lat", 0.0),
                          c.number_or("lon", 0.0)});
    });
    if (auto h = root.find("hours"); h != root.end() && h->is_array())
      for (const auto& x : *h) t.hours.push_back(x);
    if (auto a = root.find("attributes"); a != root.end() && a->is_object())
      for (auto it = a->begin(); it != a->end(); ++it)
        t.details.emplace_back(it.key(), string_list(*a, it.key().c_str(), t.origin, true));
  } else {
    t.category = at.str_or("category", "");
    if (t.category.empty()) throw Error("template lacks 'category' (the raw file name)", t.origin);
    t.main_category = at.str_or("main_category", t.category);
    t.id_style = at.str_or("id_style", "asin");
    t.child_asin_rate = at.number_or("child_asin_rate", 0.0, 0.0, 1.0);
    t.descriptions = string_list(root, "descriptions", t.origin, false);
    t.features = string_list(root, "features", t.origin, false);
    t.stores = string_list(root, "stores", t.origin, false);
    if (!root.contains("groups") || !root["groups"].is_array() || root["groups"].empty())
      throw Error("template lacks list 'groups' (categories with their titles and descriptions)", t.origin);
    for (const auto& g : root["groups"]) t.groups.push_back(load_group(g, t.origin, ""));
    if (auto p = at.find("price"); p && p->is_object()) {
      t.price_min = p->number_or("min", t.price_min, 0.0, 1e9);
      t.price_max = p->number_or("max", t.price_max, t.price_min, 1e9);
      t.price_null_rate = p->number_or("null_rate", t.price_null_rate, 0.0, 1.0);
    }
    if (auto d = root.find("details"); d != root.end() && d->is_object())
      for (auto it = d->begin(); it != d->end(); ++it)
        t.details.emplace_back(it.key(), string_list(*d, it.key().c_str(), t.origin, true));
    t.pos_titles = string_list(rv, "positive_titles", t.origin, true);
    t.mixed_titles = string_list(rv, "mixed_titles", t.origin, true);
    t.neg_titles = string_list(rv, "negative_titles", t.origin, true);
  }
  // Word lists hold plain words: a placeholder inside one would be written out verbatim.
  auto plain = [&](const Lists& lists) {
    for (const auto& [name, words] : lists)
      for (const auto& w : words)
        if (w.find('{') != std::string::npos)
          throw Error("word list '" + name + "' holds a placeholder (\"" + w + "\"); lists are not expanded", t.origin,
                      "move the pattern into a titles/descriptions template");
  };
  plain(t.lists);
  for (const auto& g : t.groups) plain(g.words);
  // Every placeholder must resolve, so a typo fails at load rather than on some seeds only.
  auto check = [&](const std::vector<std::string>& templates, const Templates::Group* g) {
    for (const std::string& tmpl : templates)
      for (std::size_t i = tmpl.find('{'); i != std::string::npos; i = tmpl.find('{', i + 1)) {
        std::size_t close = tmpl.find('}', i);
        if (close == std::string::npos) throw Error("unclosed '{' in template \"" + tmpl + "\"", t.origin);
        std::string key = tmpl.substr(i + 1, close - i - 1);
        if (key == "title" || key == "category" || key == "kind") continue;
        if (g && std::any_of(g->set.begin(), g->set.end(), [&](const auto& kv) { return kv.first == key; })) continue;
        while (!key.empty() && std::isdigit(static_cast<unsigned char>(key.back()))) key.pop_back();
        if (!t.lists.count(key) && !(g && g->words.count(key)))
          throw Error("template placeholder {" + tmpl.substr(i + 1, close - i - 1) + "} names no word list",
                      t.origin, "add words." + key + " to the template file");
      }
  };
  for (const auto* list : {&t.titles, &t.descriptions, &t.stores, &t.pos_texts, &t.mixed_texts, &t.neg_texts})
    check(*list, nullptr);
  for (const auto& g : t.groups) {
    check(g.titles, &g);
    check(g.descriptions, &g);
    if (g.titles.empty() && t.titles.empty()) throw Error("a group has no titles and there is no top-level list", t.origin);
    if (domain != "yelp" && g.descriptions.empty() && t.descriptions.empty())
      throw Error("a group has no descriptions and there is no top-level list", t.origin);
  }
  return t;
}

// "a Essential" → "an Essential" (vowel-letter rule; good enough for the word lists shipped).
std::string fix_articles(std::string s) {
  for (std::size_t i = 0; i + 2 < s.size(); ++i) {
    if ((s[i] == 'a' || s[i] == 'A') && s[i + 1] == ' ' && (i == 0 || s[i - 1] == ' ') &&
        std::string_view("aeiouAEIOU").find(s[i + 2]) != std::string_view::npos)
      s.insert(i + 1, "n");
  }
  return s;
}

// An item's own values for placeholders ({title}, {category}, its author or platform...): a handful of
// pairs, searched linearly (cheaper than a hash map per item in a catalogue of a million items).
class Context {
 public:
  const std::string* find(std::string_view key) const {
    for (const auto& [k, v] : kv_)
      if (k == key) return &v;
    return nullptr;
  }
  void set(std::string_view key, std::string value) {
    for (auto& [k, v] : kv_)
      if (k == key) {
        v = std::move(value);
        return;
      }
    kv_.emplace_back(std::string(key), std::move(value));
  }

 private:
  std::vector<std::pair<std::string, std::string>> kv_;
};

// Replaces {key} by ctx[key], else a random entry of lists[key without trailing digits].
std::string fill(const std::string& tmpl, const Context& ctx,
                 const Templates& t, const Templates::Group& g, Rng& rng) {
  std::string out;
  out.reserve(tmpl.size() + 32);
  std::size_t i = 0;
  while (i < tmpl.size()) {
    char c = tmpl[i];
    if (c != '{') {
      out += c;
      ++i;
      continue;
    }
    std::size_t close = tmpl.find('}', i);
    if (close == std::string::npos) throw Error("unclosed '{' in template \"" + tmpl + "\"", t.origin);
    std::string key = tmpl.substr(i + 1, close - i - 1);
    i = close + 1;
    if (const std::string* v = ctx.find(key)) {
      out += *v;
      continue;
    }
    std::string base = key;
    while (!base.empty() && std::isdigit(static_cast<unsigned char>(base.back()))) base.pop_back();
    auto l = g.words.find(base);
    if (l == g.words.end()) l = t.lists.find(base);
    if (l == t.lists.end() || l->second.empty())
      throw Error("template placeholder {" + key + "} names no word list", t.origin,
                  "add words." + base + " to the template file");
    out += rng.pick(l->second);
  }
  return fix_articles(std::move(out));
}

std::string random_id(Rng& rng, std::string_view alphabet, std::size_t len, std::string prefix) {
  for (std::size_t i = 0; i < len; ++i) prefix += alphabet[rng.below(alphabet.size())];
  return prefix;
}

std::string unique_id(Rng& rng, std::unordered_set<std::string>& seen, std::string_view alphabet, std::size_t len,
                      const std::string& prefix) {
  for (;;) {
    std::string id = random_id(rng, alphabet, len, prefix);
    if (seen.insert(id).second) return id;
  }
}

constexpr std::string_view kUpper32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
constexpr std::string_view kUpperDigits = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
constexpr std::string_view kDigits = "0123456789";
constexpr std::string_view kBase64Url = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

std::string capitalize(std::string s) {
  if (!s.empty() && s[0] >= 'a' && s[0] <= 'z') s[0] = static_cast<char>(s[0] - 'a' + 'A');
  return s;
}

struct SynthItem {
  std::string id, title, description;
  std::vector<std::string> categories, features;
  std::optional<double> price;
  ojson details = ojson::object();
  std::string store;
  Context ctx;  // per-item picks reused by reviews
  // yelp
  std::size_t group = 0, city = 0, hours = 0;
  std::string address;
  double lat = 0, lon = 0;
  bool open = true;
  // accumulated while writing reviews
  double rating_sum = 0;
  std::size_t rating_n = 0;
};

// Keys drawn once per item so that title, description and reviews agree (one author, one platform...).
const char* const kItemKeys[] = {"author", "platform", "genre", "brand", "accessory", "color", "name", "topic"};

// Title draws per item before a repeated normalised title gets a number.
constexpr int kTitleDraws = 12;

// Items with distinct normalised titles (util/text.h normalize_title), as a real catalogue mostly has: a
// draw (template and words) whose normalised title an earlier item holds is redrawn, up to kTitleDraws
// times, then numbered ("... 2"). Editions (edition_rate) repeat an earlier title of the same group with a
// bracketed label, as stores list a paperback and a hardcover, or a game's deluxe edition, under two ids;
// they share the earlier item's author, platform and other per-item picks.
std::vector<SynthItem> make_items(const Templates& t, std::size_t n, std::uint64_t seed) {
  Rng rng(mix_seed(seed, 1));
  std::unordered_set<std::string> ids, taken;
  std::vector<std::vector<std::size_t>> originals(t.groups.size());
  std::vector<SynthItem> items(n);
  for (std::size_t i = 0; i < n; ++i) {
    SynthItem& it = items[i];
    it.id = t.domain == "yelp"       ? unique_id(rng, ids, kBase64Url, 22, "")
            : t.id_style == "isbn" ? unique_id(rng, ids, kDigits, 9, std::string(1, "0123456789"[rng.below(2)]))
                                   : unique_id(rng, ids, kUpperDigits, 8, "B0");
    it.group = rng.below(t.groups.size());
    const Templates::Group& g = t.groups[it.group];
    for (const char* k : kItemKeys) {
      const std::vector<std::string>* l = nullptr;
      if (auto gl = g.words.find(k); gl != g.words.end()) l = &gl->second;
      else if (auto tl = t.lists.find(k); tl != t.lists.end()) l = &tl->second;
      if (l && !l->empty()) it.ctx.set(k, rng.pick(*l));
    }
    for (const auto& [k, v] : g.set) it.ctx.set(k, v);
    it.categories = g.categories;
    it.ctx.set("category", it.categories.back());
    if (!g.kind.empty()) it.ctx.set("kind", g.kind);
    auto& pool = originals[it.group];
    if (!pool.empty() && t.edition_rate > 0 && rng.chance(t.edition_rate)) {
      const SynthItem& base = items[pool[rng.below(pool.size())]];
      const std::string& label = rng.pick(t.editions);
      it.ctx = base.ctx;
      it.title = label.empty() ? base.title : base.title + " (" + label + ")";
    } else {
      const auto& templates = g.titles.empty() ? t.titles : g.titles;
      std::string key;
      for (int draw = 0; draw < kTitleDraws; ++draw) {
        it.title = fill(rng.pick(templates), it.ctx, t, g, rng);
        key = normalize_title(it.title);
        if (!taken.count(key)) break;
      }
      const std::string drawn = it.title;
      for (int k = 2; taken.count(key); ++k) {
        it.title = drawn + " " + std::to_string(k);
        key = normalize_title(it.title);
      }
      taken.insert(key);
      pool.push_back(i);
    }
    if (t.domain == "yelp") {
      it.city = rng.below(t.cities.size());
      std::string street = t.lists.count("street") ? rng.pick(t.lists.at("street")) : std::string("Main St");
      it.address = std::to_string(rng.between(10, 9999)) + " " + street;
      it.lat = t.cities[it.city].lat + static_cast<double>(rng.between(-5000, 5000)) / 100000.0;
      it.lon = t.cities[it.city].lon + static_cast<double>(rng.between(-5000, 5000)) / 100000.0;
      it.open = rng.chance(0.8);
      it.hours = t.hours.empty() ? 0 : rng.below(t.hours.size() + 1);  // == size → null hours
      for (const auto& [key, values] : t.details)
        if (rng.chance(0.7)) it.details[key] = rng.pick(values);
    } else {
      it.description = fill(rng.pick(g.descriptions.empty() ? t.descriptions : g.descriptions), it.ctx, t, g, rng);
      const auto& features = g.features.empty() ? t.features : g.features;
      if (!features.empty()) {
        std::size_t nf = rng.below(std::min<std::size_t>(3, features.size()) + 1);
        for (std::size_t f = 0; f < nf; ++f) {
          const std::string& feat = rng.pick(features);
          if (std::find(it.features.begin(), it.features.end(), feat) == it.features.end()) it.features.push_back(feat);
        }
      }
      if (!rng.chance(t.price_null_rate)) {
        auto lo = static_cast<std::int64_t>(std::llround(t.price_min * 100)),
             hi = static_cast<std::int64_t>(std::llround(t.price_max * 100));
        std::int64_t cents = rng.between(std::min(lo, hi), std::max(lo, hi));
        cents = cents - cents % 100 + (rng.chance(0.7) ? 99 : 49);
        it.price = static_cast<double>(cents) / 100.0;
      }
      for (const auto& [key, values] : t.details) it.details[key] = rng.pick(values);
      if (!t.stores.empty()) it.store = fill(rng.pick(t.stores), it.ctx, t, g, rng);
    }
    it.ctx.set("title", it.title);
  }
  return items;
}

// Rating weights (1..5 stars) of three user temperaments.
const std::vector<double> kRatingWeights[3] = {{0.03, 0.04, 0.08, 0.30, 0.55},
                                               {0.10, 0.10, 0.15, 0.30, 0.35},
                                               {0.15, 0.20, 0.25, 0.25, 0.15}};

constexpr std::int64_t kStartMs = 1451606400000LL;        // 2016-01-01
constexpr std::int64_t kSpanMs = 6LL * 365 * 86400000LL;  // six years
constexpr std::int64_t kHourMs = 3600000LL, kDayMs = 86400000LL;

double round1(double v) { return std::round(v * 10.0) / 10.0; }
double round_half(double v) { return std::round(v * 2.0) / 2.0; }

}  // namespace

fs::path synth_template_path(const std::string& domain) {
  return data_file(DataDir::resources, "synth/" + domain + ".yaml");  // util/resources.h's search order
}

namespace {
std::size_t catalogue_size(const SynthOptions& o) {
  return o.items ? o.items : std::max<std::size_t>(50, o.users * o.reviews_per_user / 10);
}
}  // namespace

std::vector<std::string> synth_item_titles(const SynthOptions& o) {
  if (o.domain != "book" && o.domain != "game" && o.domain != "yelp")
    throw Error("unknown synth domain '" + o.domain + "'", "--domain", "use book, game or yelp");
  fs::path tpl = o.templates.empty() ? synth_template_path(o.domain) : o.templates;
  require_exists(tpl, "synth template", "pass --templates FILE or set ECPO_RESOURCES");
  std::vector<std::string> titles;
  for (SynthItem& it : make_items(load_templates(tpl, o.domain), catalogue_size(o), o.seed))
    titles.push_back(std::move(it.title));
  return titles;
}

SynthResult synthesize(const SynthOptions& o) {
  if (o.domain != "book" && o.domain != "game" && o.domain != "yelp")
    throw Error("unknown synth domain '" + o.domain + "'", "--domain", "use book, game or yelp");
  if (o.users == 0) throw Error("--users must be at least 1", "--users");
  if (o.reviews_per_user == 0) throw Error("--reviews-per-user must be at least 1", "--reviews-per-user");
  if (o.out.empty()) throw Error("no output directory", "--out", "pass --out DIR");
  const std::size_t max_count = o.reviews_per_user + o.reviews_per_user / 2;
  const std::size_t n_items = catalogue_size(o);
  if (n_items < max_count)
    throw Error("catalogue of " + std::to_string(n_items) + " items is smaller than the largest history (" +
                    std::to_string(max_count) + " reviews)",
                "--items", "raise --items (each user reviews distinct items)");
  fs::path tpl = o.templates.empty() ? synth_template_path(o.domain) : o.templates;
  require_exists(tpl, "synth template", "pass --templates FILE or set ECPO_RESOURCES");
  Templates t = [&] {
    try {
      return load_templates(tpl, o.domain);
    } catch (const json::exception& e) {  // a JSON access this loader does not check yet: still located
      throw_json_error(e, tpl.string(), "compare with resources/synth/" + o.domain + ".yaml");
    }
  }();
  std::vector<SynthItem> items = make_items(t, n_items, o.seed);

  const bool yelp = o.domain == "yelp";
  SynthResult res;
  res.items = n_items;
  res.reviews_file = o.out / (yelp ? "yelp_academic_dataset_review.json" : t.category + ".jsonl");
  res.meta_file = o.out / (yelp ? "yelp_academic_dataset_business.json" : "meta_" + t.category + ".jsonl");
  JsonlWriter reviews(res.reviews_file);
  JsonlWriter meta(res.meta_file);

  Rng id_rng(mix_seed(o.seed, 2));
  std::unordered_set<std::string> user_ids, review_ids, child_ids;
  std::unordered_set<std::size_t> picked;
  std::vector<std::size_t> chosen;
  std::string line;
  for (std::size_t u = 0; u < o.users; ++u) {
    const std::string user_id = yelp ? unique_id(id_rng, user_ids, kBase64Url, 22, "")
                                     : unique_id(id_rng, user_ids, kUpper32, 27, "A");
    Rng rng(mix_seed(mix_seed(o.seed, 3), u));
    std::size_t count = o.reviews_per_user;
    if (u % 5 == 4) count = static_cast<std::size_t>(rng.between(std::max<std::int64_t>(1, o.reviews_per_user / 3),
                                                                   static_cast<std::int64_t>(max_count)));
    const auto& weights = kRatingWeights[rng.below(3)];
    picked.clear();
    chosen.clear();
    while (chosen.size() < count) {  // distinct items, popular (low-index) ones more likely
      std::size_t idx = std::min(rng.below(n_items), rng.below(n_items));
      if (picked.insert(idx).second) chosen.push_back(idx);
    }
    std::int64_t ts = kStartMs + static_cast<std::int64_t>(rng.below(kSpanMs));
    for (std::size_t r = 0; r < count; ++r) {
      SynthItem& item = items[chosen[r]];
      ts += rng.between(kHourMs, 30 * kDayMs) + static_cast<std::int64_t>(rng.below(1000));
      const int stars = static_cast<int>(rng.weighted(weights)) + 1;
      item.rating_sum += stars;
      ++item.rating_n;
      const auto& ctx = item.ctx;
      const auto& texts = stars >= 4 ? t.pos_texts : stars == 3 ? t.mixed_texts : t.neg_texts;
      const std::size_t first = rng.below(texts.size());
      const Templates::Group& g = t.groups[item.group];
      std::string text = capitalize(fill(texts[first], ctx, t, g, rng));
      if (texts.size() > 1 && rng.chance(0.4))  // a second, different sentence
        text += " " + capitalize(fill(texts[(first + 1 + rng.below(texts.size() - 1)) % texts.size()], ctx, t, g, rng));
      line.clear();  // review lines are written as text (key order of the raw dumps), no DOM per review
      if (yelp) {
        const std::string review_id = unique_id(rng, review_ids, kBase64Url, 22, "");
        const std::int64_t useful = rng.below(4) == 0 ? rng.between(1, 12) : 0;
        const std::int64_t funny = rng.below(8) == 0 ? rng.between(1, 5) : 0;
        const std::int64_t cool = rng.below(6) == 0 ? rng.between(1, 6) : 0;
        line += "{\"review_id\":";
        append_json_string(line, review_id);
        line += ",\"user_id\":";
        append_json_string(line, user_id);
        line += ",\"business_id\":";
        append_json_string(line, item.id);
        line += ",\"stars\":";
        append_json_double(line, stars);
        line += ",\"useful\":";
        append_json_int(line, useful);
        line += ",\"funny\":";
        append_json_int(line, funny);
        line += ",\"cool\":";
        append_json_int(line, cool);
        line += ",\"text\":";
        append_json_string(line, text);
        line += ",\"date\":";
        append_json_string(line, format_utc_datetime(ts / 1000 * 1000));
        line += '}';
      } else {
        const auto& titles = stars >= 4 ? t.pos_titles : stars == 3 ? t.mixed_titles : t.neg_titles;
        const std::string& title = rng.pick(titles);
        const std::string asin =
            rng.chance(t.child_asin_rate) ? unique_id(rng, child_ids, kUpperDigits, 8, "B0") : item.id;
        const std::int64_t helpful = rng.below(5) == 0 ? rng.between(1, 40) : 0;
        const bool verified = rng.chance(0.85);
        line += "{\"rating\":";
        append_json_double(line, stars);
        line += ",\"title\":";
        append_json_string(line, title);
        line += ",\"text\":";
        append_json_string(line, text);
        line += ",\"images\":[],\"asin\":";
        append_json_string(line, asin);
        line += ",\"parent_asin\":";
        append_json_string(line, item.id);
        line += ",\"user_id\":";
        append_json_string(line, user_id);
        line += ",\"timestamp\":";
        append_json_int(line, ts);
        line += ",\"helpful_vote\":";
        append_json_int(line, helpful);
        line += verified ? ",\"verified_purchase\":true}" : ",\"verified_purchase\":false}";
      }
      reviews.write_line(line);
      ++res.reviews;
    }
  }
  res.users = o.users;

  for (const SynthItem& it : items) {
    const double avg = it.rating_n ? it.rating_sum / static_cast<double>(it.rating_n) : 0.0;
    ojson j;
    if (yelp) {
      const auto& city = t.cities[it.city];
      ojson attrs = it.details.empty() ? ojson(nullptr) : it.details;
      j["business_id"] = it.id;
      j["name"] = it.title;
      j["address"] = it.address;
      j["city"] = city.city;
      j["state"] = city.state;
      j["postal_code"] = city.postal;
      j["latitude"] = std::round(it.lat * 1e6) / 1e6;
      j["longitude"] = std::round(it.lon * 1e6) / 1e6;
      j["stars"] = it.rating_n ? std::max(1.0, round_half(avg)) : 3.0;
      j["review_count"] = it.rating_n;
      j["is_open"] = it.open ? 1 : 0;
      j["attributes"] = attrs;
      j["categories"] = join(it.categories, ", ");
      j["hours"] = it.hours < t.hours.size() ? ojson::parse(t.hours[it.hours].dump()) : ojson(nullptr);
    } else {
      j["main_category"] = t.main_category;
      j["title"] = it.title;
      j["average_rating"] = round1(avg);
      j["rating_number"] = it.rating_n;
      j["features"] = it.features;
      j["description"] = ojson::array({it.description});
      j["price"] = it.price ? ojson(*it.price) : ojson(nullptr);
      j["images"] = ojson::array();
      j["videos"] = ojson::array();
      j["store"] = it.store.empty() ? ojson(nullptr) : ojson(it.store);
      j["categories"] = it.categories;
      j["details"] = it.details;
      j["parent_asin"] = it.id;
      j["bought_together"] = nullptr;
    }
    meta.write_line(j.dump());
  }
  reviews.commit();
  meta.commit();
  return res;
}

}  // namespace ecpo::data
