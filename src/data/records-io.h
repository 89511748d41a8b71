// Reading the project's own record files (items.jsonl, users.jsonl, tasks_*.jsonl; data/types.h) with
// file:line errors. Whole-file readers for catalogues that fit in memory, and a streaming visitor for users.
// Raw dumps are read by data/import.h, not here.
#pragma once
#include <filesystem>
#include <functional>
#include <vector>

#include "data/types.h"

namespace ecpo::data {

std::vector<Item> read_items(const std::filesystem::path& path);
std::vector<Task> read_tasks(const std::filesystem::path& path);
std::vector<User> read_users(const std::filesystem::path& path);
// Calls fn for each user in file order without holding the file in memory.
void for_each_user(const std::filesystem::path& path, const std::function<void(User&&)>& fn);

}  // namespace ecpo::data
