// Task building (see tasks.h) in streaming passes over bounded buffers (data/external-sort.h):
//  A. users.jsonl → the selected users' rows (sorter U, by user id) and one reference per review (sorter R, by
//     item id; reviews rated ≥ min_rating carry their target data), plus a Bloom filter of those item ids;
//  B. items.jsonl → sorter I (by item id): normalised title, domain and row of the items the filter passes;
//  C. R merged with I: used items go to sorter T (by normalised title; untitled ones straight to sorter K)
//     and their rows to a spool file in id order, target candidates to a spool file in item order;
//     references to unknown items are counted;
//  D. T in title order: the smallest id of each title is kept, the others alias it (sorter K, by item id);
//  E. K in id order (with the row spool): items.jsonl and item_aliases.jsonl; merged with the candidate
//     spool, each candidate goes to sorter
//     G by (user id, user input order, review position) with its kept id and that item's domain (by input
//     order and position alone when users.jsonl came sorted by user id, its usual state);
//  F. G per user: targets de-duplicated by kept id, the test pick, tasks_*.jsonl; then U → users.jsonl.
// Kept items are numbered as C and D decide them; the distinct target items of each split are counted with
// one bit per kept item (an 8th of a byte per item, like the importer's bit per review).
// The sorts are stable, so every file is byte for byte what the former in-memory builder wrote.
// Task rows: {task_id "<user_id>:<item_id>", user_id, target_item_id, split, target_timestamp, target_rating,
// target_index (0-based among the user's targets by time), n_targets, n_reviews, source_item_id (the id the
// review named, before de-duplication), domain, test_rule}.
#include "data/tasks.h"

#include <algorithm>
#include <optional>

#include <nlohmann/json.hpp>

