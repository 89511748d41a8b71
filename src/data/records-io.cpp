// Readers for items/users/tasks JSONL (see records-io.h).
#include "data/records-io.h"

#include "data/fast-json.h"
#include "util/error.h"
#include "util/jsonl.h"

namespace ecpo::data {

std::vector<Item> read_items(const std::filesystem::path& path) {
  std::vector<Item> out;
  JsonlReader r(path);
  json v;
  while (r.next(v)) out.push_back(item_from_json(v, r.where()));
  return out;
}

std::vector<Task> read_tasks(const std::filesystem::path& path) {
  std::vector<Task> out;
  JsonlReader r(path);
  json v;
  while (r.next(v)) out.push_back(task_from_json(v, r.where()));
  return out;
}

void for_each_user(const std::filesystem::path& path, const std::function<void(User&&)>& fn) {
  JsonlReader r(path);
  json v;
  while (r.next(v)) fn(user_from_json(v, r.where()));
}

json parse_record_line(std::string_view line, const std::string& where) {
  json v;
  if (fast_parse_dom(line, v)) return v;
  v = json::parse(line, nullptr, /*allow_exceptions=*/false);
  if (!v.is_discarded()) return v;
  std::string detail;  // the parser's own words, as JsonlReader reports them
  try {
    json ignored = json::parse(line);
    (void)ignored;
  } catch (const json::parse_error& e) {
    detail = e.what();
    auto p = detail.find("parse error");
    if (p != std::string::npos) detail = detail.substr(p);
  }
  throw Error("malformed JSON line" + (detail.empty() ? std::string() : ": " + detail), where,
              "fix or remove the line, or run without --strict to skip it");
}

std::vector<User> read_users(const std::filesystem::path& path) {
  std::vector<User> out;
  for_each_user(path, [&](User&& u) { out.push_back(std::move(u)); });
  return out;
}

}  // namespace ecpo::data
