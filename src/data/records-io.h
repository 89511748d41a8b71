// Reading the project's own record files (items.jsonl, users.jsonl, tasks_*.jsonl; data/types.h) with
// file:line errors. Whole-file readers for catalogues that fit in memory, and a streaming visitor for users.
// Raw dumps are read by data/import.h, not here.
#pragma once
#include <filesystem>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "data/types.h"

namespace ecpo::data {

std::vector<Item> read_items(const std::filesystem::path& path);
std::vector<Task> read_tasks(const std::filesystem::path& path);
std::vector<User> read_users(const std::filesystem::path& path);
// Calls fn for each user in file order without holding the file in memory.
void for_each_user(const std::filesystem::path& path, const std::function<void(User&&)>& fn);

// Parses one line of such a file as JSON; on malformed JSON throws the ecpo::Error JsonlReader
// (util/jsonl.h, BadLinePolicy::fail) would: "malformed JSON line: parse error ..." at `where`, with its hint.
nlohmann::json parse_record_line(std::string_view line, const std::string& where);

}  // namespace ecpo::data
