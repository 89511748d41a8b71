// JSON conversion of the shared records (see types.h).
#include "data/types.h"

#include <cmath>

#include "util/error.h"
#include "util/text.h"

namespace ecpo::data {

using json = nlohmann::json;

namespace {
const json& field(const json& j, const char* key, const std::string& where, const char* record) {
  if (!j.is_object()) throw Error(std::string(record) + " record is not a JSON object", where);
  auto it = j.find(key);
  if (it == j.end())
    throw Error(std::string(record) + " record lacks field '" + key + "'", where,
                "regenerate the file with 'ecpo data import' / 'ecpo tasks build'");
  return *it;
}
std::string str_field(const json& j, const char* key, const std::string& where, const char* record) {
  const json& v = field(j, key, where, record);
  if (!v.is_string()) throw Error(std::string("field '") + key + "' must be a string", where);
  return v.get<std::string>();
}
}  // namespace

json to_json(const Item& v) {
  json j = {{"item_id", v.item_id}, {"title", v.title}, {"categories", v.categories},
            {"description", v.description}, {"price", nullptr}, {"attributes", v.attributes},
            {"domain", v.domain}};
  if (v.price) j["price"] = *v.price;
  return j;
}

json to_json(const Review& v) {
  return {{"item_id", v.item_id}, {"rating", v.rating}, {"title", v.title}, {"text", v.text},
          {"timestamp", v.timestamp}};
}

json to_json(const User& v) {
  json reviews = json::array();
  for (const auto& r : v.reviews) reviews.push_back(to_json(r));
  return {{"user_id", v.user_id}, {"reviews", std::move(reviews)}};
}

json to_json(const Task& v) {
  json j = v.extra.is_object() ? v.extra : json::object();
  j["task_id"] = v.task_id;
  j["user_id"] = v.user_id;
  j["target_item_id"] = v.target_item_id;
  j["split"] = v.split;
  return j;
}

Item item_from_json(const json& j, const std::string& where) {
  Item it;
  it.item_id = str_field(j, "item_id", where, "item");
  it.title = str_field(j, "title", where, "item");
  if (auto c = j.find("categories"); c != j.end() && c->is_array())
    for (const auto& s : *c)
      if (s.is_string()) it.categories.push_back(s.get<std::string>());
  if (auto d = j.find("description"); d != j.end() && d->is_string()) it.description = d->get<std::string>();
  if (auto p = j.find("price"); p != j.end() && p->is_number()) it.price = p->get<double>();
  if (auto a = j.find("attributes"); a != j.end() && a->is_object()) it.attributes = *a;
  if (auto d = j.find("domain"); d != j.end() && d->is_string()) it.domain = d->get<std::string>();
  return it;
}

Review review_from_json(const json& j, const std::string& where) {
  Review r;
  r.item_id = str_field(j, "item_id", where, "review");
  const json& rating = field(j, "rating", where, "review");
  if (!rating.is_number()) throw Error("review field 'rating' must be a number", where);
  r.rating = rating.get<double>();
  if (auto t = j.find("title"); t != j.end() && t->is_string()) r.title = t->get<std::string>();
  if (auto t = j.find("text"); t != j.end() && t->is_string()) r.text = t->get<std::string>();
  if (auto t = j.find("timestamp"); t != j.end() && t->is_number()) {
    // A float beyond int64 would make the conversion undefined: range-check it first.
    if (t->is_number_float() && !(std::abs(t->get<double>()) < 9.2e18))
      throw Error("review field 'timestamp' is out of range (" + t->dump() + ")", where, "milliseconds since 1970");
    r.timestamp = t->is_number_unsigned() ? static_cast<std::int64_t>(t->get<std::uint64_t>()) : t->get<std::int64_t>();
  }
  return r;
}

User user_from_json(const json& j, const std::string& where) {
  User u;
  u.user_id = str_field(j, "user_id", where, "user");
  const json& reviews = field(j, "reviews", where, "user");
  if (!reviews.is_array()) throw Error("user field 'reviews' must be an array", where);
  for (std::size_t i = 0; i < reviews.size(); ++i)
    u.reviews.push_back(review_from_json(reviews[i], where + " (reviews[" + std::to_string(i) + "])"));
  return u;
}

Task task_from_json(const json& j, const std::string& where) {
  Task t;
  t.task_id = str_field(j, "task_id", where, "task");
  t.user_id = str_field(j, "user_id", where, "task");
  t.target_item_id = str_field(j, "target_item_id", where, "task");
  t.split = str_field(j, "split", where, "task");
  t.extra = json::object();
  for (auto it = j.begin(); it != j.end(); ++it)
    if (it.key() != "task_id" && it.key() != "user_id" && it.key() != "target_item_id" && it.key() != "split")
      t.extra[it.key()] = it.value();
  return t;
}

std::string item_text(const Item& item) {
  std::string s = item.title;
  if (!item.categories.empty()) s += " | " + join(item.categories, ", ");
  if (!item.description.empty()) s += " | " + item.description;
  return s;
}

}  // namespace ecpo::data
