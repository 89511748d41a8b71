// Task building (see tasks.h). Task rows: {task_id "<user_id>:<item_id>", user_id, target_item_id, split,
// target_timestamp, target_rating, target_index (0-based among the user's targets by time), n_targets,
// n_reviews, source_item_id (the id the review named, before de-duplication), domain, test_rule}.
#include "data/tasks.h"

#include <algorithm>
#include <map>
#include <set>
#include <unordered_map>

#include <nlohmann/json.hpp>

#include "data/records-io.h"
#include "util/rng.h"
#include "data/types.h"
#include "util/error.h"
#include "util/fs.h"
#include "util/jsonl.h"
#include "util/table.h"
#include "util/text.h"

namespace fs = std::filesystem;

namespace ecpo::data {

using json = nlohmann::json;

namespace {
bool same_dir(const fs::path& a, const fs::path& b) {
  std::error_code ec;
  if (fs::exists(a) && fs::exists(b)) return fs::equivalent(a, b, ec);
  return fs::weakly_canonical(a, ec) == fs::weakly_canonical(b, ec);
}
struct Target {
  std::string item_id, source_item_id;
  std::int64_t timestamp;
  double rating;
};
}  // namespace

TaskBuildStats build_tasks(const TaskBuildOptions& o) {
  if (o.min_reviews > o.max_reviews)
    throw Error("--min-reviews (" + std::to_string(o.min_reviews) + ") is above --max-reviews (" +
                    std::to_string(o.max_reviews) + ")",
                "--min-reviews");
  if (o.test_rule != "first" && o.test_rule != "random")
    throw Error("unknown --test-rule '" + o.test_rule + "'", "--test-rule", "use first or random");
  if (o.out.empty()) throw Error("no output directory", "--out", "pass --out DIR");
  const fs::path items_path = o.data / "items.jsonl", users_path = o.data / "users.jsonl";
  require_exists(items_path, "items file", "run 'ecpo data import' first (it writes items.jsonl)");
  require_exists(users_path, "users file", "run 'ecpo data import' first (it writes users.jsonl)");
  if (same_dir(o.data, o.out))
    throw Error("--out must differ from --data (items.jsonl would be overwritten)", o.out.string());

  TaskBuildStats st;
  std::unordered_map<std::string, Item> catalogue;
  for (Item& it : read_items(items_path)) catalogue.try_emplace(it.item_id, std::move(it));

  std::vector<User> selected;
  for_each_user(users_path, [&](User&& u) {
    ++st.users_read;
    if (u.reviews.size() >= o.min_reviews && u.reviews.size() <= o.max_reviews) selected.push_back(std::move(u));
  });
  std::sort(selected.begin(), selected.end(), [](const User& a, const User& b) { return a.user_id < b.user_id; });
  st.users_selected = selected.size();

  // Item DB: every item the selected users reviewed; equal normalised titles fold into the smallest id.
  std::set<std::string> used;
  for (const User& u : selected)
    for (const Review& r : u.reviews) {
      if (catalogue.count(r.item_id)) used.insert(r.item_id);
      else ++st.unknown_items;
    }
  std::map<std::string, std::string> canonical;        // item id → kept id
  std::unordered_map<std::string, std::string> by_title;  // normalised title → kept id
  for (const std::string& id : used) {  // sorted: the first id of a title group is kept
    std::string key = normalize_title(catalogue.at(id).title);
    if (key.empty()) {  // untitled items never merge
      canonical[id] = id;
      continue;
    }
    auto [it, fresh] = by_title.try_emplace(key, id);
    canonical[id] = it->second;
    if (!fresh) ++st.duplicates_merged;
  }

  JsonlWriter train_out(o.out / "tasks_train.jsonl"), test_out(o.out / "tasks_test.jsonl");
  JsonlWriter items_out(o.out / "items.jsonl"), users_out(o.out / "users.jsonl");
  JsonlWriter alias_out(o.out / "item_aliases.jsonl");
  std::set<std::string> train_items, test_items;
  for (User& u : selected) {
    std::stable_sort(u.reviews.begin(), u.reviews.end(),
                     [](const Review& a, const Review& b) { return a.timestamp < b.timestamp; });
    users_out.write(to_json(u));
    std::vector<Target> targets;
    std::set<std::string> seen;
    for (const Review& r : u.reviews) {
      if (r.rating < o.min_rating) continue;
      auto c = canonical.find(r.item_id);
      if (c == canonical.end()) continue;
      if (seen.insert(c->second).second) targets.push_back({c->second, r.item_id, r.timestamp, r.rating});
    }
    if (targets.empty()) {
      ++st.users_without_target;
      continue;
    }
    std::size_t test_index = 0;
    if (o.test_rule == "random") {
      Rng rng(mix_seed(o.seed, fnv1a64(u.user_id)));
      test_index = static_cast<std::size_t>(rng.below(targets.size()));
    }
    for (std::size_t i = 0; i < targets.size(); ++i) {
      const Target& t = targets[i];
      const bool test = i == test_index;
      Task task;
      task.task_id = u.user_id + ":" + t.item_id;
      task.user_id = u.user_id;
      task.target_item_id = t.item_id;
      task.split = test ? "test" : "train";
      task.extra = {{"target_timestamp", t.timestamp}, {"target_rating", t.rating},
                    {"target_index", i}, {"n_targets", targets.size()}, {"n_reviews", u.reviews.size()},
                    {"source_item_id", t.source_item_id}, {"domain", catalogue.at(t.item_id).domain},
                    {"test_rule", o.test_rule}};
      (test ? test_out : train_out).write(to_json(task));
      (test ? test_items : train_items).insert(t.item_id);
    }
    st.test.users += 1;
    st.test.tasks += 1;
    if (targets.size() > 1) {
      st.train.users += 1;
      st.train.tasks += targets.size() - 1;
    }
  }
  st.train.items = train_items.size();
  st.test.items = test_items.size();
  for (const auto& [id, kept] : canonical) {
    if (id == kept) {
      items_out.write(to_json(catalogue.at(id)));
      ++st.item_db;
    } else {
      alias_out.write(json{{"item_id", id}, {"kept_item_id", kept}});
    }
  }
  json manifest = {{"data", o.data.string()},
                   {"min_reviews", o.min_reviews},
                   {"max_reviews", o.max_reviews},
                   {"min_rating", o.min_rating},
                   {"test_rule", o.test_rule},
                   {"seed", o.seed},
                   {"counts",
                    {{"users_read", st.users_read}, {"users_selected", st.users_selected},
                     {"users_without_target", st.users_without_target}, {"item_db", st.item_db},
                     {"duplicates_merged", st.duplicates_merged}, {"unknown_items", st.unknown_items},
                     {"train", {{"users", st.train.users}, {"tasks", st.train.tasks}, {"items", st.train.items}}},
                     {"test", {{"users", st.test.users}, {"tasks", st.test.tasks}, {"items", st.test.items}}}}}};
  train_out.commit();
  test_out.commit();
  items_out.commit();
  users_out.commit();
  alias_out.commit();
  write_json_file(o.out / "tasks.json", manifest);
  return st;
}

std::string tasks_report(const TaskBuildStats& s) {
  Table t({"split", "users", "tasks", "items"});
  t.row({"train", std::to_string(s.train.users), std::to_string(s.train.tasks), std::to_string(s.train.items)});
  t.row({"test", std::to_string(s.test.users), std::to_string(s.test.tasks), std::to_string(s.test.items)});
  std::string out = t.str();
  out += "item DB: " + std::to_string(s.item_db) + " items (" + std::to_string(s.duplicates_merged) +
         " duplicate titles merged); users: " + std::to_string(s.users_selected) + " selected of " +
         std::to_string(s.users_read) + ", " + std::to_string(s.users_without_target) + " without a target";
  if (s.unknown_items) out += "; " + std::to_string(s.unknown_items) + " reviews name items missing from items.jsonl";
  return out + "\n";
}

}  // namespace ecpo::data