#include "data/bloom-filter.h"
#include "data/external-sort.h"
#include "data/records-io.h"
#include "util/rng.h"
#include "data/types.h"
#include "data/record-line.h"
#include "util/error.h"
#include "util/fs.h"
#include "util/json-text.h"
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
// One target of the user being written; its strings live in a per-user arena (kept id, source id, domain).
struct Target {
  std::size_t kept_at, kept_size, source_at, source_size, domain_at, domain_size;
  std::uint64_t kept_index;  // the kept item's number (see phase C/D), for the distinct-item counts
  std::int64_t timestamp;
  double rating;
};
std::string id_key_text(std::string_view key) {
  std::string scratch;
  return std::string(KeyReader(key).str(scratch));
}
std::string item_key(std::string_view id) {
  std::string k;
  KeyWriter(k).str(id);
  return k;
}
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

  OutputDirGuard out_guard(o.out);
  SpillDir spill(o.tmp.empty() ? o.out : o.tmp, "tasks");
  const std::size_t m = std::max<std::size_t>(o.memory, 1u << 10);
  auto budget = [&](std::size_t bytes, bool stable = true) { return SortOptions{bytes, o.fan_in, o.io_buffer, stable}; };
  TaskBuildStats st;
  std::string line, key, payload, scratch;

  // A. Users: selection, rows, item references. users.jsonl is written straight through while the input
  // comes sorted by user id (as `data import` writes it); at the first user out of order the rows so far
  // are read again into the sort U, which then takes them all.
  ExternalSorter user_rows(spill, "users", budget(m / 4));
  ExternalSorter refs(spill, "refs", budget(m / 4, /*stable=*/false));  // ties: one item's references
  BloomFilter reviewed(m / 16);
  std::optional<JsonlWriter> users_out(std::in_place, o.out / "users.jsonl");
  {
    std::string last_user_key;
    UserRow u;
    auto selected = [&] {
      if (u.reviews.size() < o.min_reviews || u.reviews.size() > o.max_reviews) return false;
      key.clear();
      KeyWriter(key).str(u.user_id);
      return true;
    };
    auto sort_rows_before = [&](std::uint64_t stop_line) {
      LineReader again(users_path);
      while (again.next(line) && again.line_number() < stop_line) {
        if (line.find_first_not_of(" \t") == std::string::npos) continue;
        read_user_row(line, error_location(users_path.string(), again.line_number()), u);
        if (selected()) user_rows.add(key, u.row);
      }
    };
    LineReader r(users_path);
    while (r.next(line)) {
      if (line.find_first_not_of(" \t") == std::string::npos) continue;
      read_user_row(line, error_location(users_path.string(), r.line_number()), u);
      ++st.users_read;
      if (!selected()) continue;
      const std::uint64_t ord = st.users_selected++;
      if (users_out && key < last_user_key) {
        users_out.reset();  // removes its temp file
        const std::string this_line = line;
        sort_rows_before(r.line_number());
        line = this_line;
        read_user_row(line, error_location(users_path.string(), r.line_number()), u);
        selected();
      }
      if (users_out) {
        users_out->write_line(u.row);
        last_user_key = key;
      } else {
        user_rows.add(key, u.row);
      }
      const std::size_t n = u.reviews.size();
      for (std::size_t pos = 0; pos < n; ++pos) {
        const UserRow::Review& rv = u.reviews[pos];
        const std::string_view item = u.item_id(rv);
        reviewed.add(item);
        key.clear();
        KeyWriter(key).str(item);
        payload.clear();
        if (rv.rating >= o.min_rating) {  // a target candidate; an empty payload is a plain reference
          put_bytes(payload, u.user_id);
          put_varint(payload, ord);
          put_varint(payload, pos);
          put_varint(payload, n);
          put_varint(payload, static_cast<std::uint64_t>(rv.timestamp));
          put_double(payload, rv.rating);
        }
        refs.add(key, payload);
      }
    }
  }
  user_rows.finish();
  refs.finish();

  // B. Items: every line is validated as read_items would; rows are kept for the items the filter passes.
  ExternalSorter catalogue(spill, "items", budget(m / 2));
  {
    LineReader r(items_path);
    ItemRow item;
    while (r.next(line)) {
      if (line.find_first_not_of(" \t") == std::string::npos) continue;
      read_item_row(line, error_location(items_path.string(), r.line_number()), item);
      if (!reviewed.maybe_contains(item.item_id)) continue;
      key.clear();
      KeyWriter(key).str(item.item_id);
      payload.clear();
      put_bytes(payload, normalize_title(item.title));
      put_bytes(payload, item.domain);
      payload += item.row;
      catalogue.add(key, payload);  // equal ids keep file order: the first record wins below
    }
  }

  // C. References × catalogue, both by item id.
  ExternalSorter by_title(spill, "titles", budget(m / 4));
  ExternalSorter canonical(spill, "canonical", budget(m / 4, /*stable=*/false));  // ids are unique
  std::uint64_t kept_items = 0;  // kept items numbered as they are decided (untitled here, title groups in D)
  RunWriter spool(spill.new_file("candidates"), o.io_buffer);
  RunWriter rows(spill.new_file("rows"), o.io_buffer);  // used items' rows, in id order (never re-sorted)
  {
    std::string_view rk, rp, ck, cp;
    bool have_ref = refs.next(rk, rp), have_cat = catalogue.next(ck, cp);
    std::string id_key;
    while (have_ref) {
      id_key.assign(rk);
      while (have_cat && ck < std::string_view(id_key)) have_cat = catalogue.next(ck, cp);
      const bool found = have_cat && ck == std::string_view(id_key);
      if (found) {
        Cursor c(cp);
        const std::string_view title = c.bytes(), domain = c.bytes();
        const std::string_view id = KeyReader(id_key).str(scratch);
        rows.add(id_key, cp.substr(c.position()));
        payload.clear();
        if (title.empty()) {  // untitled items never merge: each is its own kept item
          put_varint(payload, 1);
          put_varint(payload, kept_items++);
          put_bytes(payload, id);
          put_bytes(payload, domain);
          canonical.add(id_key, payload);
        } else {  // added in id order, so each title group lists its smallest id first
          put_bytes(payload, id);
          put_bytes(payload, domain);
          key.clear();
          KeyWriter(key).str(title);
          by_title.add(key, payload);
        }
        while (have_cat && ck == std::string_view(id_key)) have_cat = catalogue.next(ck, cp);
      }
      for (; have_ref && rk == std::string_view(id_key); have_ref = refs.next(rk, rp)) {
        if (!found) ++st.unknown_items;
        else if (!rp.empty()) spool.add(id_key, rp);
      }
    }
  }
  spool.close();
  rows.close();

  // D. Title groups: the first (smallest) id is kept, the others alias it.
  {
    std::string_view tk, tp;
    std::string group, kept_id, kept_domain;
    std::uint64_t index = 0;
    bool have = by_title.next(tk, tp);
    while (have) {
      group.assign(tk);
      for (bool first = true; have && tk == std::string_view(group); have = by_title.next(tk, tp), first = false) {
        Cursor c(tp);
        const std::string_view id = c.bytes(), domain = c.bytes();
        payload.clear();
        if (first) {
          kept_id.assign(id);
          kept_domain.assign(domain);
          index = kept_items++;
          put_varint(payload, 1);
          put_varint(payload, index);
          put_bytes(payload, id);
          put_bytes(payload, domain);
        } else {
          put_varint(payload, 0);
          put_varint(payload, index);
          put_bytes(payload, kept_id);
          put_bytes(payload, kept_domain);
          ++st.duplicates_merged;
        }
        canonical.add(item_key(id), payload);
      }
    }
  }

  // E. Item DB and aliases in id order; candidates get their kept id.
  JsonlWriter train_out(o.out / "tasks_train.jsonl"), test_out(o.out / "tasks_test.jsonl");
  JsonlWriter items_out(o.out / "items.jsonl");
  JsonlWriter alias_out(o.out / "item_aliases.jsonl");
  ExternalSorter targets(spill, "targets", budget(m / 4, /*stable=*/false));  // keys are unique
  {
    RunReader cand(spool.path(), o.io_buffer), row(rows.path(), o.io_buffer);
    bool have_cand = cand.next(), have_row = row.next();
    std::string_view kk, kp;
    while (canonical.next(kk, kp)) {
      Cursor c(kp);
      const bool kept = c.varint() == 1;
      const std::uint64_t kept_index = c.varint();
      const std::string_view kept_id = c.bytes(), domain = c.bytes();
      const std::string_view id = KeyReader(kk).str(scratch);
      if (kept) {
        while (have_row && row.key() < kk) have_row = row.next();
        if (!have_row || row.key() != kk) throw Error("internal: item row missing", id_key_text(kk));
        items_out.write_line(row.payload());
        ++st.item_db;
      } else {
        line.clear();
        line += "{\"item_id\":";
        append_json_string(line, id);
        line += ",\"kept_item_id\":";
        append_json_string(line, kept_id);
        line += '}';
        alias_out.write_line(line);
      }
      while (have_cand && cand.key() < kk) have_cand = cand.next();
      for (; have_cand && cand.key() == kk; have_cand = cand.next()) {
        Cursor t(cand.payload());
        const std::string_view user = t.bytes();
        const std::uint64_t ord = t.varint(), pos = t.varint(), n = t.varint(), ts = t.varint();
        const double rating = t.f64();
        key.clear();
        if (users_out) KeyWriter(key).u64(ord).u64(pos);  // input sorted by user id: its order is user order
        else KeyWriter(key).str(user).u64(ord).u64(pos);
        payload.clear();
        put_bytes(payload, user);
        put_varint(payload, kept_index);
        put_bytes(payload, kept_id);
        put_bytes(payload, id);
        put_varint(payload, ts);
        put_double(payload, rating);
        put_varint(payload, n);
        payload += domain;
        targets.add(key, payload);
      }
    }
  }

  // F. Tasks per user, in user order. Distinct target items per split: one bit per kept item.
  std::vector<std::uint64_t> train_items((kept_items + 63) / 64, 0), test_items((kept_items + 63) / 64, 0);
  std::uint64_t users_with_targets = 0;
  {
    std::string_view gk, gp;
    bool have = targets.next(gk, gp);
    std::string group, user_id, task, arena;
    std::vector<Target> list;
    std::uint64_t n_reviews = 0;
    auto text = [&](std::size_t at, std::size_t size) { return std::string_view(arena).substr(at, size); };
    while (have) {
      group.assign(gk.substr(0, gk.size() - 8));  // (user id and) input order; the review position follows
      user_id.assign(Cursor(gp).bytes());
      list.clear();
      arena.clear();
      for (; have && gk.size() >= 8 && gk.substr(0, gk.size() - 8) == std::string_view(group);
           have = targets.next(gk, gp)) {
        Cursor c(gp);
        c.bytes();  // the user id
        const std::uint64_t kept_index = c.varint();
        const std::string_view kept = c.bytes(), source = c.bytes();
        const auto ts = static_cast<std::int64_t>(c.varint());
        const double rating = c.f64();
        n_reviews = c.varint();
        const std::string_view domain = gp.substr(c.position());
        bool seen = false;  // a user has a few dozen targets: a linear scan beats a hash set
        for (const Target& t : list) seen = seen || t.kept_index == kept_index;
        if (seen) continue;
        Target t{arena.size(), kept.size(), 0, source.size(), 0, domain.size(), kept_index, ts, rating};
        arena += kept;
        t.source_at = arena.size();
        arena += source;
        t.domain_at = arena.size();
        arena += domain;
        list.push_back(t);
      }
      ++users_with_targets;
      std::size_t test_index = 0;
      if (o.test_rule == "random") {
        Rng rng(mix_seed(o.seed, fnv1a64(user_id)));
        test_index = static_cast<std::size_t>(rng.below(list.size()));
      }
      for (std::size_t i = 0; i < list.size(); ++i) {
        const Target& t = list[i];
        const bool test = i == test_index;
        const std::string_view kept = text(t.kept_at, t.kept_size);
        // The bytes to_json(Task).dump() writes: keys in sorted order.
        line.clear();
        line += "{\"domain\":";
        append_json_string(line, text(t.domain_at, t.domain_size));
        line += ",\"n_reviews\":";
        append_json_int(line, static_cast<std::int64_t>(n_reviews));
        line += ",\"n_targets\":";
        append_json_int(line, static_cast<std::int64_t>(list.size()));
        line += ",\"source_item_id\":";
        append_json_string(line, text(t.source_at, t.source_size));
        line += test ? ",\"split\":\"test\"" : ",\"split\":\"train\"";
        line += ",\"target_index\":";
        append_json_int(line, static_cast<std::int64_t>(i));
        line += ",\"target_item_id\":";
        append_json_string(line, kept);
        line += ",\"target_rating\":";
        append_json_double(line, t.rating);
        line += ",\"target_timestamp\":";
        append_json_int(line, t.timestamp);
        line += ",\"task_id\":";
        task.assign(user_id).append(":").append(kept);
        append_json_string(line, task);
        line += ",\"test_rule\":";
        append_json_string(line, o.test_rule);
        line += ",\"user_id\":";
        append_json_string(line, user_id);
        line += '}';
        (test ? test_out : train_out).write_line(line);
        (test ? test_items : train_items)[t.kept_index / 64] |= 1ull << (t.kept_index % 64);
      }
      st.test.users += 1;
      st.test.tasks += 1;
      if (list.size() > 1) {
        st.train.users += 1;
        st.train.tasks += list.size() - 1;
      }
    }
  }
  st.users_without_target = st.users_selected - users_with_targets;
  for (std::uint64_t w : train_items) st.train.items += static_cast<std::uint64_t>(__builtin_popcountll(w));
  for (std::uint64_t w : test_items) st.test.items += static_cast<std::uint64_t>(__builtin_popcountll(w));
  {
    std::string_view k, p;
    if (!users_out) {  // the input was not sorted by user id
      users_out.emplace(o.out / "users.jsonl");
      while (user_rows.next(k, p)) users_out->write_line(p);
    }
  }
  st.sort_runs = user_rows.runs_written() + refs.runs_written() + catalogue.runs_written() + by_title.runs_written() +
                 canonical.runs_written() + targets.runs_written();

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
  users_out->commit();
  alias_out.commit();
  write_json_file(o.out / "tasks.json", manifest);
  out_guard.done();
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
