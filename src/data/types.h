// The records every stage exchanges (DESIGN formats): item, review, user, task — and their JSON form.
// items.jsonl: {item_id, title, categories[], description, price|null, attributes{}, domain}
// users.jsonl: {user_id, reviews:[{item_id, rating, title, text, timestamp}]}  (reviews oldest first)
// tasks_*.jsonl: {task_id, user_id, target_item_id, split, ...extra provenance fields}
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace ecpo::data {

struct Item {
  std::string item_id;
  std::string title;
  std::vector<std::string> categories;
  std::string description;
  std::optional<double> price;
  nlohmann::json attributes = nlohmann::json::object();
  std::string domain;
};

struct Review {
  std::string item_id;
  double rating = 0;
  std::string title;
  std::string text;
  std::int64_t timestamp = 0;  // milliseconds since the Unix epoch
};

struct User {
  std::string user_id;
  std::vector<Review> reviews;
};

struct Task {
  std::string task_id;
  std::string user_id;
  std::string target_item_id;
  std::string split;  // "train" | "test"
  nlohmann::json extra = nlohmann::json::object();  // provenance (target rank, timestamp, ...)
};

nlohmann::json to_json(const Item& v);
nlohmann::json to_json(const Review& v);
nlohmann::json to_json(const User& v);
nlohmann::json to_json(const Task& v);

// Parsers throw ecpo::Error naming `where` (file:line) and the missing/bad field.
Item item_from_json(const nlohmann::json& j, const std::string& where);
Review review_from_json(const nlohmann::json& j, const std::string& where);
User user_from_json(const nlohmann::json& j, const std::string& where);
Task task_from_json(const nlohmann::json& j, const std::string& where);

// The text retrieval indexes and prompts show for an item: "title | categories | description".
std::string item_text(const Item& item);

}  // namespace ecpo::data
