// BM25 retrieval over SQLite FTS5: one file (bm25.sqlite) holding `items(rowid, item_id, title, text)`, a
// contentless FTS5 table `items_fts(title, categories, description)` (unicode61, remove_diacritics 2) whose
// persistent rank is bm25() with the column weights chosen at build time, and `meta(key, value)`.
// Score = -bm25() (higher is better). Queries go through fts-query.h only; raw text never reaches MATCH.
// Threading: search() is thread-safe — each concurrent call borrows its own read-only connection from a
// small pool (created on demand, kept for reuse), so searches run in parallel without a global lock.
#pragma once
#include <filesystem>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "data/types.h"
#include "retrieval/retriever.h"

namespace ecpo::retrieval {

struct Bm25Weights {
  double title = 1.0, categories = 1.0, description = 1.0;
};

// Writes a BM25 index to a temp file beside `sqlite_path`; finish() renames it into place. Destroying a
// builder without finish() removes the temp file. Not thread-safe.
class Bm25Builder {
 public:
  Bm25Builder(const std::filesystem::path& sqlite_path, Bm25Weights weights);
  ~Bm25Builder();
  Bm25Builder(const Bm25Builder&) = delete;
  Bm25Builder& operator=(const Bm25Builder&) = delete;

  // Adds one item; throws ecpo::Error (naming `where`) when its item_id was added before.
  void add(const data::Item& item, const std::string& where = {});
  // Commits, optimises the FTS index, stores `meta` (string values) and renames the file into place.
  void finish(const nlohmann::json& meta);
  std::size_t count() const { return count_; }

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  std::size_t count_ = 0;
};

class Bm25Retriever : public Retriever {
 public:
  // Opens an index written by Bm25Builder; throws ecpo::Error with a hint when missing or not an index.
  explicit Bm25Retriever(const std::filesystem::path& sqlite_path);
  ~Bm25Retriever() override;

  std::vector<Hit> search(const std::string& query, std::size_t k) const override;
  std::string kind() const override { return "bm25"; }
  std::size_t size() const override { return size_; }
  const nlohmann::json& meta() const { return meta_; }

 private:
  struct Conn;
  std::unique_ptr<Conn> borrow() const;
  void give_back(std::unique_ptr<Conn> c) const;

  std::filesystem::path path_;
  std::size_t size_ = 0;
  nlohmann::json meta_;
  mutable std::mutex mu_;
  mutable std::vector<std::unique_ptr<Conn>> idle_;
};

}  // namespace ecpo::retrieval
