// Readers for items/users/tasks JSONL (see records-io.h).
#include "data/records-io.h"

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

std::vector<User> read_users(const std::filesystem::path& path) {
  std::vector<User> out;
  for_each_user(path, [&](User&& u) { out.push_back(std::move(u)); });
  return out;
}

}  // namespace ecpo::data
