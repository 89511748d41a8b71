// BM25 index build and search over SQLite FTS5 (see bm25-index.h).
#include "retrieval/bm25-index.h"

#include <cstdio>
#include <optional>

#include "retrieval/fts-query.h"
#include "util/error.h"
#include "util/fs.h"
#include "util/sqlite-db.h"
#include "util/text.h"

namespace fs = std::filesystem;

namespace ecpo::retrieval {
namespace {

std::string number(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  return buf;
}

const char* kIndexHint = "the index file may be damaged or from another program; rebuild it with 'ecpo index build'";

const char* kSearchSql =
    "SELECT i.item_id, i.title, f.rank FROM "
    "(SELECT rowid AS rid, rank FROM items_fts WHERE items_fts MATCH ?1 ORDER BY rank, rowid LIMIT ?2) AS f "
    "JOIN items AS i ON i.rowid = f.rid ORDER BY f.rank, f.rid";

}  // namespace

// ---------------------------------------------------------------------------------------------------------
// build

struct Bm25Builder::Impl {
  fs::path final_path, tmp_path;
  std::optional<SqliteDb> db;
  std::optional<SqliteStmt> insert_item, insert_fts;
};

Bm25Builder::Bm25Builder(const fs::path& sqlite_path, Bm25Weights w) : impl_(std::make_unique<Impl>()) {
  for (double x : {w.title, w.categories, w.description})
    if (!(x >= 0))
      throw Error("BM25 column weights must be >= 0", "bm25 weights", "use e.g. --bm25-weights 2,1,1");
  impl_->final_path = sqlite_path;
  impl_->tmp_path = temp_path_for(sqlite_path);
  if (sqlite_path.has_parent_path()) fs::create_directories(sqlite_path.parent_path());
  auto& db = impl_->db.emplace(impl_->tmp_path, SqliteDb::Mode::create, kIndexHint);
  db.exec("PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF;");
  db.exec("CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);"
          "CREATE TABLE items(rowid INTEGER PRIMARY KEY, item_id TEXT NOT NULL UNIQUE, title TEXT NOT NULL,"
          " text TEXT NOT NULL);"
          "CREATE VIRTUAL TABLE items_fts USING fts5(title, categories, description, content='',"
          " tokenize='unicode61 remove_diacritics 2');");
  db.exec("INSERT INTO items_fts(items_fts, rank) VALUES('rank', 'bm25(" + number(w.title) + ", " +
          number(w.categories) + ", " + number(w.description) + ")');");
  db.exec("BEGIN");
  impl_->insert_item.emplace(db.prepare("INSERT INTO items(rowid, item_id, title, text) VALUES(?1, ?2, ?3, ?4)"));
  impl_->insert_fts.emplace(
      db.prepare("INSERT INTO items_fts(rowid, title, categories, description) VALUES(?1, ?2, ?3, ?4)"));
}

Bm25Builder::~Bm25Builder() {
  if (!impl_) return;
  fs::path tmp = impl_->tmp_path;
  impl_.reset();  // closes the connection before removing its file
  std::error_code ec;
  fs::remove(tmp, ec);
}

void Bm25Builder::add(const data::Item& item, const std::string& where) {
  if (!impl_) throw Error("Bm25Builder::add after finish()", where);
  auto rowid = static_cast<std::int64_t>(count_ + 1);
  std::string title = utf8_sanitize(item.title);
  auto& ins = *impl_->insert_item;
  ins.reset();
  ins.bind(1, rowid).bind(2, item.item_id).bind(3, title).bind(4, utf8_sanitize(data::item_text(item)));
  try {
    ins.run();
  } catch (const Error&) {
    if (!impl_->db->last_error_is_constraint()) throw;
    throw Error("duplicate item_id '" + item.item_id + "'", where, "item ids must be unique in items.jsonl");
  }
  auto& fts = *impl_->insert_fts;
  fts.reset();
  fts.bind(1, rowid).bind(2, title).bind(3, utf8_sanitize(join(item.categories, ", ")))
      .bind(4, utf8_sanitize(item.description));
  fts.run();
  ++count_;
}

void Bm25Builder::finish(const nlohmann::json& meta) {
  if (!impl_) throw Error("Bm25Builder::finish called twice");
  auto& db = *impl_->db;
  impl_->insert_item.reset();
  impl_->insert_fts.reset();
  db.exec("COMMIT");
  db.exec("INSERT INTO items_fts(items_fts) VALUES('optimize')");
  {
    auto put = db.prepare("INSERT OR REPLACE INTO meta(key, value) VALUES(?1, ?2)");
    for (auto it = meta.begin(); it != meta.end(); ++it) {
      put.reset();
      put.bind(1, it.key()).bind(2, it->is_string() ? it->get<std::string>() : it->dump()).run();
    }
    put.reset();
    put.bind(1, std::string("kind")).bind(2, std::string("bm25")).run();
    put.reset();
    put.bind(1, std::string("items")).bind(2, std::to_string(count_)).run();
  }
  fs::path tmp = impl_->tmp_path, final_path = impl_->final_path;
  impl_->db.reset();
  impl_.reset();
  commit_temp_file(tmp, final_path);
}

// ---------------------------------------------------------------------------------------------------------
// search

struct Bm25Retriever::Conn {
  SqliteDb db;
  SqliteStmt search;
  explicit Conn(const fs::path& p) : db(p, SqliteDb::Mode::read_only, kIndexHint), search(db.prepare(kSearchSql)) {}
};

Bm25Retriever::Bm25Retriever(const fs::path& sqlite_path) : path_(sqlite_path) {
  require_exists(sqlite_path, "BM25 index file", "run 'ecpo index build --kind bm25' first");
  SqliteDb db(sqlite_path, SqliteDb::Mode::read_only, kIndexHint);
  meta_ = nlohmann::json::object();
  auto q = [&]() -> SqliteStmt {
    try {
      return db.prepare("SELECT key, value FROM meta");
    } catch (const Error& e) {
      throw Error("not a BM25 index (" + e.message() + ")", sqlite_path.string(),
                  "rebuild it with 'ecpo index build --kind bm25'");
    }
  }();
  while (q.step()) meta_[q.column_text(0)] = q.column_text(1);
  if (meta_.value("kind", "") != "bm25")
    throw Error("not a BM25 index (meta.kind is '" + meta_.value("kind", "") + "')", sqlite_path.string(),
                "rebuild it with 'ecpo index build --kind bm25'");
  try {
    size_ = std::stoull(meta_.value("items", "0"));
  } catch (const std::exception&) {
    throw Error("BM25 index has a bad item count in meta", sqlite_path.string(), "rebuild the index");
  }
  idle_.push_back(std::make_unique<Conn>(sqlite_path));  // prepares the search SQL once: fails early
}

Bm25Retriever::~Bm25Retriever() = default;

std::unique_ptr<Bm25Retriever::Conn> Bm25Retriever::borrow() const {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!idle_.empty()) {
      auto c = std::move(idle_.back());
      idle_.pop_back();
      return c;
    }
  }
  return std::make_unique<Conn>(path_);
}

void Bm25Retriever::give_back(std::unique_ptr<Conn> c) const {
  std::lock_guard<std::mutex> lock(mu_);
  idle_.push_back(std::move(c));
}

std::vector<Hit> Bm25Retriever::search(const std::string& query, std::size_t k) const {
  std::vector<Hit> hits;
  std::string match = fts_query_from_text(query);
  if (match.empty() || k == 0) return hits;
  auto conn = borrow();
  auto& st = conn->search;
  try {
    st.reset();
    st.bind(1, match).bind(2, static_cast<std::int64_t>(k));
    while (st.step()) {
      Hit h;
      h.item_id = st.column_text(0);
      h.title = st.column_text(1);
      h.score = -st.column_double(2);
      h.rank = hits.size();
      hits.push_back(std::move(h));
    }
    st.reset();
  } catch (...) {
    st.reset();
    give_back(std::move(conn));
    throw;
  }
  give_back(std::move(conn));
  return hits;
}

}  // namespace ecpo::retrieval
